/* The key metadata cache: a request names a key, and without it every request would ask
 * PostgreSQL for the key's row before touching the HSM. Entries are copies of rows, keyed by
 * (tenant, the UUID or name the caller used), direct-mapped, with a lock per stripe.
 *
 * An entry is current while two things hold: no change to any key was committed since it was
 * read (db_keys_generation: this process's changes count at once, other processes' when
 * PostgreSQL's notice arrives, and while notices cannot be heard nothing is current), and it
 * is younger than keys.cache_ms, which bounds what a notice lost in flight could cost. Only
 * keys found are cached. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hsmgw/keys.h"

#define STRIPES 64

struct slot {
	char tenant[64];
	char name[HG_MAX_NAME + 1];
	uint64_t gen;
	int64_t until_us;
	struct hg_key_row *row; /* NULL: empty */
};

struct hg_key_cache {
	pthread_mutex_t mu[STRIPES];
	struct slot *slots;
	size_t mask;
	int64_t ttl_us;
	atomic_ulong hits, misses;
};

struct hg_key_cache *key_cache_new(unsigned entries, unsigned ttl_ms)
{
	if (entries == 0)
		return NULL;
	struct hg_key_cache *c = calloc(1, sizeof *c);
	size_t n = 1;
	while (n < entries)
		n <<= 1;
	if (!c || !(c->slots = calloc(n, sizeof *c->slots))) {
		free(c);
		return NULL;
	}
	c->mask = n - 1;
	c->ttl_us = (int64_t)ttl_ms * 1000;
	for (size_t i = 0; i < STRIPES; i++)
		pthread_mutex_init(&c->mu[i], NULL);
	return c;
}

void key_cache_free(struct hg_key_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i <= c->mask; i++)
		key_row_free(c->slots[i].row);
	for (size_t i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&c->mu[i]);
	free(c->slots);
	free(c);
}

/* FNV-1a over tenant, a separator and name. */
static struct slot *slot_of(struct hg_key_cache *c, const char *tenant, const char *name, pthread_mutex_t **mu)
{
	uint64_t h = 14695981039346656037ull;
	for (const char *p = tenant; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	h = (h ^ 0xff) * 1099511628211ull;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	size_t i = (size_t)h & c->mask;
	*mu = &c->mu[i % STRIPES];
	return &c->slots[i];
}

static bool fits(const char *tenant, const char *name)
{
	return strlen(tenant) < sizeof((struct slot *)0)->tenant && strlen(name) < sizeof((struct slot *)0)->name;
}

bool key_cache_get(struct hg_key_cache *c, const char *tenant, const char *name, uint64_t gen, struct hg_key_row **out)
{
	if (!c || gen == 0 || !fits(tenant, name))
		return false;
	pthread_mutex_t *mu;
	struct slot *s = slot_of(c, tenant, name, &mu);
	*out = NULL;
	pthread_mutex_lock(mu);
	if (s->row && s->gen == gen && s->until_us > time_mono_us() && strcmp(s->tenant, tenant) == 0 &&
	    strcmp(s->name, name) == 0)
		*out = key_row_dup(s->row);
	pthread_mutex_unlock(mu);
	atomic_fetch_add(*out ? &c->hits : &c->misses, 1);
	return *out != NULL;
}

void key_cache_put(struct hg_key_cache *c, const char *tenant, const char *name, uint64_t gen,
		   const struct hg_key_row *row)
{
	if (!c || gen == 0 || !fits(tenant, name))
		return;
	struct hg_key_row *copy = key_row_dup(row);
	if (!copy)
		return;
	pthread_mutex_t *mu;
	struct slot *s = slot_of(c, tenant, name, &mu);
	pthread_mutex_lock(mu);
	struct hg_key_row *old = s->row;
	snprintf(s->tenant, sizeof s->tenant, "%s", tenant);
	snprintf(s->name, sizeof s->name, "%s", name);
	s->gen = gen;
	s->until_us = time_mono_us() + c->ttl_us;
	s->row = copy;
	pthread_mutex_unlock(mu);
	key_row_free(old);
}

void key_cache_stats(const struct hg_key_cache *c, unsigned long *hits, unsigned long *misses)
{
	*hits = c ? atomic_load(&c->hits) : 0;
	*misses = c ? atomic_load(&c->misses) : 0;
}
