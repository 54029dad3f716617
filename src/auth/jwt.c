/* Bearer JWT verification.
 *
 * Order matters (RFC 8725): the unverified payload only selects the tenant by `iss`; the
 * header's `alg` must be in that tenant's allow-list before any signature check, because
 * libjwt verifies with whatever algorithm the header names — without the check, an RSA or
 * EC public key PEM would be accepted as an HMAC secret. Only after libjwt has verified the
 * signature with the tenant's key are the claims trusted. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "hsmgw/auth.h"

/* One verification key; kid is NULL for a tenant's single key_file. */
struct verify_key {
	char *kid;
	unsigned char *key;
	size_t key_len;
};

struct tenant_key {
	const struct hg_tenant_cfg *cfg;
	struct verify_key *k;
	size_t n;
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

/* "typ" as RFC 8725 §3.11 and RFC 7515 §4.1.9 compare it: case-insensitive, and
 * "application/" may be left out. */
static bool typ_matches(const char *got, const char *want)
{
	if (strncasecmp(got, "application/", 12) == 0)
		got += 12;
	if (strncasecmp(want, "application/", 12) == 0)
		want += 12;
	return strcasecmp(got, want) == 0;
}

/* Reads one verification key and checks it suits the tenant's algorithms, so that no key
 * can serve another family (RFC 8725 §3.1): an HMAC secret is never a PEM document and is at
 * least 32 bytes; a public key is a PEM of the type its algorithms need (RSA for RS*, EC for
 * ES*). */
static bool load_key(const struct hg_tenant_cfg *t, const char *kid, const char *file, struct verify_key *out,
		     char *err, size_t len)
{
	out->key = (unsigned char *)file_read_all(file, 64 * 1024, &out->key_len);
	out->kid = kid ? strdup(kid) : NULL;
	if (!out->key || out->key_len == 0) {
		snprintf(err, len, "tenant %s: cannot read key file %s", t->name, file);
		return false;
	}
	bool hs = t->algorithms & ((1u << HG_ALG_HS256) | (1u << HG_ALG_HS384) | (1u << HG_ALG_HS512));
	bool pem = strstr((const char *)out->key, "-----BEGIN") != NULL;
	if (hs) {
		if (pem || out->key_len < 32) {
			snprintf(err, len,
				 "tenant %s: %s: an HS* secret must be at least 32 bytes and not a PEM document",
				 t->name, file);
			return false;
		}
		return true;
	}
	BIO *b = BIO_new_mem_buf(out->key, (int)out->key_len);
	EVP_PKEY *pk = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
	bool rs = t->algorithms & ((1u << HG_ALG_RS256) | (1u << HG_ALG_RS384) | (1u << HG_ALG_RS512));
	bool ok = pk && EVP_PKEY_is_a(pk, rs ? "RSA" : "EC");
	EVP_PKEY_free(pk);
	BIO_free(b);
	if (!ok)
		snprintf(err, len, "tenant %s: %s is not a PEM %s public key", t->name, file, rs ? "RSA" : "EC");
	return ok;
}

struct hg_auth *auth_new(const struct hg_config *cfg, char *err, size_t len)
{
	struct hg_auth *a = calloc(1, sizeof *a);
	a->t = calloc(cfg->n_tenants, sizeof *a->t);
	for (size_t i = 0; i < cfg->n_tenants; i++) {
		struct tenant_key *t = &a->t[a->n++];
		t->cfg = &cfg->tenants[i];
		if (t->cfg->typ && !typ_matches(t->cfg->typ, "JWT")) {
			/* libjwt 1.10 itself refuses a token whose typ is not JWT. */
			snprintf(err, len, "tenant %s: typ can only be JWT (the JWT library refuses other types)",
				 t->cfg->name);
			auth_free(a);
			return NULL;
		}
		size_t n = 0;
		while (t->cfg->keys && t->cfg->keys[n])
			n++;
		t->k = calloc(n ? n : 1, sizeof *t->k);
		if (!t->cfg->keys) {
			t->n = 1;
			if (!load_key(t->cfg, NULL, t->cfg->key_file, &t->k[0], err, len)) {
				auth_free(a);
				return NULL;
			}
			continue;
		}
		for (size_t j = 0; j < n; j++) {
			const char *entry = t->cfg->keys[j], *eq = strchr(entry, '=');
			char kid[256];
			snprintf(kid, sizeof kid, "%.*s", (int)(eq - entry), entry);
			t->n++;
			if (!load_key(t->cfg, kid, eq + 1, &t->k[j], err, len)) {
				auth_free(a);
				return NULL;
			}
		}
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
	for (size_t i = 0; i < a->n; i++) {
		for (size_t j = 0; j < a->t[i].n; j++) {
			hg_free_secret(a->t[i].k[j].key, a->t[i].k[j].key_len + 1);
			free(a->t[i].k[j].kid);
		}
		free(a->t[i].k);
	}
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
	/* Compared with now ∓ the leeway, never claim ± leeway: a claim may be any 64-bit value. */
	if (json_integer_value(exp) < (json_int_t)now - HG_JWT_LEEWAY_S)
		return deny(detail, len, "token expired");
	if (nbf && (!json_is_integer(nbf) || json_integer_value(nbf) > (json_int_t)now + HG_JWT_LEEWAY_S))
		return deny(detail, len, "token not valid yet (nbf)");
	json_t *iat = json_object_get(claims, "iat");
	if (iat && (!json_is_integer(iat) || json_integer_value(iat) > (json_int_t)now + HG_JWT_LEEWAY_S))
		return deny(detail, len, "token issued in the future (iat)");
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
	json_int_t e = json_integer_value(exp);
	*valid_until = e > INT64_MAX - HG_JWT_LEEWAY_S ? INT64_MAX : e + HG_JWT_LEEWAY_S;
	return HG_OK;
}

/* The unverified header's other rules: the typ the tenant requires, and the key its kid
 * names (a tenant with several keys needs a kid that is one of them; with a single key the
 * kid is not needed and not used). */
static hg_err header_checks(const struct tenant_key *t, json_t *hdr, const struct verify_key **k, char *detail,
			    size_t len)
{
	const char *typ = json_string_value(json_object_get(hdr, "typ"));
	if (t->cfg->typ && (!typ || !typ_matches(typ, t->cfg->typ)))
		return deny(detail, len, "token typ is not the one this issuer uses");
	json_t *kidv = json_object_get(hdr, "kid");
	if (kidv && !json_is_string(kidv))
		return deny(detail, len, "token kid must be a string");
	if (!t->cfg->keys) {
		*k = &t->k[0];
		return HG_OK;
	}
	const char *kid = json_string_value(kidv);
	if (!kid)
		return deny(detail, len, "token has no kid (this issuer has several keys)");
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->k[i].kid, kid) == 0) {
			*k = &t->k[i];
			return HG_OK;
		}
	return deny(detail, len, "token kid names no key of this issuer");
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
	const struct verify_key *k = NULL;
	if (e == HG_OK)
		e = header_checks(t, hdr, &k, detail, len);
	if (e == HG_OK) {
		jwt_t *jwt = NULL;
		/* libjwt 1.10 takes the key length as int. */
		if (jwt_decode(&jwt, tok, k->key, (int)k->key_len) != 0 || !jwt ||
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
