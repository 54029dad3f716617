/* faultp11 — a PKCS#11 module that forwards every call to a real one and, on command, makes
 * calls fail or hang: the HSM faults of the gateway's tests (and of the soak), without an HSM
 * that misbehaves on purpose.
 *
 * Environment:
 *   FAULTP11_MODULE   the real module (default /usr/lib/softhsm/libsofthsm2.so)
 *   FAULTP11_CONTROL  the control file (unset: no faults, and no file is ever looked at)
 *   FAULTP11_LOG      optional: one line is appended per fault that fires
 *                     ("C_Sign rv=0x30 hang_ms=0"; rv=0x0 for a hang alone)
 *   FAULTP11_SEED     optional: seed of the p= draws (default: from the clock)
 *
 * The control file is looked at (stat) on every call and read again when its inode, size or
 * mtime changed, so a test that replaces it (write a temporary file, rename) is seen by the
 * next call. A missing or empty file means no faults. One rule per line; '#' starts a comment:
 *
 *   <function|*> [rv=<CKR_NAME|0xHEX>] [hang_ms=N] [count=N] [p=F]
 *
 *   C_Sign rv=CKR_DEVICE_ERROR count=3   the next 3 C_Sign calls fail with CKR_DEVICE_ERROR
 *   * hang_ms=3000                       every call sleeps 3 s, then is forwarded
 *   C_Encrypt rv=CKR_DEVICE_ERROR p=0.01 1% of C_Encrypt calls fail (for the soak)
 *
 * A rule needs rv= or hang_ms= (both: sleep, then fail). count=N: only the next N calls that
 * match (and, with p=, that draw a fire) since the file was read; p=F: each matching call fires
 * with probability F. The first rule that fires applies. '*' matches every function except
 * C_Initialize, C_Finalize and C_GetFunctionList, which a rule must name.
 *
 * A call that fails by rule is not forwarded, and the real token is made to agree with what the
 * caller is told. A failed call ends the session's active operation (C_Encrypt, C_Sign, …,
 * their Finals; not the Updates), as the standard says: the real module's is ended too, by the
 * same call made into a scratch buffer and thrown away. Then, by result:
 *   CKR_USER_NOT_LOGGED_IN       the real C_Logout is called, so the login is really gone (and
 *                                the caller must log in again)
 *   CKR_SESSION_HANDLE_INVALID,  the real session is closed (C_CloseSession), so its handle
 *   CKR_SESSION_CLOSED           really is invalid
 *   anything else                just the result (CKR_DEVICE_ERROR, CKR_TOKEN_NOT_PRESENT, …):
 *                                while the rule holds, the device "is" failing or gone
 * Functions without a session log out through the session seen last. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define MAX_RULES      64

/* Every function of the 2.40 list: X(name, has_session, ends, (parameters), (arguments)).
 * Functions with a session take it as their first parameter, named s. `ends` says how a call
 * that fails ends the session's active operation, as the standard says it must (faults():
 * the real module's operation is ended too): N it does not; O a single-part call with an
 * output (s, b, c, d, e); F a Final with an output (s, b, c); V a call without one. */
