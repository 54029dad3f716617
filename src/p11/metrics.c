/* The HSM's families for /metrics: operations (latency, results, errors by CK_RV), the
 * session pool's use and waits, and whether the token answers. */
#include <stdio.h>

#include "hsmgw/metrics.h"
#include "p11_internal.h"

void p11_stats_init(struct p11_stats *st)
{
	*st = (struct p11_stats){0};
	pthread_mutex_init(&st->mu, NULL);
}

void p11_stats_op(struct p11_stats *st, CK_RV rv, int64_t us)
{
	hist_observe(&st->ops, us);
	if (rv == CKR_OK) {
		atomic_fetch_add_explicit(&st->ok, 1, memory_order_relaxed);
		return;
	}
	/* Refused input (a ciphertext that does not decrypt, a wrong key for the mechanism) is the
	 * caller's: "rejected". Anything else is the HSM's or ours: "failed", counted by code. */
	hg_err e = p11_rv_err(rv);
	bool rejected = e == HG_E_INVALID || e == HG_E_KEY_USAGE || e == HG_E_KEY_STATE;
	atomic_fetch_add_explicit(rejected ? &st->rejected : &st->failed, 1, memory_order_relaxed);
	if (rejected)
		return;
	pthread_mutex_lock(&st->mu);
	size_t i = 0;
	while (i < P11_ERROR_CODES - 1 && st->err[i].n > 0 && st->err[i].rv != rv)
		i++;
	st->err[i].rv = i < P11_ERROR_CODES - 1 ? rv : (CK_RV)-1;
	st->err[i].n++;
	pthread_mutex_unlock(&st->mu);
}

void p11_pool_stats(struct hg_p11 *p, struct hg_p11_pool_stats *out)
{
	pthread_mutex_lock(&p->mu);
	out->total = p->n_sess;
	out->idle = p->n_idle;
	pthread_mutex_unlock(&p->mu);
}

void p11_metrics(struct hg_p11 *p, struct hg_prom *out)
{
	struct hg_p11_pool_stats ps;
	p11_pool_stats(p, &ps);
	size_t total = ps.total, idle = ps.idle;
	char labels[128];
	prom_family(out, "hsmgw_hsm_sessions", "gauge", "PKCS#11 sessions of the pool, by state.");
	prom_labels(labels, sizeof labels, "node", p->info.node, "state", "idle", (const char *)NULL);
	prom_sample(out, "hsmgw_hsm_sessions", labels, (double)idle);
	prom_labels(labels, sizeof labels, "node", p->info.node, "state", "lent", (const char *)NULL);
	prom_sample(out, "hsmgw_hsm_sessions", labels, (double)(total - idle));
	prom_family(out, "hsmgw_hsm_operations_total", "counter",
		    "HSM operations by result: ok, rejected (the HSM refused the caller's input), failed.");
	static const char *const results[] = {"ok", "rejected", "failed"};
	const atomic_ulong *counts[] = {&p->stats.ok, &p->stats.rejected, &p->stats.failed};
	for (size_t i = 0; i < 3; i++) {
		prom_labels(labels, sizeof labels, "node", p->info.node, "result", results[i], (const char *)NULL);
		prom_sample(out, "hsmgw_hsm_operations_total", labels,
			    (double)atomic_load_explicit(counts[i], memory_order_relaxed));
	}
	prom_labels(labels, sizeof labels, "node", p->info.node, (const char *)NULL);
	prom_family(out, "hsmgw_hsm_operation_duration_seconds", "histogram",
		    "Time an operation held its session (its PKCS#11 calls).");
	prom_hist(out, "hsmgw_hsm_operation_duration_seconds", labels, &p->stats.ops);
	prom_family(out, "hsmgw_hsm_errors_total", "counter", "Failed HSM operations by PKCS#11 return code.");
	pthread_mutex_lock(&p->stats.mu);
	for (size_t i = 0; i < P11_ERROR_CODES && p->stats.err[i].n > 0; i++) {
		char code[24];
		if (p->stats.err[i].rv == (CK_RV)-1)
			snprintf(code, sizeof code, "other");
		else if (p->stats.err[i].rv == CKR_HG_TIMEOUT)
			snprintf(code, sizeof code, "timeout");
		else
			snprintf(code, sizeof code, "0x%08lx", (unsigned long)p->stats.err[i].rv);
		prom_labels(labels, sizeof labels, "node", p->info.node, "code", code, (const char *)NULL);
		prom_sample(out, "hsmgw_hsm_errors_total", labels, (double)p->stats.err[i].n);
	}
	pthread_mutex_unlock(&p->stats.mu);
	prom_labels(labels, sizeof labels, "node", p->info.node, (const char *)NULL);
	prom_family(out, "hsmgw_hsm_session_waits_total", "counter",
		    "Borrowers that found no idle session and waited.");
	prom_sample(out, "hsmgw_hsm_session_waits_total", labels,
		    (double)atomic_load_explicit(&p->stats.waited, memory_order_relaxed));
	prom_family(out, "hsmgw_hsm_session_wait_seconds", "histogram", "How long those borrowers waited.");
	prom_hist(out, "hsmgw_hsm_session_wait_seconds", labels, &p->stats.waits);
	struct hg_p11_health h;
	p11_health(p, &h);
	prom_family(out, "hsmgw_hsm_up", "gauge", "Whether the node is up (health check and circuit breaker).");
	prom_sample(out, "hsmgw_hsm_up", labels, h.up ? 1 : 0);
	static const struct {
		const char *name, *help;
	} counters[] = {
	    {"hsmgw_hsm_operations_timed_out_total",
	     "Operations given up at their deadline (hsm.operation_timeout_ms)."},
	    {"hsmgw_hsm_operations_refused_total", "Operations refused at once because the node was down."},
	    {"hsmgw_hsm_relogins_total", "Logins redone after the token lost them."},
	    {"hsmgw_hsm_sessions_replaced_total", "Sessions closed and opened again after a failure."},
	    {"hsmgw_hsm_downs_total", "Times the node was marked down."},
	};
	const uint64_t values[] = {h.ops_timed_out, h.ops_refused, h.relogins, h.sessions_replaced, h.downs};
	for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
		prom_family(out, counters[i].name, "counter", counters[i].help);
		prom_sample(out, counters[i].name, labels, (double)values[i]);
	}
}
