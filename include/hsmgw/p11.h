/* hsmgw — the HSM through PKCS#11: module loading, a pool of logged-in sessions, object
 * handles cached by CKA_ID, and the mechanisms the gateway uses. Only p11/ includes
 * pkcs11.h; CK_RV values become hg_err in one function (p11_rv_err). Key material never
 * leaves the HSM: callers name keys by their version UUID (CKA_ID). */
#ifndef HSMGW_P11_H
#define HSMGW_P11_H

#include <stdbool.h>
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
/* HG_OK while the node is up (p11_health), HG_E_HSM_UNAVAILABLE while it is down. Makes no
 * PKCS#11 call: the periodic health check keeps the answer fresh. */
hg_err p11_ping(struct hg_p11 *p);

/* How the node is, as the health check and the circuit breaker see it (README, "Failure
 * behaviour"). While it is down every operation fails at once with HG_E_HSM_UNAVAILABLE. */
struct hg_p11_health {
	char node[32];         /* its name in logs and audit rows ("hsm-0") */
	bool up;               /* false: down, and why in reason */
	char reason[160];      /* why it went down last ("" if it never did; kept after it came back):
				  "sign exceeded its deadline of 2000 ms", "encrypt: CKR_TOKEN_NOT_PRESENT",
				  "3 failures in 0.2 s (0 successes), the last encrypt: CKR_DEVICE_ERROR",
				  "health check: CKR_DEVICE_ERROR" */
	int64_t since_us;      /* time_now_us() when up last changed (the start if never) */
	int64_t last_check_us; /* time_now_us() of the last health check (0: none yet) */
	bool last_check_ok;
	unsigned sessions;           /* in the pool */
	unsigned sessions_idle;      /* free */
	unsigned sessions_busy;      /* lent to a request */
	unsigned sessions_abandoned; /* inside a call that outlived its deadline */
	/* Counters since the start (for /metrics): */
	uint64_t ops_ok;            /* operations the token answered (a refusal is an answer) */
	uint64_t ops_failed;        /* … that failed with a device-class error (HG_E_HSM_UNAVAILABLE) */
	uint64_t ops_timed_out;     /* … given up at their deadline */
	uint64_t ops_refused;       /* … refused at once because the node was down */
	uint64_t relogins;          /* logins redone after the token lost them */
	uint64_t sessions_replaced; /* sessions closed and opened again after a failure */
	uint64_t downs;             /* times the node went down */
};
/* Fills out (a consistent copy; cheap: no PKCS#11 call). */
void p11_health(struct hg_p11 *p, struct hg_p11_health *out);
/* The session pool now: sessions in all, and idle ones (the others are lent). */
struct hg_p11_pool_stats {
	size_t total, idle;
};
void p11_pool_stats(struct hg_p11 *p, struct hg_p11_pool_stats *out);
/* The hsmgw_hsm_* families of /metrics. */
struct hg_prom;
void p11_metrics(struct hg_p11 *p, struct hg_prom *out);

/* Pins one pooled session to the calling thread until p11_unpin: every operation the
 * thread makes meanwhile uses it (a batch of operations takes one session, not one each).
 * A session that fails while pinned is replaced in place. */
hg_err p11_pin(struct hg_p11 *p) HG_WARN_UNUSED;
void p11_unpin(struct hg_p11 *p);

/* Key types. Secret keys: AES, TDES, HMAC. Key pairs: RSA, EC, Ed25519. */
enum hg_p11_type { HG_KT_AES, HG_KT_TDES, HG_KT_HMAC, HG_KT_RSA, HG_KT_EC, HG_KT_ED25519 };

/* Key usages as PKCS#11 attribute flags. A key's CKA_ENCRYPT … CKA_DERIVE are TRUE exactly
 * for the usages given and FALSE otherwise, so the HSM itself refuses any other use. For a
 * key pair, encrypt/verify/wrap go to the public key and decrypt/sign/unwrap/derive to the
 * private key. */
enum {
	HG_P11_ENCRYPT = 1u << 0,
	HG_P11_DECRYPT = 1u << 1,
	HG_P11_SIGN = 1u << 2,
	HG_P11_VERIFY = 1u << 3,
	HG_P11_WRAP = 1u << 4,
	HG_P11_UNWRAP = 1u << 5,
	HG_P11_DERIVE = 1u << 6,
};

/* What to create. Sizes outside these lists are HG_E_INVALID. */
struct hg_p11_keyspec {
	enum hg_p11_type type;
	unsigned bits;       /* AES 128/192/256; TDES 128 (2-key, CKK_DES2) or 192 (3-key, CKK_DES3);
				HMAC 256..512, a multiple of 8 (CKK_GENERIC_SECRET); RSA 2048/3072/4096 */
	unsigned curve_bits; /* EC: 256, 384 or 521 (P-256/P-384/P-521); ignored otherwise */
	unsigned usage;      /* HG_P11_* flags */
	bool exportable;     /* CKA_EXTRACTABLE of the secret or private key (it may be wrapped) */
	bool halves;         /* TDES 128 only: held as its two single-DES halves (see p11_half_id) */
};