#define FUNCTIONS(X)                                                                                                   \
	X(C_GetInfo, 0, N, (CK_INFO_PTR a), (a))                                                                       \
	X(C_GetSlotList, 0, N, (CK_BBOOL a, CK_SLOT_ID_PTR b, CK_ULONG_PTR c), (a, b, c))                              \
	X(C_GetSlotInfo, 0, N, (CK_SLOT_ID a, CK_SLOT_INFO_PTR b), (a, b))                                             \
	X(C_GetTokenInfo, 0, N, (CK_SLOT_ID a, CK_TOKEN_INFO_PTR b), (a, b))                                           \
	X(C_GetMechanismList, 0, N, (CK_SLOT_ID a, CK_MECHANISM_TYPE_PTR b, CK_ULONG_PTR c), (a, b, c))                \
	X(C_GetMechanismInfo, 0, N, (CK_SLOT_ID a, CK_MECHANISM_TYPE b, CK_MECHANISM_INFO_PTR c), (a, b, c))           \
	X(C_InitToken, 0, N, (CK_SLOT_ID a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d), (a, b, c, d))           \
	X(C_InitPIN, 1, N, (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR b, CK_ULONG c), (s, b, c))                            \
	X(C_SetPIN, 1, N, (CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d, CK_ULONG e),         \
	  (s, b, c, d, e))                                                                                             \
	X(C_OpenSession, 0, N, (CK_SLOT_ID a, CK_FLAGS b, CK_VOID_PTR c, CK_NOTIFY d, CK_SESSION_HANDLE_PTR e),        \
	  (a, b, c, d, e))                                                                                             \
	X(C_CloseSession, 1, N, (CK_SESSION_HANDLE s), (s))                                                            \
	X(C_CloseAllSessions, 0, N, (CK_SLOT_ID a), (a))                                                               \
	X(C_GetSessionInfo, 1, N, (CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR b), (s, b))                                \
	X(C_GetOperationState, 1, N, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG_PTR c), (s, b, c))                  \
	X(C_SetOperationState, 1, N,                                                                                   \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE d, CK_OBJECT_HANDLE e), (s, b, c, d, e))   \
	X(C_Login, 1, N, (CK_SESSION_HANDLE s, CK_USER_TYPE b, CK_UTF8CHAR_PTR c, CK_ULONG d), (s, b, c, d))           \
	X(C_Logout, 1, N, (CK_SESSION_HANDLE s), (s))                                                                  \
	X(C_CreateObject, 1, N, (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE_PTR d),         \
	  (s, b, c, d))                                                                                                \
	X(C_CopyObject, 1, N,                                                                                          \
	  (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_OBJECT_HANDLE_PTR e),           \
	  (s, b, c, d, e))                                                                                             \
	X(C_DestroyObject, 1, N, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE b), (s, b))                                    \
	X(C_GetObjectSize, 1, N, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE b, CK_ULONG_PTR c), (s, b, c))                 \
	X(C_GetAttributeValue, 1, N, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d),        \
	  (s, b, c, d))                                                                                                \
	X(C_SetAttributeValue, 1, N, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d),        \
	  (s, b, c, d))                                                                                                \
	X(C_FindObjectsInit, 1, N, (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR b, CK_ULONG c), (s, b, c))                   \
	X(C_FindObjects, 1, N, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR b, CK_ULONG c, CK_ULONG_PTR d),              \
	  (s, b, c, d))                                                                                                \
	X(C_FindObjectsFinal, 1, N, (CK_SESSION_HANDLE s), (s))                                                        \
	X(C_EncryptInit, 1, N, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (s, b, c))               \
	X(C_Encrypt, 1, O, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),            \
	  (s, b, c, d, e))                                                                                             \
	X(C_EncryptUpdate, 1, N, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),      \
	  (s, b, c, d, e))                                                                                             \
	X(C_EncryptFinal, 1, F, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG_PTR c), (s, b, c))                       \
	X(C_DecryptInit, 1, N, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (s, b, c))               \
	X(C_Decrypt, 1, O, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),            \
	  (s, b, c, d, e))                                                                                             \
	X(C_DecryptUpdate, 1, N, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),      \
	  (s, b, c, d, e))                                                                                             \
	X(C_DecryptFinal, 1, F, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG_PTR c), (s, b, c))                       \
	X(C_DigestInit, 1, N, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR b), (s, b))                                       \
	X(C_Digest, 1, O, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),             \
	  (s, b, c, d, e))                                                                                             \
	X(C_DigestUpdate, 1, N, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c), (s, b, c))                           \
	X(C_DigestKey, 1, N, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE b), (s, b))                                        \
	X(C_DigestFinal, 1, F, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG_PTR c), (s, b, c))                        \
	X(C_SignInit, 1, N, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (s, b, c))                  \
	X(C_Sign, 1, O, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),               \
	  (s, b, c, d, e))                                                                                             \
	X(C_SignUpdate, 1, N, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c), (s, b, c))                             \
	X(C_SignFinal, 1, F, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG_PTR c), (s, b, c))                          \
	X(C_SignRecoverInit, 1, N, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (s, b, c))           \
	X(C_SignRecover, 1, O, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),        \
	  (s, b, c, d, e))                                                                                             \
	X(C_VerifyInit, 1, N, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (s, b, c))                \
	X(C_Verify, 1, V, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e),                 \
	  (s, b, c, d, e))                                                                                             \
	X(C_VerifyUpdate, 1, N, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c), (s, b, c))                           \
	X(C_VerifyFinal, 1, V, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c), (s, b, c))                            \
	X(C_VerifyRecoverInit, 1, N, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c), (s, b, c))         \
	X(C_VerifyRecover, 1, O, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),      \
	  (s, b, c, d, e))                                                                                             \
	X(C_DigestEncryptUpdate, 1, N,                                                                                 \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (s, b, c, d, e))            \
	X(C_DecryptDigestUpdate, 1, N,                                                                                 \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (s, b, c, d, e))            \
	X(C_SignEncryptUpdate, 1, N, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e),  \
	  (s, b, c, d, e))                                                                                             \
	X(C_DecryptVerifyUpdate, 1, N,                                                                                 \
	  (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (s, b, c, d, e))            \
	X(C_GenerateKey, 1, N,                                                                                         \
	  (CK_SESSION_HANDLE s, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_OBJECT_HANDLE_PTR e),           \
	  (s, b, c, d, e))                                                                                             \
	X(C_GenerateKeyPair, 1, N,                                                                                     \
	  (CK_SESSION_HANDLE s, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_ATTRIBUTE_PTR e, CK_ULONG f,    \
	   CK_OBJECT_HANDLE_PTR g, CK_OBJECT_HANDLE_PTR h),                                                            \
	  (s, b, c, d, e, f, g, h))                                                                                    \
	X(C_WrapKey, 1, N,                                                                                             \
	  (CK_SESSION_HANDLE s, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_OBJECT_HANDLE d, CK_BYTE_PTR e,             \
	   CK_ULONG_PTR f),                                                                                            \
	  (s, b, c, d, e, f))                                                                                          \
	X(C_UnwrapKey, 1, N,                                                                                           \
	  (CK_SESSION_HANDLE s, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_BYTE_PTR d, CK_ULONG e, CK_ATTRIBUTE_PTR f, \
	   CK_ULONG g, CK_OBJECT_HANDLE_PTR h),                                                                        \
	  (s, b, c, d, e, f, g, h))                                                                                    \
	X(C_DeriveKey, 1, N,                                                                                           \
	  (CK_SESSION_HANDLE s, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_ATTRIBUTE_PTR d, CK_ULONG e,                \
	   CK_OBJECT_HANDLE_PTR f),                                                                                    \
	  (s, b, c, d, e, f))                                                                                          \
	X(C_SeedRandom, 1, N, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c), (s, b, c))                             \
	X(C_GenerateRandom, 1, N, (CK_SESSION_HANDLE s, CK_BYTE_PTR b, CK_ULONG c), (s, b, c))                         \
	X(C_GetFunctionStatus, 1, N, (CK_SESSION_HANDLE s), (s))                                                       \
	X(C_CancelFunction, 1, N, (CK_SESSION_HANDLE s), (s))                                                          \
	X(C_WaitForSlotEvent, 0, N, (CK_FLAGS a, CK_SLOT_ID_PTR b, CK_VOID_PTR c), (a, b, c))

