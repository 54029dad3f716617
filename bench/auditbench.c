/* The audit writer alone: rows per second committed to PostgreSQL by one writer (group
 * commit, one COPY per batch, the hash chain, signed checkpoints), fed by N threads that each
 * wait for their row's commit as a request does. No HTTP, no HSM operation per row.
 * Usage: auditbench CONFIG [SECONDS] [THREADS]  (writes to its own chain "bench-<pid>") */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hsmgw/audit.h"
#include "hsmgw/p11.h"

struct job {
	struct hg_audit *a;
	int64_t until;
	long count, failed;
};

static void *worker(void *arg)
{
	struct job *j = arg;
	struct hg_audit_entry e = {.operation = "bench.row", .outcome = HG_OUTCOME_SUCCESS, .http_status = 200};
	snprintf(e.tenant, sizeof e.tenant, "bench");
	snprintf(e.caller, sizeof e.caller, "auditbench");
	while (time_mono_us() < j->until) {
		e.ts_us = time_now_us();
		snprintf(e.request_id, sizeof e.request_id, "bench-%ld", j->count);
		if (audit_record(j->a, &e) == HG_OK)
			j->count++;
		else
			j->failed++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: auditbench CONFIG [SECONDS] [THREADS]\n");
		return 2;
	}
	double seconds = argc > 2 ? atof(argv[2]) : 5;
	int threads = argc > 3 ? atoi(argv[3]) : 64;
	if (threads < 1 || threads > 1024)
		threads = 64;
	char err[512];
	log_set_level(HG_LOG_WARN);
	struct hg_config *cfg = config_load(argv[1], err, sizeof err);
	struct hg_p11 *p = cfg ? p11_open(cfg, err, sizeof err) : NULL;
	struct hg_audit_signer *s = p ? audit_signer_open(p, err, sizeof err) : NULL;
	if (!s) {
		fprintf(stderr, "auditbench: %s\n", err);
		return 1;
	}
	char chain[64];
	snprintf(chain, sizeof chain, "bench-%d", (int)getpid());
	struct hg_audit *a = audit_start(cfg, chain, s);
	struct job *jobs = calloc((size_t)threads, sizeof *jobs);
	pthread_t *t = calloc((size_t)threads, sizeof *t);
	int64_t t0 = time_mono_us();
	for (int i = 0; i < threads; i++) {
		jobs[i] = (struct job){.a = a, .until = t0 + (int64_t)(seconds * 1e6)};
		pthread_create(&t[i], NULL, worker, &jobs[i]);
	}
	long rows = 0, failed = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		rows += jobs[i].count;
		failed += jobs[i].failed;
	}
	double el = (double)(time_mono_us() - t0) / 1e6;
	audit_stop(a);
	printf("audit writer: %d threads, %.1f s: %ld rows committed, %.0f rows/s (%ld failed)\n", threads, el, rows,
	       (double)rows / el, failed);
	free(jobs);
	free(t);
	audit_signer_close(s);
	p11_close(p);
	config_free(cfg);
	return failed ? 1 : 0;
}
