/* Loading the PKCS#11 module, finding the token, logging in, and the CK_RV mapping. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/provider.h>

#include "p11_internal.h"

hg_err p11_rv_err(CK_RV rv)
{
	switch (rv) {
	case CKR_OK: return HG_OK;
	case CKR_ENCRYPTED_DATA_INVALID:
	case CKR_ENCRYPTED_DATA_LEN_RANGE:
	case CKR_DATA_LEN_RANGE:
	case CKR_DATA_INVALID:
	case CKR_SIGNATURE_INVALID:
	case CKR_SIGNATURE_LEN_RANGE:
	case CKR_WRAPPED_KEY_INVALID:
	case CKR_WRAPPED_KEY_LEN_RANGE:
	case CKR_MECHANISM_PARAM_INVALID:
	case CKR_KEY_SIZE_RANGE: /* e.g. an HMAC key shorter than the hash it is asked to use */ return HG_E_INVALID;
	case CKR_KEY_FUNCTION_NOT_PERMITTED:
	case CKR_KEY_UNEXTRACTABLE:
	case CKR_KEY_NOT_WRAPPABLE:
	case CKR_WRAPPING_KEY_TYPE_INCONSISTENT:
	case CKR_WRAPPING_KEY_SIZE_RANGE:
	case CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT:
	case CKR_UNWRAPPING_KEY_SIZE_RANGE:
	case CKR_KEY_TYPE_INCONSISTENT: return HG_E_KEY_USAGE;
	case CKR_OBJECT_HANDLE_INVALID:
	case CKR_WRAPPING_KEY_HANDLE_INVALID:
	case CKR_UNWRAPPING_KEY_HANDLE_INVALID:
	case CKR_KEY_HANDLE_INVALID: return HG_E_KEY_STATE;
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_MEMORY:
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_SESSION_COUNT:
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_FUNCTION_FAILED:
	case CKR_GENERAL_ERROR:
	case CKR_HG_TIMEOUT: return HG_E_HSM_UNAVAILABLE;
	default: return HG_E_INTERNAL;
	}
}

const char *p11_rv_name(CK_RV rv, char buf[24])
{
	switch (rv) {
	case CKR_OK: return "CKR_OK";
	case CKR_HOST_MEMORY: return "CKR_HOST_MEMORY";
	case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
	case CKR_FUNCTION_FAILED: return "CKR_FUNCTION_FAILED";
	case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
	case CKR_DEVICE_MEMORY: return "CKR_DEVICE_MEMORY";
	case CKR_DEVICE_REMOVED: return "CKR_DEVICE_REMOVED";
	case CKR_SESSION_CLOSED: return "CKR_SESSION_CLOSED";
	case CKR_SESSION_COUNT: return "CKR_SESSION_COUNT";
	case CKR_SESSION_HANDLE_INVALID: return "CKR_SESSION_HANDLE_INVALID";
	case CKR_TOKEN_NOT_PRESENT: return "CKR_TOKEN_NOT_PRESENT";
	case CKR_TOKEN_NOT_RECOGNIZED: return "CKR_TOKEN_NOT_RECOGNIZED";
	case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
	case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
	case CKR_PIN_LOCKED: return "CKR_PIN_LOCKED";
	case CKR_CRYPTOKI_NOT_INITIALIZED: return "CKR_CRYPTOKI_NOT_INITIALIZED";
	case CKR_HG_TIMEOUT: return "deadline passed";
	default: snprintf(buf, 24, "CKR 0x%08lx", (unsigned long)rv); return buf;
	}
}

bool p11_rv_breaks_session(CK_RV rv)
{
	switch (rv) {
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_GENERAL_ERROR:
	case CKR_FUNCTION_FAILED: return true;
	default: return false;
	}
}