/* Function ids: the wrapped functions, then the three that '*' leaves alone. */
enum fn {
#define FN_ID(name, sess, ends, params, args) FN_##name,
	FUNCTIONS(FN_ID)
#undef FN_ID
	    FN_C_Initialize,
	FN_C_Finalize,
	FN_C_GetFunctionList,
	FN_COUNT,
	FN_ANY = FN_COUNT /* '*' */
};

static const char *const fn_names[FN_COUNT] = {
#define FN_NAME(name, sess, ends, params, args) [FN_##name] = #name,
    FUNCTIONS(FN_NAME)
#undef FN_NAME
	[FN_C_Initialize] = "C_Initialize",
    [FN_C_Finalize] = "C_Finalize",
    [FN_C_GetFunctionList] = "C_GetFunctionList",
};

struct rule {
	enum fn fn;
	bool has_rv;
	CK_RV rv;
	unsigned hang_ms;
	long count; /* -1: unlimited */
	double p;   /* 1: always */
};

/* The rules in force and the file they came from, replaced as a whole when the file changes;
 * guarded by mu (every call takes it once: this module is for tests). */
static struct {
	pthread_mutex_t mu;
	struct rule rules[MAX_RULES];
	size_t n;
	bool seen; /* a file was there at the last look; then dev … mtime describe it */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
} ctl = {.mu = PTHREAD_MUTEX_INITIALIZER};

static const char *ctl_path, *log_path;
static _Atomic uint64_t draws;
static uint64_t seed;
static _Atomic CK_SESSION_HANDLE last_session;

