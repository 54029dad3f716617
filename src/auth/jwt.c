/* Bearer JWT verification.
 *
 * Order matters (RFC 8725): the unverified payload only selects the tenant by `iss`; the
 * header's `alg` must be in that tenant's allow-list before any signature check, because
 * libjwt verifies with whatever algorithm the header names — without the check, an RSA or
 * EC public key PEM would be accepted as an HMAC secret. Only after libjwt has verified the
 * signature with the tenant's key are the claims trusted. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "hsmgw/auth.h"

struct tenant_key {
	const struct hg_tenant_cfg *cfg;
	unsigned char *key;
	size_t key_len;
};

/* The verified-token cache. Verifying a signature costs far more than the rest of a
 * request (libjwt also parses the tenant's PEM key each time), and clients send the same
 * token for its whole lifetime. A token that verified is remembered by its SHA-256 — never
 * the bearer string itself — with the principal it yields, until its exp (plus the leeway)
 * or auth.token_cache_seconds, whichever comes first. Only successes are cached; a miss
 * verifies in full. Direct-mapped, with a lock per stripe of slots. */
#define TOKEN_STRIPES 64

struct token_slot {
	unsigned char digest[SHA256_DIGEST_LENGTH];
	int64_t until_s; /* 0: empty */
	struct hg_principal who;
};

struct token_cache {
	pthread_mutex_t mu[TOKEN_STRIPES];
	struct token_slot *slots;
	size_t mask; /* slots - 1 (a power of two) */
	unsigned ttl_s;
	EVP_MD *sha256; /* fetched once: an implicit fetch per call takes OpenSSL's global locks */
	atomic_ulong hits, misses;
};

struct hg_auth {
	struct tenant_key *t;
	size_t n;
	struct token_cache *cache; /* NULL: none */
};

static const char *const scope_names[HG_SCOPE_COUNT] = {
#define HG_SCOPE_NAME(e, s) [e##_BIT] = s,
    HG_SCOPES(HG_SCOPE_NAME)
#undef HG_SCOPE_NAME
};

unsigned auth_scope_bit(const char *name)
{
	for (unsigned i = 0; i < HG_SCOPE_COUNT; i++)
		if (strcmp(scope_names[i], name) == 0)
			return 1u << i;
	return 0;
}

const char *auth_scope_name(unsigned bit)
{
	for (unsigned i = 0; i < HG_SCOPE_COUNT; i++)
		if (bit == 1u << i)
			return scope_names[i];
	return "";
}

struct hg_auth *auth_new(const struct hg_config *cfg, char *err, size_t len)
{
	struct hg_auth *a = calloc(1, sizeof *a);
	a->t = calloc(cfg->n_tenants, sizeof *a->t);
	for (size_t i = 0; i < cfg->n_tenants; i++) {
		struct tenant_key *t = &a->t[a->n];
		t->cfg = &cfg->tenants[i];
		t->key = (unsigned char *)file_read_all(t->cfg->key_file, 64 * 1024, &t->key_len);
		if (!t->key || t->key_len == 0) {
			snprintf(err, len, "tenant %s: cannot read key_file %s", t->cfg->name, t->cfg->key_file);
			auth_free(a);
			return NULL;
		}
		a->n++;
	}
	if (cfg->auth_token_cache_entries > 0) {
		struct token_cache *c = calloc(1, sizeof *c);
		size_t n = 1;
		while (n < cfg->auth_token_cache_entries)
			n <<= 1;
		c->slots = calloc(n, sizeof *c->slots);
		c->mask = n - 1;
		c->ttl_s = cfg->auth_token_cache_s;
		c->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
		for (size_t i = 0; i < TOKEN_STRIPES; i++)
			pthread_mutex_init(&c->mu[i], NULL);
		a->cache = c;
		if (!c->slots || !c->sha256) {
			snprintf(err, len, "cannot set up the token cache");
			auth_free(a);
			return NULL;
		}
	}
	return a;
}

