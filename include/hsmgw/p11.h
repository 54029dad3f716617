/* hsmgw — the HSM through PKCS#11: module loading, a pool of logged-in sessions, object
 * handles cached by CKA_ID, and the mechanisms the gateway uses. Only p11/ includes
 * pkcs11.h; CK_RV values become hg_err in one function (p11_rv_err). Key material never
 * leaves the HSM: callers name keys by their version UUID (CKA_ID). */
#ifndef HSMGW_P11_H
#define HSMGW_P11_H

#include <stddef.h>
#include <stdint.h>

#include "hsmgw/config.h"
#include "hsmgw/error.h"
#include "hsmgw/util.h"

struct hg_p11;

struct hg_p11_info {
	char node[32]; /* this node's name in logs and audit rows */
	char library_manufacturer[33];
	char library_description[33];
	char library_version[16];
	char cryptoki_version[16];
	char token_label[33];
	char token_manufacturer[33];
	char token_model[17];
	char token_serial[17];
	char firmware_version[16];
	char hardware_version[16];
};

/* Loads the module, initialises it (OS locking), finds the token by label, logs in with the
 * PIN from the PIN file and opens the pool's sessions. On failure returns NULL and writes
 * the reason into err. */
struct hg_p11 *p11_open(const struct hg_config *cfg, char *err, size_t err_len);
/* Closes the sessions, logs out and finalises. NULL is fine. */
void p11_close(struct hg_p11 *p);
const struct hg_p11_info *p11_info(const struct hg_p11 *p);
/* HG_OK when the token answers (C_GetSessionInfo on a pooled session). */
hg_err p11_ping(struct hg_p11 *p);

/* Key usages as PKCS#11 attribute flags. */
enum {
	HG_P11_ENCRYPT = 1u << 0,
	HG_P11_DECRYPT = 1u << 1,
};

#define HG_GCM_IV_LEN  12
#define HG_GCM_TAG_LEN 16
#define HG_KCV_HEX_LEN 6

/* Generates an AES key of `bits` inside the HSM as a token object: CKA_SENSITIVE, not
 * extractable, CKA_ID = id, CKA_ENCRYPT/CKA_DECRYPT as `usage` says. Writes its KCV (the
 * first 3 bytes of AES-CMAC over one zero block, uppercase hex) into kcv. */
hg_err p11_aes_generate(struct hg_p11 *p, const hg_uuid *id, unsigned bits, unsigned usage,
			char kcv[HG_KCV_HEX_LEN + 1]) HG_WARN_UNUSED;
/* Destroys the object with CKA_ID id (cleanup after a failed create). */
hg_err p11_destroy(struct hg_p11 *p, const hg_uuid *id) HG_WARN_UNUSED;

/* AES-GCM with a 96-bit IV drawn from the HSM and a 128-bit tag. out must hold
 * HG_GCM_IV_LEN + n + HG_GCM_TAG_LEN bytes and receives IV ‖ ciphertext ‖ tag. */
hg_err p11_aes_gcm_encrypt(struct hg_p11 *p, const hg_uuid *id, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
			   size_t n, uint8_t *out) HG_WARN_UNUSED;
/* The reverse: in is IV ‖ ciphertext ‖ tag of length n (≥ IV + tag). pt must hold n bytes;
 * *pt_len receives the plaintext length. A tag that does not verify is HG_E_INVALID. */
hg_err p11_aes_gcm_decrypt(struct hg_p11 *p, const hg_uuid *id, const uint8_t *aad, size_t aad_len, const uint8_t *in,
			   size_t n, uint8_t *pt, size_t *pt_len) HG_WARN_UNUSED;

#endif