static void *real_dl;
static CK_FUNCTION_LIST_PTR real;
static CK_FUNCTION_LIST ours;

/* ---- the control file ---- */

static const struct {
	const char *name;
	CK_RV rv;
} rv_names[] = {
    {"CKR_OK", CKR_OK},
    {"CKR_DEVICE_ERROR", CKR_DEVICE_ERROR},
    {"CKR_DEVICE_MEMORY", CKR_DEVICE_MEMORY},
    {"CKR_DEVICE_REMOVED", CKR_DEVICE_REMOVED},
    {"CKR_TOKEN_NOT_PRESENT", CKR_TOKEN_NOT_PRESENT},
    {"CKR_TOKEN_NOT_RECOGNIZED", CKR_TOKEN_NOT_RECOGNIZED},
    {"CKR_SESSION_HANDLE_INVALID", CKR_SESSION_HANDLE_INVALID},
    {"CKR_SESSION_CLOSED", CKR_SESSION_CLOSED},
    {"CKR_SESSION_COUNT", CKR_SESSION_COUNT},
    {"CKR_USER_NOT_LOGGED_IN", CKR_USER_NOT_LOGGED_IN},
    {"CKR_GENERAL_ERROR", CKR_GENERAL_ERROR},
    {"CKR_FUNCTION_FAILED", CKR_FUNCTION_FAILED},
    {"CKR_HOST_MEMORY", CKR_HOST_MEMORY},
    {"CKR_CRYPTOKI_NOT_INITIALIZED", CKR_CRYPTOKI_NOT_INITIALIZED},
    {"CKR_OBJECT_HANDLE_INVALID", CKR_OBJECT_HANDLE_INVALID},
    {"CKR_KEY_HANDLE_INVALID", CKR_KEY_HANDLE_INVALID},
};

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "faultp11: %s\n", line);
}

static bool parse_rv(const char *v, CK_RV *out)
{
	for (size_t i = 0; i < sizeof rv_names / sizeof *rv_names; i++) {
		if (strcmp(v, rv_names[i].name) == 0) {
			*out = rv_names[i].rv;
			return true;
		}
	}
	char *end;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 0);
	if (errno || end == v || *end)
		return false;
	*out = (CK_RV)x;
	return true;
}

static bool parse_fn(const char *v, enum fn *out)
{
	if (strcmp(v, "*") == 0) {
		*out = FN_ANY;
		return true;
	}
	for (int i = 0; i < FN_COUNT; i++) {
		if (strcmp(v, fn_names[i]) == 0) {
			*out = (enum fn)i;
			return true;
		}
	}
	return false;
}

/* One line into *r; false (and a note on stderr) for a line that is not a rule. */
static bool parse_rule(char *line, struct rule *r)
{
	*r = (struct rule){.count = -1, .p = 1};
	char *save, *tok = strtok_r(line, " \t", &save);
	if (!parse_fn(tok, &r->fn)) {
		note("unknown function %s", tok);
		return false;
	}
	while ((tok = strtok_r(NULL, " \t", &save))) {
		char *eq = strchr(tok, '='), *end;
		if (!eq) {
			note("%s: expected name=value", tok);
			return false;
		}
		*eq = '\0';
		const char *v = eq + 1;
		errno = 0;
		bool ok = true;
		if (strcmp(tok, "rv") == 0) {
			ok = r->has_rv = parse_rv(v, &r->rv);
		} else if (strcmp(tok, "hang_ms") == 0) {
			unsigned long x = strtoul(v, &end, 10);
			ok = !errno && end != v && !*end && x <= 3600000;
			r->hang_ms = (unsigned)x;
		} else if (strcmp(tok, "count") == 0) {
			r->count = strtol(v, &end, 10);
			ok = !errno && end != v && !*end && r->count >= 0;
		} else if (strcmp(tok, "p") == 0) {
			r->p = strtod(v, &end);
			ok = !errno && end != v && !*end && r->p > 0 && r->p <= 1;
		} else {
			ok = false;
		}
		if (!ok) {
			note("bad value %s=%s", tok, v);
			return false;
		}
	}
	if (!r->has_rv && !r->hang_ms) {
		note("a rule needs rv= or hang_ms=");
		return false;
	}
	return true;
}