static void cache_free(struct token_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < TOKEN_STRIPES; i++)
		pthread_mutex_destroy(&c->mu[i]);
	free(c->slots);
	EVP_MD_free(c->sha256);
	free(c);
}

void auth_cache_stats(const struct hg_auth *a, unsigned long *hits, unsigned long *misses)
{
	*hits = a && a->cache ? atomic_load(&a->cache->hits) : 0;
	*misses = a && a->cache ? atomic_load(&a->cache->misses) : 0;
}

/* The slot a token digest maps to, and its stripe's lock. */
static struct token_slot *cache_slot(struct token_cache *c, const unsigned char *d, pthread_mutex_t **mu)
{
	uint64_t h;
	memcpy(&h, d, sizeof h);
	size_t i = (size_t)h & c->mask;
	*mu = &c->mu[i % TOKEN_STRIPES];
	return &c->slots[i];
}

static bool cache_get(struct token_cache *c, const unsigned char *d, int64_t now, struct hg_principal *who)
{
	pthread_mutex_t *mu;
	struct token_slot *s = cache_slot(c, d, &mu);
	pthread_mutex_lock(mu);
	bool hit = s->until_s > now && CRYPTO_memcmp(s->digest, d, SHA256_DIGEST_LENGTH) == 0;
	if (hit)
		*who = s->who;
	pthread_mutex_unlock(mu);
	atomic_fetch_add(hit ? &c->hits : &c->misses, 1);
	return hit;
}

static void cache_put(struct token_cache *c, const unsigned char *d, int64_t until, const struct hg_principal *who)
{
	pthread_mutex_t *mu;
	struct token_slot *s = cache_slot(c, d, &mu);
	pthread_mutex_lock(mu);
	memcpy(s->digest, d, SHA256_DIGEST_LENGTH);
	s->until_s = until;
	s->who = *who;
	pthread_mutex_unlock(mu);
}

void auth_free(struct hg_auth *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		hg_free_secret(a->t[i].key, a->t[i].key_len + 1);
	free(a->t);
	cache_free(a->cache);
	free(a);
}

static hg_err deny(char *detail, size_t len, const char *why)
{
	snprintf(detail, len, "%s", why);
	return HG_E_UNAUTHENTICATED;
}

/* Decodes one base64url segment into a JSON object, or NULL. */
static json_t *segment_json(const char *seg, size_t n)
{
	uint8_t *raw;
	size_t raw_len;
	if (b64url_decode(seg, n, HG_MAX_TOKEN_LEN, &raw, &raw_len) != 0)
		return NULL;
	json_t *j = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, NULL);
	free(raw);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static const struct tenant_key *tenant_by_issuer(const struct hg_auth *a, const char *iss)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->t[i].cfg->issuer, iss) == 0)
			return &a->t[i];
	return NULL;
}

static bool audience_ok(json_t *aud, const char *want)
{
	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	size_t i;
	json_t *v;
	json_array_foreach (aud, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
			return true;
	}
	return false;
}

/* A subject is logged and audited: printable ASCII only, bounded. */
static bool subject_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > HG_MAX_SUB_LEN)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

static unsigned parse_scopes(const char *s)
{
	unsigned bits = 0;
	char word[64];
	while (*s) {
		size_t n = strcspn(s, " ");
		if (n > 0 && n < sizeof word) {
			memcpy(word, s, n);
			word[n] = '\0';
			bits |= auth_scope_bit(word);
		}
		s += n;
		s += strspn(s, " ");
	}
	return bits;
}