#define HG_GCM_IV_LEN  12
#define HG_GCM_TAG_LEN 16
#define HG_KCV_HEX_LEN 6

/* Generates a key inside the HSM as token objects with CKA_ID = id (16 bytes) and CKA_LABEL
 * = the UUID's text; every object is CKA_PRIVATE. Secret keys (AES, TDES, HMAC) and private
 * keys are CKA_SENSITIVE, and CKA_EXTRACTABLE only if spec->exportable. RSA pairs have the
 * public exponent 65537; EC pairs name their curve by OID; Ed25519 pairs use the OID
 * 1.3.101.112. Writes the KCV into kcv (uppercase hex): AES = the first 3 bytes of AES-CMAC
 * over one zero block; TDES = the first 3 bytes of TDES-ECB over 8 zero bytes; HMAC and key
 * pairs get "" (empty). Nothing is left behind on failure. HG_E_INVALID for a bad spec. */
hg_err p11_generate(struct hg_p11 *p, const hg_uuid *id, const struct hg_p11_keyspec *spec,
		    char kcv[HG_KCV_HEX_LEN + 1]) HG_WARN_UNUSED;

/* Generates an AES key: p11_generate with {HG_KT_AES, bits, usage, not exportable}. Kept for
 * the callers that predate p11_generate. */
hg_err p11_aes_generate(struct hg_p11 *p, const hg_uuid *id, unsigned bits, unsigned usage,
			char kcv[HG_KCV_HEX_LEN + 1]) HG_WARN_UNUSED;
/* Destroys the secret key object with CKA_ID id (cleanup after a failed create);
 * HG_E_KEY_STATE when there is none. p11_destroy_all is the general form. */
hg_err p11_destroy(struct hg_p11 *p, const hg_uuid *id) HG_WARN_UNUSED;
/* Destroys every object with CKA_ID id (the secret key, or the private and public key) and
 * forgets their handles. HG_OK also when none was there, so it can be repeated. */
hg_err p11_destroy_all(struct hg_p11 *p, const hg_uuid *id) HG_WARN_UNUSED;

/* The CKA_IDs of the gateway's key objects on the token, read from the token itself (never
 * from the handle cache): every secret, private or public key token object whose CKA_ID is 16
 * bytes and whose CKA_LABEL is that ID's UUID text, as p11_generate and p11_unwrap make them.
 * An ID several objects share (a key pair's) is listed once; the list is sorted by bytes. For
 * the start-up reconciliation (keys/reconcile.c): one search over every object on the token.
 * On HG_OK *ids is malloc'd (*n entries): the caller frees it. */
hg_err p11_enumerate(struct hg_p11 *p, hg_uuid **ids, size_t *n) HG_WARN_UNUSED;

/* The public key of a pair as DER SubjectPublicKeyInfo. type is the pair's type (RSA, EC or
 * Ed25519); a key of another type is HG_E_KEY_USAGE, a secret type HG_E_INVALID, a missing
 * key HG_E_KEY_STATE. On HG_OK *der is malloc'd: the caller frees it with free(). */
hg_err p11_public_key_der(struct hg_p11 *p, const hg_uuid *id, enum hg_p11_type type, uint8_t **der,
			  size_t *n) HG_WARN_UNUSED;

/* A key object's attributes as the HSM reports them. Booleans the object does not have (the
 * usages of the other half of a pair, CKA_SENSITIVE of a public key) read as false. */
struct hg_p11_attrs {
	bool found, sensitive, extractable, encrypt, decrypt, sign, verify, wrap, unwrap, derive, token, private_;
	unsigned long key_type;  /* CKA_KEY_TYPE (a CKK_* value) */
	unsigned long value_len; /* CKA_VALUE_LEN in bytes; 0 for objects without one (DES, RSA, EC) and
				    where the token does not keep it (SoftHSM 2.6.1: unwrapped keys) */
};
/* Reads the attributes of the object with CKA_ID id straight from the token (no cache):
 * private_or_secret true → the secret or private key object; false → the public key object.
 * A missing object is HG_OK with out->found false. */
hg_err p11_key_attrs(struct hg_p11 *p, const hg_uuid *id, bool private_or_secret,
		     struct hg_p11_attrs *out) HG_WARN_UNUSED;