/* PKCS#11 strings are blank-padded and not terminated. */
static void pad_copy(char *dst, size_t cap, const CK_UTF8CHAR *src, size_t n)
{
	while (n > 0 && src[n - 1] == ' ')
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void version_copy(char *dst, size_t cap, CK_VERSION v)
{
	snprintf(dst, cap, "%u.%u", v.major, v.minor);
}

static bool fail(char *err, size_t len, const char *what, CK_RV rv)
{
	snprintf(err, len, "PKCS#11 %s failed: CKR 0x%08lx", what, (unsigned long)rv);
	return false;
}

static bool find_slot(struct hg_p11 *p, const char *label, char *err, size_t len)
{
	CK_ULONG n = 0;
	CK_RV rv = p->f->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv != CKR_OK)
		return fail(err, len, "C_GetSlotList", rv);
	CK_SLOT_ID *slots = calloc(n ? n : 1, sizeof *slots);
	rv = p->f->C_GetSlotList(CK_TRUE, slots, &n);
	bool found = false;
	for (CK_ULONG i = 0; rv == CKR_OK && i < n && !found; i++) {
		CK_TOKEN_INFO ti;
		if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		char l[33];
		pad_copy(l, sizeof l, ti.label, sizeof ti.label);
		if (strcmp(l, label) == 0) {
			found = true;
			p->slot = slots[i];
			snprintf(p->info.token_label, sizeof p->info.token_label, "%s", l);
			pad_copy(p->info.token_manufacturer, sizeof p->info.token_manufacturer, ti.manufacturerID,
				 sizeof ti.manufacturerID);
			pad_copy(p->info.token_model, sizeof p->info.token_model, ti.model, sizeof ti.model);
			pad_copy(p->info.token_serial, sizeof p->info.token_serial, ti.serialNumber,
				 sizeof ti.serialNumber);
			version_copy(p->info.firmware_version, sizeof p->info.firmware_version, ti.firmwareVersion);
			version_copy(p->info.hardware_version, sizeof p->info.hardware_version, ti.hardwareVersion);
		}
	}
	free(slots);
	if (rv != CKR_OK)
		return fail(err, len, "C_GetSlotList", rv);
	if (!found)
		snprintf(err, len, "no token labelled \"%s\" in any slot", label);
	return found;
}

static bool load_pin(struct hg_p11 *p, const char *path, char *err, size_t len)
{
	p->pin = file_read_all(path, 256, &p->pin_len);
	if (!p->pin) {
		snprintf(err, len, "cannot read the HSM PIN file %s", path);
		return false;
	}
	while (p->pin_len > 0 && (p->pin[p->pin_len - 1] == '\n' || p->pin[p->pin_len - 1] == '\r'))
		p->pin[--p->pin_len] = '\0';
	return true;
}

struct hg_p11 *p11_open(const struct hg_config *cfg, char *err, size_t len)
{
	struct hg_p11 *p = calloc(1, sizeof *p);
	snprintf(p->info.node, sizeof p->info.node, "hsm-0");
	handles_init(&p->handles);
	p11_stats_init(&p->stats);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	health_init(p);
	p->op_timeout_ms = cfg->hsm_op_timeout_ms;
	p->long_timeout_ms = cfg->hsm_long_timeout_ms;
	p->health_ms = cfg->hsm_health_interval_ms;
	p->breaker_failures = cfg->hsm_breaker_failures;
	p->breaker_cooldown_ms = cfg->hsm_breaker_cooldown_ms;
	for (char **e = cfg->hsm_env; e && *e; e++) {
		char name[256];
		const char *eq = strchr(*e, '=');
		snprintf(name, sizeof name, "%.*s", (int)(eq - *e), *e);
		setenv(name, eq + 1, 1);
	}

