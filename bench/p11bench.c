/* The raw ceiling: the gateway's own PKCS#11 layer called in-process on the configured token,
 * with no HTTP, JSON, database or audit. Measures operations per second, with 1 and 2
 * threads, for what bench/run.sh drives through the gateway: AES-GCM encrypt and decrypt of
 * 64 bytes, HMAC-SHA256 of 64 bytes, ECDSA P-256 sign, RSA-2048 PSS sign, and the FF1
 * tokenization of one 16-digit PAN (6 + 4 digits kept, Luhn; the same spec as the API's,
 * through the same token_one, on one pinned session as the API does per call).
 * Usage: p11bench [--json] CONFIG [SECONDS]  (keys it creates are destroyed again)
 * --json prints one JSON object: {"seconds":S,"ops":{"<op>":{"threads_1":N,"threads_2":N},…}}. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsmgw/p11.h"
#include "hsmgw/tokens.h"

enum op { OP_ENCRYPT, OP_DECRYPT, OP_HMAC, OP_ECDSA, OP_RSA, OP_TOKENIZE, OP_COUNT };

static const struct {
	const char *id;   /* key in the JSON output */
	const char *name; /* row of the text output */
	struct hg_p11_keyspec spec;
} ops[OP_COUNT] = {
    [OP_ENCRYPT] = {"encrypt", "AES-GCM encrypt 64 B", {.type = HG_KT_AES, .bits = 256, .usage = HG_P11_ENCRYPT}},
    [OP_DECRYPT] = {"decrypt",
		    "AES-GCM decrypt 64 B",
		    {.type = HG_KT_AES, .bits = 256, .usage = HG_P11_ENCRYPT | HG_P11_DECRYPT}},
    [OP_HMAC] = {"mac", "HMAC-SHA256 64 B", {.type = HG_KT_HMAC, .bits = 256, .usage = HG_P11_SIGN}},
    [OP_ECDSA] = {"sign_ecdsa", "ECDSA P-256 sign", {.type = HG_KT_EC, .curve_bits = 256, .usage = HG_P11_SIGN}},
    [OP_RSA] = {"sign_rsa", "RSA-2048 PSS sign", {.type = HG_KT_RSA, .bits = 2048, .usage = HG_P11_SIGN}},
    [OP_TOKENIZE] = {"tokenize", "FF1 tokenize 1 PAN", {.type = HG_KT_AES, .bits = 256, .usage = HG_P11_ENCRYPT}},
};

#define MSG_LEN 64
#define CT_LEN  (HG_GCM_IV_LEN + MSG_LEN + HG_GCM_TAG_LEN)

struct job {
	struct hg_p11 *p;
	const hg_uuid *id;
	enum op op;
	const uint8_t *ct; /* OP_DECRYPT: a ciphertext of MSG_LEN bytes under id */
	int64_t until;
	long count;
};

static hg_err tokenize_one(struct hg_p11 *p, const hg_uuid *id)
{
	struct hg_ff1_hsm bind;
	struct hg_token_keys k = {.aes = ff1_hsm_bind(&bind, p, id), .p = p, .hmac_id = id};
	struct hg_token_spec s = {.mode = HG_TOKEN_FPE,
				  .pan = true,
				  .leading = 6,
				  .trailing = 4,
				  .luhn = true,
				  .tenant = "acme",
				  .key_id = *id};
	char out[HG_FF1_MAX_LEN + 1];
	const char *why = NULL;
	hg_err e = p11_pin(p);
	if (e != HG_OK)
		return e;
	e = token_one(&k, &s, false, "4111111111111111", out, &why);
	p11_unpin(p);
	return e;
}

static hg_err one(const struct job *j)
{
	uint8_t msg[MSG_LEN] = {0}, out[CT_LEN], sig[HG_SIG_MAX];
	size_t n;
	switch (j->op) {
	case OP_ENCRYPT: return p11_aes_gcm_encrypt(j->p, j->id, NULL, 0, msg, sizeof msg, out);
	case OP_DECRYPT: return p11_aes_gcm_decrypt(j->p, j->id, NULL, 0, j->ct, CT_LEN, out, &n);
	case OP_HMAC: return p11_sign(j->p, j->id, HG_MAC_HMAC_SHA256, msg, sizeof msg, false, sig, &n);
	case OP_ECDSA: return p11_sign(j->p, j->id, HG_SIG_ECDSA_SHA256, msg, sizeof msg, false, sig, &n);
	case OP_RSA: return p11_sign(j->p, j->id, HG_SIG_RSA_PSS_SHA256, msg, sizeof msg, false, sig, &n);
	case OP_TOKENIZE: return tokenize_one(j->p, j->id);
	case OP_COUNT: break;
	}
	return HG_E_INTERNAL;
}