/* Reads the control file into ctl (called with ctl.mu held). A line that is not a rule is
 * reported and skipped: the others still apply. */
static void ctl_read(const struct stat *st)
{
	ctl.n = 0;
	FILE *f = st ? fopen(ctl_path, "r") : NULL;
	char line[512];
	while (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "#\r\n")] = '\0';
		char *start = line + strspn(line, " \t");
		if (!*start)
			continue;
		if (ctl.n == MAX_RULES) {
			note("more than %d rules in %s; the rest is ignored", MAX_RULES, ctl_path);
			break;
		}
		if (parse_rule(start, &ctl.rules[ctl.n]))
			ctl.n++;
	}
	if (f)
		fclose(f);
}

/* Reads the control file again if it changed since the last look (ctl.mu held). */
static void ctl_refresh(void)
{
	struct stat st;
	bool exists = stat(ctl_path, &st) == 0;
	if (exists == ctl.seen &&
	    (!exists || (st.st_dev == ctl.dev && st.st_ino == ctl.ino && st.st_size == ctl.size &&
			 st.st_mtim.tv_sec == ctl.mtime.tv_sec && st.st_mtim.tv_nsec == ctl.mtime.tv_nsec)))
		return;
	ctl.seen = exists;
	if (exists) {
		ctl.dev = st.st_dev;
		ctl.ino = st.st_ino;
		ctl.size = st.st_size;
		ctl.mtime = st.st_mtim;
	}
	ctl_read(exists ? &st : NULL);
}

/* A uniform draw in [0, 1): splitmix64 over a shared counter (thread-safe, reproducible with
 * FAULTP11_SEED for one thread). */
static double draw(void)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15ull * (atomic_fetch_add(&draws, 1) + 1);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (double)(z >> 11) / 9007199254740992.0;
}

/* The rule that fires for this call of fn, copied into *out; false when none does. */
static bool rule_for(enum fn fn, struct rule *out)
{
	if (!ctl_path)
		return false;
	bool fired = false;
	pthread_mutex_lock(&ctl.mu);
	ctl_refresh();
	for (size_t i = 0; i < ctl.n && !fired; i++) {
		struct rule *r = &ctl.rules[i];
		bool matches = r->fn == fn || (r->fn == FN_ANY && fn != FN_C_Initialize && fn != FN_C_Finalize &&
					       fn != FN_C_GetFunctionList);
		if (!matches || r->count == 0 || (r->p < 1 && draw() >= r->p))
			continue;
		if (r->count > 0)
			r->count--;
		*out = *r;
		fired = true;
	}
	pthread_mutex_unlock(&ctl.mu);
	return fired;
}

static void log_fired(enum fn fn, const struct rule *r)
{
	if (!log_path)
		return;
	char line[160];
	int n = snprintf(line, sizeof line, "%s rv=0x%lx hang_ms=%u\n", fn_names[fn],
			 r->has_rv ? (unsigned long)r->rv : 0ul, r->hang_ms);
	int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (write(fd, line, (size_t)n) != n)
			note("cannot write to %s", log_path);
		close(fd);
	}
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Decides one call: true with *rv set when the call fails by rule (and must not be
 * forwarded); false to forward it (after a hang, if the rule said so). s is the call's session,
 * or CK_INVALID_HANDLE. */
static bool fault(enum fn fn, CK_SESSION_HANDLE s, CK_RV *rv)
{
	if (s != CK_INVALID_HANDLE)
		atomic_store(&last_session, s);
	struct rule r;
	if (!rule_for(fn, &r))
		return false;
	log_fired(fn, &r);
	if (r.hang_ms)
		sleep_ms(r.hang_ms);
	if (!r.has_rv)
		return false;
	*rv = r.rv;
	return true;
}

/* Makes the real token agree with a failure by rule rv of a call on session s (after its
 * operation was ended). */
static void agree(CK_RV rv, CK_SESSION_HANDLE s)
{
	CK_SESSION_HANDLE target = s != CK_INVALID_HANDLE ? s : atomic_load(&last_session);
	if (rv == CKR_USER_NOT_LOGGED_IN && target != CK_INVALID_HANDLE)
		real->C_Logout(target);
	if ((rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED) && s != CK_INVALID_HANDLE)
		real->C_CloseSession(s);
}

/* ---- the wrappers ---- */

/* Ending the real module's operation after a call that failed by rule: the same call again
 * into a scratch buffer (its length asked first), its result thrown away. */
