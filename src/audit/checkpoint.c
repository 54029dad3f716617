/* The audit signing key in the HSM, and the message a checkpoint signs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "audit_internal.h"
#include "hsmgw/p11.h"

struct hg_audit_signer {
	struct hg_p11 *p;
	hg_uuid id;
	char fingerprint[65];
	char *pem;
};

/* The key's fixed CKA_ID: SHA-256 of a constant, with version nibble 0 and variant bits 110,
 * which neither a key version's UUID (version 4, variant 10) nor a half of one (version 4)
 * has. */
static void signer_id(hg_uuid *id)
{
	static const char name[] = "hsmgw audit signing key, version 1";
	uint8_t d[SHA256_DIGEST_LENGTH];
	SHA256((const uint8_t *)name, sizeof name - 1, d);
	memcpy(id->b, d, sizeof id->b);
	id->b[6] &= 0x0f;
	id->b[8] = (uint8_t)((id->b[8] & 0x1f) | 0xc0);
}

/* PEM and fingerprint of a DER SubjectPublicKeyInfo. */
static bool describe(struct hg_audit_signer *s, const uint8_t *der, size_t n)
{
	uint8_t d[SHA256_DIGEST_LENGTH];
	SHA256(der, n, d);
	hex_encode_lower(d, sizeof d, s->fingerprint);
	const uint8_t *q = der;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &q, (long)n);
	BIO *b = BIO_new(BIO_s_mem());
	bool ok = k && b && PEM_write_bio_PUBKEY(b, k) == 1;
	if (ok) {
		char *data;
		long len = BIO_get_mem_data(b, &data);
		ok = (s->pem = strndup(data, (size_t)len)) != NULL;
	}
	BIO_free(b);
	EVP_PKEY_free(k);
	return ok;
}

struct hg_audit_signer *audit_signer_open(struct hg_p11 *p, char *err, size_t len)
{
	struct hg_audit_signer *s = calloc(1, sizeof *s);
	s->p = p;
	signer_id(&s->id);
	struct hg_p11_attrs a;
	hg_err e = p11_key_attrs(p, &s->id, true, &a);
	const struct hg_p11_keyspec spec = {
	    .type = HG_KT_EC, .curve_bits = 256, .usage = HG_P11_SIGN | HG_P11_VERIFY, .exportable = false};
	char kcv[HG_KCV_HEX_LEN + 1];
	bool made = false;
	if (e == HG_OK && !a.found) {
		e = p11_generate(p, &s->id, &spec, kcv);
		made = e == HG_OK;
	}
	uint8_t *der = NULL;
	size_t n = 0;
	if (e == HG_OK)
		e = p11_public_key_der(p, &s->id, HG_KT_EC, &der, &n);
	if (e != HG_OK || !describe(s, der, n)) {
		snprintf(err, len, "the audit signing key cannot be %s in the HSM (%s)",
			 made ? "read" : "found or made", hg_err_code(e));
		free(der);
		audit_signer_close(s);
		return NULL;
	}
	free(der);
	log_info("audit: %s signing key (ECDSA P-256), fingerprint %s", made ? "created the" : "using the",
		 s->fingerprint);
	return s;
}

void audit_signer_close(struct hg_audit_signer *s)
{
	if (!s)
		return;
	free(s->pem);
	free(s);
}

const char *audit_signer_fingerprint(const struct hg_audit_signer *s)
{
	return s->fingerprint;
}

const char *audit_signer_public_pem(const struct hg_audit_signer *s)
{
	return s->pem;
}

/* Signs msg: the raw r ‖ s into sig (64 bytes). */
hg_err audit_signer_sign(struct hg_audit_signer *s, const char *msg, size_t n, uint8_t sig[64])
{
	uint8_t out[HG_SIG_MAX];
	size_t len = 0;
	hg_err e = p11_sign(s->p, &s->id, HG_SIG_ECDSA_SHA256, (const uint8_t *)msg, n, false, out, &len);
	if (e == HG_OK && len != 64)
		e = HG_E_INTERNAL;
	if (e == HG_OK)
		memcpy(sig, out, 64);
	return e;
}

size_t audit_checkpoint_message(char *out, size_t cap, const char *chain_id, int64_t seq, const char *head_hash,
				int64_t ts_us)
{
	char seq_s[24], ts_s[24];
	snprintf(seq_s, sizeof seq_s, "%lld", (long long)seq);
	snprintf(ts_s, sizeof ts_s, "%lld", (long long)ts_us);
	const char *f[] = {"hsmgw-checkpoint-v1", chain_id, seq_s, head_hash, ts_s};
	size_t at = 0;
	for (size_t i = 0; i < sizeof f / sizeof *f; i++)
		at = netstring_put(out, cap, at, f[i]);
	return at;
}
