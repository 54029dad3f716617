/* The raw ceiling: the gateway's own PKCS#11 layer called in-process on the configured token,
 * with no HTTP, JSON, database or audit. Prints operations per second for AES-GCM encrypt of
 * 64 bytes, ECDSA P-256 sign and RSA-2048 sign, with 1 and 2 threads.
 * Usage: p11bench CONFIG [SECONDS]  (keys it creates are destroyed again) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "hsmgw/p11.h"

struct job {
	struct hg_p11 *p;
	const hg_uuid *id;
	int op; /* 0 AES-GCM, 1 ECDSA P-256, 2 RSA-2048 */
	int64_t until;
	long count;
};

static void *worker(void *arg)
{
	struct job *j = arg;
	uint8_t msg[64] = {0}, out[64 + HG_GCM_IV_LEN + HG_GCM_TAG_LEN], sig[HG_SIG_MAX];
	size_t sl;
	while (time_mono_us() < j->until) {
		hg_err e = j->op == 0 ? p11_aes_gcm_encrypt(j->p, j->id, NULL, 0, msg, sizeof msg, out)
			   : j->op == 1
			       ? p11_sign(j->p, j->id, HG_SIG_ECDSA_SHA256, msg, sizeof msg, false, sig, &sl)
			       : p11_sign(j->p, j->id, HG_SIG_RSA_PSS_SHA256, msg, sizeof msg, false, sig, &sl);
		if (e != HG_OK) {
			fprintf(stderr, "p11bench: operation failed: %s\n", hg_err_code(e));
			break;
		}
		j->count++;
	}
	return NULL;
}

static double run(struct hg_p11 *p, const hg_uuid *id, int op, int threads, double seconds)
{
	struct job jobs[2];
	pthread_t t[2];
	int64_t until = time_mono_us() + (int64_t)(seconds * 1e6);
	for (int i = 0; i < threads; i++) {
		jobs[i] = (struct job){p, id, op, until, 0};
		pthread_create(&t[i], NULL, worker, &jobs[i]);
	}
	long total = 0;
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		total += jobs[i].count;
	}
	return (double)total / seconds;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: p11bench CONFIG [SECONDS]\n");
		return 2;
	}
	double seconds = argc > 2 ? atof(argv[2]) : 5;
	char err[512];
	struct hg_config *cfg = config_load(argv[1], err, sizeof err);
	struct hg_p11 *p = cfg ? p11_open(cfg, err, sizeof err) : NULL;
	if (!p) {
		fprintf(stderr, "p11bench: %s\n", err);
		return 1;
	}
	static const char *names[] = {"AES-GCM encrypt 64 B", "ECDSA P-256 sign", "RSA-2048 PSS sign"};
	struct hg_p11_keyspec specs[] = {{.type = HG_KT_AES, .bits = 256, .usage = HG_P11_ENCRYPT | HG_P11_DECRYPT},
					 {.type = HG_KT_EC, .curve_bits = 256, .usage = HG_P11_SIGN | HG_P11_VERIFY},
					 {.type = HG_KT_RSA, .bits = 2048, .usage = HG_P11_SIGN | HG_P11_VERIFY}};
	printf("%-24s %12s %12s\n", "operation (in-process)", "1 thread/s", "2 threads/s");
	int rc = 0;
	for (int op = 0; op < 3; op++) {
		hg_uuid id;
		char kcv[HG_KCV_HEX_LEN + 1];
		if (uuid_v4(&id) != 0 || p11_generate(p, &id, &specs[op], kcv) != HG_OK) {
			fprintf(stderr, "p11bench: cannot generate the %s key\n", names[op]);
			rc = 1;
			break;
		}
		double one = run(p, &id, op, 1, seconds), two = run(p, &id, op, 2, seconds);
		printf("%-24s %12.0f %12.0f\n", names[op], one, two);
		if (p11_destroy_all(p, &id) != HG_OK)
			fprintf(stderr, "p11bench: could not destroy a benchmark key\n");
	}
	p11_close(p);
	config_free(cfg);
	return rc;
}