/* Key wrapping algorithms.
 * AES-KWP: CKM_AES_KEY_WRAP_PAD (RFC 5649) under an AES key with the wrap/unwrap usage; wraps
 *   secret keys (their value) and private keys (their PKCS#8 PrivateKeyInfo).
 * RSA-OAEP-SHA256 / RSA-OAEP-SHA1: CKM_RSA_PKCS_OAEP with SHA-256 and MGF1-SHA-256 (or SHA-1
 *   and MGF1-SHA-1), no label; the RSA public key wraps, the private key unwraps; secret keys
 *   only. SoftHSM 2.6.1 implements OAEP with SHA-1 only: there SHA-256 is refused
 *   (p11_wrap_alg_supported says false). Whether the API offers SHA-1 is api/'s choice. */
enum hg_wrap_alg { HG_WRAP_AES_KWP, HG_WRAP_RSA_OAEP_SHA256, HG_WRAP_RSA_OAEP_SHA1 };

/* Whether the token implements alg (probed once at p11_open). */
bool p11_wrap_alg_supported(const struct hg_p11 *p, enum hg_wrap_alg alg);

/* Wraps the key target_id (of target_type) under the key wrapping_id. Only keys created
 * exportable can be wrapped: others are HG_E_KEY_USAGE, as is a wrapping key without the wrap
 * usage or of the wrong type; a private key under RSA-OAEP or an algorithm the token lacks is
 * HG_E_INVALID. On HG_OK *out is malloc'd (n bytes): the caller frees it with free(). */
hg_err p11_wrap(struct hg_p11 *p, const hg_uuid *wrapping_id, enum hg_wrap_alg alg, const hg_uuid *target_id,
		enum hg_p11_type target_type, uint8_t **out, size_t *n) HG_WARN_UNUSED;

/* Unwraps wrapped (n bytes) under the key unwrapping_id into a new token key with CKA_ID
 * new_id, under the same attribute rules as p11_generate (sensitive, extractable only if
 * spec->exportable, usage exactly spec->usage), and writes its KCV as p11_generate does.
 * The unwrapped key must be of spec's type and size. (A token that does not report the
 * length of unwrapped keys, as SoftHSM 2.6.1, lets the size of a secret key be checked from
 * an AES-KWP blob's length only, which is exact for AES and TDES and to 8 bytes for HMAC;
 * under RSA-OAEP there, only the token's own rule per type holds and the KCV is the check.)
 * For a private key the matching public key object is created too (RSA from the modulus and
 * exponent; EC by public key recovery from two ECDSA signatures made in the token), so
 * p11_public_key_der works. Ed25519 private keys cannot be imported: SoftHSM cannot unwrap
 * them, and their public key cannot be found without the private value (HG_E_INVALID). A
 * blob that does not unwrap (wrong key, corrupt, wrong type or size) is HG_E_INVALID, an
 * unwrapping key without the unwrap usage HG_E_KEY_USAGE; nothing is left behind. */
hg_err p11_unwrap(struct hg_p11 *p, const hg_uuid *unwrapping_id, enum hg_wrap_alg alg, const uint8_t *wrapped,
		  size_t n, const hg_uuid *new_id, const struct hg_p11_keyspec *spec,
		  char kcv[HG_KCV_HEX_LEN + 1]) HG_WARN_UNUSED;

/* Signature and MAC algorithms. */
enum hg_sig_alg {
	HG_SIG_RSA_PSS_SHA256,
	HG_SIG_RSA_PSS_SHA384,
	HG_SIG_RSA_PKCS1_SHA256,
	HG_SIG_ECDSA_SHA256, /* the signature is raw r ‖ s, each the curve's size */
	HG_SIG_ECDSA_SHA384,
	HG_SIG_EDDSA, /* Ed25519, over the message only */
	HG_MAC_HMAC_SHA256,
	HG_MAC_HMAC_SHA384,
	HG_MAC_HMAC_SHA512,
	HG_MAC_AES_CMAC,
	HG_SIG_COUNT
};
#define HG_SIG_MAX 1024

/* The digest length a precomputed digest must have for alg (0: alg takes only messages). */
size_t p11_sig_digest_len(enum hg_sig_alg alg);
/* Signs (or MACs) data — the message, or with is_digest its digest — with the private or
 * secret key object of version id. HG_E_INVALID for a digest of the wrong length or a
 * digest where only messages are taken; HG_E_KEY_USAGE when the key refuses the mechanism. */
hg_err p11_sign(struct hg_p11 *p, const hg_uuid *id, enum hg_sig_alg alg, const uint8_t *data, size_t n, bool is_digest,
		uint8_t sig[HG_SIG_MAX], size_t *sig_len) HG_WARN_UNUSED;
/* Verifies with the public (or secret) key object: HG_OK with *valid true or false; a
 * signature of the wrong length is HG_E_INVALID. */