static void end_out(CK_RV (*f)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR),
		    CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len)
{
	CK_ULONG n = 0;
	if (f(s, in, in_len, NULL, &n) != CKR_OK) /* a failed call has ended it already */
		return;
	CK_BYTE_PTR buf = malloc(n ? n : 1);
	if (buf)
		f(s, in, in_len, buf, &n);
	free(buf);
}

static void end_final(CK_RV (*f)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR), CK_SESSION_HANDLE s)
{
	CK_ULONG n = 0;
	if (f(s, NULL, &n) != CKR_OK)
		return;
	CK_BYTE_PTR buf = malloc(n ? n : 1);
	if (buf)
		f(s, buf, &n);
	free(buf);
}

#define END_N(name, args)
#define END_O(name, args) end_out(real->name, s, b, c);
#define END_F(name, args) end_final(real->name, s);
#define END_V(name, args) real->name args;

#define SESSION_OF_1 s
#define SESSION_OF_0 CK_INVALID_HANDLE
#define WRAP(name, sess, ends, params, args)                                                                           \
	static CK_RV w_##name params                                                                                   \
	{                                                                                                              \
		CK_RV rv;                                                                                              \
		if (fault(FN_##name, SESSION_OF_##sess, &rv)) {                                                        \
			if (rv != CKR_SESSION_HANDLE_INVALID && rv != CKR_SESSION_CLOSED) {                            \
				END_##ends(name, args)                                                                 \
			}                                                                                              \
			agree(rv, SESSION_OF_##sess);                                                                  \
			return rv;                                                                                     \
		}                                                                                                      \
		return real->name args;                                                                                \
	}
FUNCTIONS(WRAP)
#undef WRAP

static CK_RV w_C_Initialize(CK_VOID_PTR args)
{
	CK_RV rv;
	if (fault(FN_C_Initialize, CK_INVALID_HANDLE, &rv))
		return rv; /* nothing to agree with: the module is not initialised */
	return real->C_Initialize(args);
}

static CK_RV w_C_Finalize(CK_VOID_PTR reserved)
{
	CK_RV rv;
	if (fault(FN_C_Finalize, CK_INVALID_HANDLE, &rv))
		return rv;
	return real->C_Finalize(reserved);
}

static CK_RV w_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

/* Loads the real module and fills our list (once; called under once). */
static CK_RV load_status = CKR_GENERAL_ERROR;
static void load(void)
{
	const char *path = getenv("FAULTP11_MODULE");
	const char *c = getenv("FAULTP11_CONTROL"), *l = getenv("FAULTP11_LOG"), *sd = getenv("FAULTP11_SEED");
	ctl_path = c && *c ? c : NULL;
	log_path = l && *l ? l : NULL;
	seed = sd && *sd ? strtoull(sd, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	real_dl = dlopen(path && *path ? path : DEFAULT_MODULE, RTLD_NOW | RTLD_LOCAL);
	if (!real_dl) {
		note("cannot load the real module: %s", dlerror());
		return;
	}
	CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(real_dl, "C_GetFunctionList");
	if (!gfl || gfl(&real) != CKR_OK || !real) {
		note("the real module has no usable C_GetFunctionList");
		return;
	}
	ours.version = real->version;
	if (ours.version.major > 2) /* our list has the 2.x layout, whatever the module's is */
		ours.version = (CK_VERSION){2, 40};
	ours.C_Initialize = w_C_Initialize;
	ours.C_Finalize = w_C_Finalize;
	ours.C_GetFunctionList = w_C_GetFunctionList;
#define FILL(name, sess, ends, params, args) ours.name = w_##name;
	FUNCTIONS(FILL)
#undef FILL
	load_status = CKR_OK;
	if (ctl_path)
		note("forwarding to %s; faults from %s", path && *path ? path : DEFAULT_MODULE, ctl_path);
}

static CK_RV w_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, load);
	if (load_status != CKR_OK)
		return load_status;
	if (!list)
		return CKR_ARGUMENTS_BAD;
	CK_RV rv;
	if (fault(FN_C_GetFunctionList, CK_INVALID_HANDLE, &rv))
		return rv;
	*list = &ours;
	return CKR_OK;
}

/* The one exported symbol: callers reach everything else through the list. */
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) __attribute__((visibility("default")));
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	return w_C_GetFunctionList(list);
}
