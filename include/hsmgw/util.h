/* hsmgw — small helpers that no chosen library already provides: base64 and hex, UUIDs,
 * time stamps, secret wiping and logging. */
#ifndef HSMGW_UTIL_H
#define HSMGW_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HG_WARN_UNUSED __attribute__((warn_unused_result))

/* ---- base64 (RFC 4648 §4, standard alphabet, padding required) ---- */

/* Length of the encoding of n bytes, without the terminating NUL. */
size_t b64_encoded_len(size_t n);
/* Encodes n bytes into out, which must hold b64_encoded_len(n) + 1 bytes; NUL-terminates. */
void b64_encode(const uint8_t *in, size_t n, char *out);
/* Decodes a strict standard base64 string (padding required, no white space).
 * On success returns 0, *out is malloc'd (the caller frees it, with hg_free_secret when it
 * may hold a secret) and *out_len set; an empty input gives a non-NULL 1-byte buffer.
 * Returns -1 for a bad encoding and -2 if the decoded size would exceed max. */
int b64_decode(const char *in, size_t in_len, size_t max, uint8_t **out, size_t *out_len) HG_WARN_UNUSED;
/* base64url without padding (RFC 7515 §2), for JWT segments. Same contract as b64_decode. */
int b64url_decode(const char *in, size_t in_len, size_t max, uint8_t **out, size_t *out_len) HG_WARN_UNUSED;

/* base64url without padding into out (b64_encoded_len(n) + 1 bytes is enough); NUL-terminates. */
void b64url_encode(const uint8_t *in, size_t n, char *out);

/* ---- hex ---- */
/* Uppercase hex of n bytes into out (2n + 1 bytes), NUL-terminated. */
void hex_encode(const uint8_t *in, size_t n, char *out);
/* Lowercase variant, for hashes. */
void hex_encode_lower(const uint8_t *in, size_t n, char *out);
/* Exactly 2n hex digits (either case) into n bytes; false for another length or a non-digit. */
bool hex_decode(const char *in, uint8_t *out, size_t n) HG_WARN_UNUSED;

/* ---- ECDSA signature encodings ---- */
/* Raw r ‖ s (n bytes, two equal halves, as PKCS#11 returns them) → a DER ECDSA-Sig-Value of
 * at most cap bytes; returns its length, or 0 if it does not fit. */
size_t ecdsa_raw_to_der(const uint8_t *raw, size_t n, uint8_t *der, size_t cap);

/* ---- UUIDs (RFC 9562 version 4) ---- */
typedef struct {
	uint8_t b[16];
} hg_uuid;
#define HG_UUID_STR_LEN 36
/* A random v4 UUID from OpenSSL's CSPRNG. Returns 0, or -1 if the RNG failed. */
int uuid_v4(hg_uuid *u) HG_WARN_UNUSED;
/* Canonical lowercase form into out (37 bytes). */
void uuid_format(const hg_uuid *u, char out[HG_UUID_STR_LEN + 1]);
/* Parses the canonical 36-character form (either case). Returns true on success. */
bool uuid_parse(const char *s, hg_uuid *u);

/* ---- time ---- */
/* Microseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t time_now_us(void);
/* Monotonic microseconds, for durations and deadlines. */
int64_t time_mono_us(void);
/* An absolute CLOCK_REALTIME deadline ms milliseconds from now, for pthread_cond_timedwait. */
struct timespec;
void time_deadline(struct timespec *ts, unsigned ms);
/* RFC 3339 UTC with microseconds ("2026-11-23T10:26:26.123456Z") into out (32 bytes). */
void time_format_rfc3339(int64_t us, char out[32]);

/* Parses RFC 3339 ("2026-11-23T10:26:26Z", fractions of a second and ±hh:mm offsets
 * allowed) into microseconds since the epoch. Returns false for anything else. */
bool time_parse_rfc3339(const char *s, int64_t *us);

/* ---- secrets ---- */
/* Wipes n bytes at p with OPENSSL_cleanse, then frees p. NULL is fine. */
void hg_free_secret(void *p, size_t n);

/* ---- files ---- */
/* Reads a whole file (at most max bytes) into a NUL-terminated malloc'd buffer that the
 * caller frees (with hg_free_secret if it holds a secret). Returns NULL and sets errno on
 * failure; ERANGE when the file is larger than max. */
char *file_read_all(const char *path, size_t max, size_t *len_out);

/* ---- the process ---- */
/* Becomes `user` for good (as root: groups cleared, setgid, setuid, and root cannot be taken
 * back; already that user: nothing to do). False and a reason otherwise. */
bool drop_privileges(const char *user, char *err, size_t err_len) HG_WARN_UNUSED;

/* ---- logging ----
 * One line per event on stderr: time, level, then key=value context, then the message.
 * Callers never pass secrets: no plaintexts, keys, PINs, PANs or bearer tokens. */
typedef enum { HG_LOG_DEBUG, HG_LOG_INFO, HG_LOG_WARN, HG_LOG_ERROR } hg_log_level;
void log_set_level(hg_log_level lvl);
/* Parses "debug"/"info"/"warn"/"error". Returns false for anything else. */
bool log_level_parse(const char *s, hg_log_level *out);
/* rid/tenant/sub may be NULL when not known. */
void log_msg(hg_log_level lvl, const char *rid, const char *tenant, const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define log_error(...) log_msg(HG_LOG_ERROR, NULL, NULL, NULL, __VA_ARGS__)
#define log_warn(...)  log_msg(HG_LOG_WARN, NULL, NULL, NULL, __VA_ARGS__)
#define log_info(...)  log_msg(HG_LOG_INFO, NULL, NULL, NULL, __VA_ARGS__)
#define log_debug(...) log_msg(HG_LOG_DEBUG, NULL, NULL, NULL, __VA_ARGS__)

#endif