hg_err p11_verify(struct hg_p11 *p, const hg_uuid *id, enum hg_sig_alg alg, const uint8_t *data, size_t n,
		  bool is_digest, const uint8_t *sig, size_t sig_len, bool *valid) HG_WARN_UNUSED;
/* n bytes from the HSM's random number generator. */
hg_err p11_random(struct hg_p11 *p, uint8_t *out, size_t n) HG_WARN_UNUSED;

#define HG_CBC_IV_LEN    16
#define HG_RSA_MAX_BYTES 512 /* RSA-4096 */

/* AES-CBC with PKCS #7 padding and a 128-bit IV drawn from the HSM. out must hold
 * HG_CBC_IV_LEN + n + 16 bytes and receives IV ‖ ciphertext; *out_len its length. */
hg_err p11_aes_cbc_encrypt(struct hg_p11 *p, const hg_uuid *id, const uint8_t *pt, size_t n, uint8_t *out,
			   size_t *out_len) HG_WARN_UNUSED;
/* The reverse; pt must hold n bytes. Bad padding or a bad length is HG_E_INVALID. */
hg_err p11_aes_cbc_decrypt(struct hg_p11 *p, const hg_uuid *id, const uint8_t *in, size_t n, uint8_t *pt,
			   size_t *pt_len) HG_WARN_UNUSED;
/* RSA-OAEP with SHA-256 and MGF1-SHA-256, no label, with the private key of version id
 * (natively, or raw RSA in the HSM and the padding removed here where the token lacks
 * SHA-256 OAEP). pt must hold HG_RSA_MAX_BYTES. Any failure of the ciphertext is
 * HG_E_INVALID. */
hg_err p11_rsa_oaep_decrypt(struct hg_p11 *p, const hg_uuid *id, const uint8_t *in, size_t n, uint8_t *pt,
			    size_t *pt_len) HG_WARN_UNUSED;

/* AES-GCM with a 96-bit IV drawn from the HSM and a 128-bit tag. out must hold
 * HG_GCM_IV_LEN + n + HG_GCM_TAG_LEN bytes and receives IV ‖ ciphertext ‖ tag. */
hg_err p11_aes_gcm_encrypt(struct hg_p11 *p, const hg_uuid *id, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
			   size_t n, uint8_t *out) HG_WARN_UNUSED;
/* The reverse: in is IV ‖ ciphertext ‖ tag of length n (≥ IV + tag). pt must hold n bytes;
 * *pt_len receives the plaintext length. A tag that does not verify is HG_E_INVALID. */
hg_err p11_aes_gcm_decrypt(struct hg_p11 *p, const hg_uuid *id, const uint8_t *aad, size_t aad_len, const uint8_t *in,
			   size_t n, uint8_t *pt, size_t *pt_len) HG_WARN_UNUSED;

/* ---- TDES keys held as halves, and raw block cipher operations ----
 *
 * Card validation codes and ISO 9797-1 MAC algorithm 3 use each half of a 2-key TDES key
 * on its own, as single DES. A general PKCS#11 token cannot do that with a CKK_DES2 object,
 * nor split one inside its boundary, so such a key (spec->halves) is made as two CKK_DES
 * objects instead: generated one by one, or unwrapped from two separately wrapped halves.
 * The left half only encrypts, the right half only decrypts, which is all that TDES-EDE
 * (E_left ∘ D_right ∘ E_left), CVV and the retail MAC need. They are never extractable.
 * Their KCV is that of the TDES key they form. */

/* Whether the token computes single DES (probed at p11_open); without it, keys held as
 * halves cannot be made. SoftHSM inside this process needs hsm.openssl_legacy_provider. */
bool p11_single_des(const struct hg_p11 *p);

/* The CKA_ID of half 0 (left) or 1 (right) of the version id: the UUID with its variant bits
 * set to 110 or 111, which no generated (variant 10) UUID has. */
void p11_half_id(const hg_uuid *id, unsigned half, hg_uuid *out);

/* Keys a raw block operation can use. */
enum hg_block_key {
	HG_BLK_AES,       /* an AES key: 16-byte blocks */
	HG_BLK_TDES,      /* a TDES key object (2- or 3-key): 8-byte blocks */
	HG_BLK_DES_LEFT,  /* the left half of a TDES key held as halves (encrypt only) */
	HG_BLK_DES_RIGHT, /* its right half (decrypt only) */
};
/* Encrypts or decrypts n bytes (a whole number of blocks, at most 64 KiB) in ECB, or in CBC
 * from iv when iv is not NULL (iv has the block's length), without padding. in and out may
 * be the same buffer. A key without the needed usage is HG_E_KEY_USAGE. */
hg_err p11_block(struct hg_p11 *p, const hg_uuid *id, enum hg_block_key key, bool encrypt, const uint8_t *iv,
		 const uint8_t *in, size_t n, uint8_t *out) HG_WARN_UNUSED;

#endif
