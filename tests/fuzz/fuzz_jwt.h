/* The JWT verifier under fuzzing: two tenants, written to a temporary directory once per
 * process. "hs" allows HS256/384/512 with the secret FUZZ_HS_SECRET; "es" allows ES256 with
 * the public key below (its private half signed the ES256 seeds and was not kept). */
#ifndef HSMGW_TESTS_FUZZ_JWT_H
#define HSMGW_TESTS_FUZZ_JWT_H

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"
#include "hsmgw/auth.h"

#define FUZZ_HS_SECRET "fuzz-hs-secret-0123456789abcdef0123456789abcdef"
#define FUZZ_HS_ISSUER "https://hs.fuzz/"
#define FUZZ_ES_ISSUER "https://es.fuzz/"
#define FUZZ_AUDIENCE  "hsmgw"
#define FUZZ_ES_PUBLIC                                                                                                 \
	"-----BEGIN PUBLIC KEY-----\n"                                                                                 \
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQ6uTu2CauHdbMbechf+4oIEYxErp\n"                                           \
	"lnduM7OXeNWcdGfPrnroyX8cqml+AGImrDtGszl96JzImM+FeW+eBeXO+w==\n"                                               \
	"-----END PUBLIC KEY-----\n"

static struct hg_tenant_cfg fuzz_tenants[2];
static struct hg_config fuzz_cfg;

/* A key file of mode 0600, as the gateway wants its secrets. */
static void fuzz_write(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
}

/* A verifier for both tenants, with a token cache of cache_entries (0: none). The key files
 * are read by auth_new and removed at once. */
static struct hg_auth *fuzz_auth_new(unsigned cache_entries)
{
	char dir[] = "/tmp/hsmgw-fuzz-jwt-XXXXXX", hs[64], es[64], err[256];
	if (!mkdtemp(dir))
		abort();
	snprintf(hs, sizeof hs, "%s/hs.key", dir);
	snprintf(es, sizeof es, "%s/es.pem", dir);
	fuzz_write(hs, FUZZ_HS_SECRET);
	fuzz_write(es, FUZZ_ES_PUBLIC);
	fuzz_tenants[0] =
	    (struct hg_tenant_cfg){.name = "hs",
				   .issuer = FUZZ_HS_ISSUER,
				   .audience = FUZZ_AUDIENCE,
				   .algorithms = 1u << HG_ALG_HS256 | 1u << HG_ALG_HS384 | 1u << HG_ALG_HS512,
				   .key_file = hs};
	fuzz_tenants[1] = (struct hg_tenant_cfg){.name = "es",
						 .issuer = FUZZ_ES_ISSUER,
						 .audience = FUZZ_AUDIENCE,
						 .algorithms = 1u << HG_ALG_ES256,
						 .key_file = es};
	fuzz_cfg.tenants = fuzz_tenants;
	fuzz_cfg.n_tenants = 2;
	fuzz_cfg.auth_token_cache_entries = cache_entries;
	fuzz_cfg.auth_token_cache_s = 300;
	struct hg_auth *a = auth_new(&fuzz_cfg, err, sizeof err);
	unlink(hs);
	unlink(es);
	rmdir(dir);
	if (!a) {
		fprintf(stderr, "auth_new: %s\n", err);
		abort();
	}
	/* The configuration's strings pointed into this frame: only the names stay in use. */
	fuzz_tenants[0].key_file = fuzz_tenants[1].key_file = NULL;
	return a;
}

/* What every verification promises, whatever the input: one of two answers; a failure
 * explains itself without repeating the token; a success names a configured tenant and a
 * printable subject. */
static void fuzz_check_verdict(hg_err e, const char *authz, const struct hg_principal *who, const char *detail)
{
	FUZZ_ASSERT(e == HG_OK || e == HG_E_UNAUTHENTICATED);
	if (e != HG_OK) {
		FUZZ_ASSERT(detail[0] != '\0');
		size_t n = authz ? strlen(authz) : 0;
		if (n > 7 + 16)
			FUZZ_ASSERT(strstr(detail, authz + 7) == NULL);
		return;
	}
	FUZZ_ASSERT(who->tenant == &fuzz_tenants[0] || who->tenant == &fuzz_tenants[1]);
	size_t n = strlen(who->sub);
	FUZZ_ASSERT(n >= 1 && n <= HG_MAX_SUB_LEN);
	for (size_t i = 0; i < n; i++)
		FUZZ_ASSERT(who->sub[i] >= 0x20 && who->sub[i] <= 0x7e);
	FUZZ_ASSERT(who->scopes < 1u << HG_SCOPE_COUNT);
}

#endif