	/* A software token inside this process (SoftHSM) uses this process's OpenSSL 3, whose
	 * single DES lives in the legacy provider; loading it explicitly means loading the
	 * default provider explicitly too. */
	if (cfg->hsm_openssl_legacy && (!(p->ossl_legacy = OSSL_PROVIDER_load(NULL, "legacy")) ||
					!(p->ossl_default = OSSL_PROVIDER_load(NULL, "default")))) {
		snprintf(err, len, "hsm.openssl_legacy_provider: OpenSSL's legacy provider cannot be loaded");
		goto bad;
	}
	p->dl = dlopen(cfg->hsm_module, RTLD_NOW | RTLD_LOCAL);
	if (!p->dl) {
		snprintf(err, len, "cannot load PKCS#11 module %s: %s", cfg->hsm_module, dlerror());
		goto bad;
	}
	CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList");
	if (!gfl || gfl(&p->f) != CKR_OK) {
		snprintf(err, len, "%s has no usable C_GetFunctionList", cfg->hsm_module);
		goto bad;
	}
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	CK_RV rv = p->f->C_Initialize(&args);
	if (rv != CKR_OK) {
		fail(err, len, "C_Initialize", rv);
		p->f = NULL;
		goto bad;
	}
	CK_INFO ci;
	rv = p->f->C_GetInfo(&ci);
	if (rv != CKR_OK) {
		fail(err, len, "C_GetInfo", rv);
		goto bad;
	}
	pad_copy(p->info.library_manufacturer, sizeof p->info.library_manufacturer, ci.manufacturerID,
		 sizeof ci.manufacturerID);
	pad_copy(p->info.library_description, sizeof p->info.library_description, ci.libraryDescription,
		 sizeof ci.libraryDescription);
	version_copy(p->info.library_version, sizeof p->info.library_version, ci.libraryVersion);
	version_copy(p->info.cryptoki_version, sizeof p->info.cryptoki_version, ci.cryptokiVersion);
	if (!find_slot(p, cfg->hsm_token_label, err, len) || !load_pin(p, cfg->hsm_pin_file, err, len))
		goto bad;
	log_info("hsm: %s: library \"%s\" %s by %s (Cryptoki %s); token \"%s\" model %s serial %s firmware %s "
		 "hardware %s",
		 p->info.node, p->info.library_description, p->info.library_version, p->info.library_manufacturer,
		 p->info.cryptoki_version, p->info.token_label, p->info.token_model, p->info.token_serial,
		 p->info.firmware_version, p->info.hardware_version);
	if (pool_open(p, cfg->hsm_sessions, cfg->hsm_wait_ms) != HG_OK) {
		snprintf(err, len, "cannot open and log in %u sessions on token \"%s\"", cfg->hsm_sessions,
			 cfg->hsm_token_label);
		goto bad;
	}
	p->wrap_algs = wrap_probe(p);
	p->single_des = des_probe(p);
	if (!health_start(p)) {
		snprintf(err, len, "cannot start the HSM health check on token \"%s\"", cfg->hsm_token_label);
		goto bad;
	}
	if (p->op_timeout_ms)
		log_info("hsm: %s: operations have a deadline of %u ms (key creation and token searches %u ms); health "
			 "check every %u ms",
			 p->info.node, p->op_timeout_ms, p->long_timeout_ms, p->health_ms);
	else
		log_warn("hsm: %s: hsm.operation_timeout_ms is 0: a call that hangs holds its request until it returns",
			 p->info.node);
	return p;
bad:
	p11_close(p);
	return NULL;
}

void p11_close(struct hg_p11 *p)
{
	if (!p)
		return;
	health_stop(p);
	if (p->f && !pool_close(p)) {
		/* A thread is still inside a call: the module, and this handle the thread uses, must
		 * stay as they are. Only at exit does this happen; the process ends soon after. */
		return;
	}
	if (p->f)
		p->f->C_Finalize(NULL);
	/* The module stays mapped after C_Finalize: unloading a PKCS#11 module while its own
	 * exit handlers or threads may still refer to it is unsafe, and a mapped module lets
	 * leak reports name it. The process is ending, or opening it again reuses the mapping. */
	/* After C_Finalize: the module no longer uses them. */
	if (p->ossl_legacy)
		OSSL_PROVIDER_unload(p->ossl_legacy);
	if (p->ossl_default)
		OSSL_PROVIDER_unload(p->ossl_default);
	hg_free_secret(p->pin, p->pin_len + 1);
	handles_free(&p->handles);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->stats.mu);
	pthread_cond_destroy(&p->cv);
	health_free(p);
	free(p);
}

const struct hg_p11_info *p11_info(const struct hg_p11 *p)
{
	return &p->info;
}