/* Checks the trusted claims of a verified token. */
static hg_err check_claims(const struct tenant_key *t, json_t *claims, time_t now, struct hg_principal *who,
			   int64_t *valid_until, char *detail, size_t len)
{
	json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
	if (!json_is_integer(exp))
		return deny(detail, len, "token has no exp claim");
	if (json_integer_value(exp) + HG_JWT_LEEWAY_S < now)
		return deny(detail, len, "token expired");
	if (nbf && (!json_is_integer(nbf) || json_integer_value(nbf) - HG_JWT_LEEWAY_S > now))
		return deny(detail, len, "token not valid yet (nbf)");
	if (!audience_ok(json_object_get(claims, "aud"), t->cfg->audience))
		return deny(detail, len, "token audience does not match");
	const char *sub = json_string_value(json_object_get(claims, "sub"));
	if (!sub || !subject_ok(sub))
		return deny(detail, len, "token has no valid sub claim");
	json_t *scope = json_object_get(claims, "scope");
	if (scope && !json_is_string(scope))
		return deny(detail, len, "token scope claim must be a string");
	who->tenant = t->cfg;
	snprintf(who->sub, sizeof who->sub, "%s", sub);
	who->scopes = scope ? parse_scopes(json_string_value(scope)) : 0;
	*valid_until = json_integer_value(exp) + HG_JWT_LEEWAY_S;
	return HG_OK;
}

hg_err auth_verify(const struct hg_auth *a, const char *authz, struct hg_principal *who, char *detail, size_t len)
{
	if (!authz)
		return deny(detail, len, "missing Authorization header");
	if (strncasecmp(authz, "Bearer ", 7) != 0)
		return deny(detail, len, "Authorization must use the Bearer scheme");
	const char *tok = authz + 7;
	size_t tlen = strlen(tok);
	if (tlen > HG_MAX_TOKEN_LEN)
		return deny(detail, len, "token too long");
	const char *d1 = memchr(tok, '.', tlen);
	const char *d2 = d1 ? memchr(d1 + 1, '.', tlen - (size_t)(d1 + 1 - tok)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', tlen - (size_t)(d2 + 1 - tok)))
		return deny(detail, len, "malformed token");
	time_t now = time(NULL);
	unsigned char digest[SHA256_DIGEST_LENGTH];
	struct token_cache *c = a->cache;
	if (c && EVP_Digest(tok, tlen, digest, NULL, c->sha256, NULL) != 1)
		c = NULL; /* no digest: verify in full, remember nothing */
	if (c && cache_get(c, digest, now, who))
		return HG_OK;
	json_t *hdr = segment_json(tok, (size_t)(d1 - tok));
	json_t *claims = segment_json(d1 + 1, (size_t)(d2 - d1 - 1));
	hg_err e = HG_OK;
	const struct tenant_key *t = NULL;
	const char *alg = hdr ? json_string_value(json_object_get(hdr, "alg")) : NULL;
	const char *iss = claims ? json_string_value(json_object_get(claims, "iss")) : NULL;
	unsigned alg_bit = 0;
	for (unsigned i = 0; alg && i < HG_ALG_COUNT; i++)
		if (strcmp(alg, hg_jwt_alg_names[i]) == 0)
			alg_bit = 1u << i;
	if (!hdr || !claims)
		e = deny(detail, len, "malformed token");
	else if (!iss || !(t = tenant_by_issuer(a, iss)))
		e = deny(detail, len, "unknown issuer");
	else if (!alg_bit || !(t->cfg->algorithms & alg_bit))
		e = deny(detail, len, "token algorithm not allowed for this issuer");
	else if ((size_t)(d2 + 1 - tok) == tlen)
		e = deny(detail, len, "token has no signature");
	if (e == HG_OK) {
		jwt_t *jwt = NULL;
		/* libjwt 1.10 takes the key length as int. */
		if (jwt_decode(&jwt, tok, t->key, (int)t->key_len) != 0 || !jwt ||
		    strcmp(jwt_alg_str(jwt_get_alg(jwt)), alg) != 0)
			e = deny(detail, len, "token signature does not verify");
		jwt_free(jwt);
	}
	int64_t until = 0;
	if (e == HG_OK)
		e = check_claims(t, claims, now, who, &until, detail, len);
	if (e == HG_OK && c)
		cache_put(c, digest, until < now + c->ttl_s ? until : now + c->ttl_s, who);
	json_decref(hdr);
	json_decref(claims);
	return e;
}