static void *worker(void *arg)
{
	struct job *j = arg;
	while (time_mono_us() < j->until) {
		hg_err e = one(j);
		if (e != HG_OK) {
			fprintf(stderr, "p11bench: %s failed: %s\n", ops[j->op].name, hg_err_code(e));
			j->count = -1;
			break;
		}
		j->count++;
	}
	return NULL;
}

/* Operations per second with `threads` threads (1 or 2); negative when one failed. */
static double run(struct job proto, int threads, double seconds)
{
	struct job jobs[2];
	pthread_t t[2];
	proto.until = time_mono_us() + (int64_t)(seconds * 1e6);
	proto.count = 0;
	for (int i = 0; i < threads; i++) {
		jobs[i] = proto;
		if (pthread_create(&t[i], NULL, worker, &jobs[i]) != 0)
			return -1;
	}
	long total = 0;
	bool failed = false;
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		failed |= jobs[i].count < 0;
		total += jobs[i].count;
	}
	return failed ? -1 : (double)total / seconds;
}

int main(int argc, char **argv)
{
	bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
	if (json) {
		argc--;
		argv++;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: p11bench [--json] CONFIG [SECONDS]\n");
		return 2;
	}
	double seconds = argc > 2 ? atof(argv[2]) : 5;
	if (seconds <= 0)
		seconds = 5;
	char err[512];
	struct hg_config *cfg = config_load(argv[1], err, sizeof err);
	/* The module's own speed: calls on the caller's thread, without the gateway's hand-off to a
	 * session thread (hsm.operation_timeout_ms), which is part of what hsmgw costs. */
	if (cfg)
		cfg->hsm_op_timeout_ms = 0;
	struct hg_p11 *p = cfg ? p11_open(cfg, err, sizeof err) : NULL;
	if (!p) {
		fprintf(stderr, "p11bench: %s\n", err);
		return 1;
	}
	if (json)
		printf("{\"seconds\":%g,\"ops\":{", seconds);
	else
		printf("%-24s %12s %12s\n", "operation (in-process)", "1 thread/s", "2 threads/s");
	fflush(stdout);
	int rc = 0;
	for (int op = 0; op < OP_COUNT && rc == 0; op++) {
		hg_uuid id;
		char kcv[HG_KCV_HEX_LEN + 1];
		if (uuid_v4(&id) != 0 || p11_generate(p, &id, &ops[op].spec, kcv) != HG_OK) {
			fprintf(stderr, "p11bench: cannot generate the key for %s\n", ops[op].name);
			rc = 1;
			break;
		}
		uint8_t msg[MSG_LEN] = {0}, ct[CT_LEN];
		if (op == OP_DECRYPT && p11_aes_gcm_encrypt(p, &id, NULL, 0, msg, sizeof msg, ct) != HG_OK) {
			fprintf(stderr, "p11bench: cannot make a ciphertext to decrypt\n");
			rc = 1;
		}
		struct job proto = {.p = p, .id = &id, .op = op, .ct = ct};
		double r1 = rc ? -1 : run(proto, 1, seconds), r2 = r1 < 0 ? -1 : run(proto, 2, seconds);
		if (r1 < 0 || r2 < 0)
			rc = 1;
		else if (json)
			printf("%s\"%s\":{\"threads_1\":%.0f,\"threads_2\":%.0f}", op ? "," : "", ops[op].id, r1, r2);
		else
			printf("%-24s %12.0f %12.0f\n", ops[op].name, r1, r2);
		fflush(stdout);
		if (p11_destroy_all(p, &id) != HG_OK)
			fprintf(stderr, "p11bench: could not destroy a benchmark key\n");
	}
	if (json)
		printf("}}\n");
	p11_close(p);
	config_free(cfg);
	return rc;
}
