/* The key metadata cache: copies, isolation by tenant, the generation rule and the age limit. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hsmgw/keys.h"
#include "unit.h"

static struct hg_key_row *row(const char *tenant, const char *name, const char *state)
{
	struct hg_key_row *k = calloc(1, sizeof *k);
	snprintf(k->tenant, sizeof k->tenant, "%s", tenant);
	snprintf(k->name, sizeof k->name, "%s", name);
	snprintf(k->state, sizeof k->state, "%s", state);
	k->usage = calloc(3, sizeof *k->usage);
	k->usage[0] = strdup("encrypt");
	k->usage[1] = strdup("decrypt");
	k->labels_json = strdup("{\"team\":\"payments\"}");
	k->policy_json = strdup("{}");
	k->n_versions = 2;
	k->versions = calloc(2, sizeof *k->versions);
	k->versions[0].version = 1;
	k->versions[1].version = 2;
	snprintf(k->versions[1].state, sizeof k->versions[1].state, "primary");
	k->primary_version = 2;
	return k;
}

START_TEST(test_a_hit_is_a_deep_copy_of_what_was_put)
{
	struct hg_key_cache *c = key_cache_new(8, 60000);
	struct hg_key_row *k = row("acme", "orders", "active"), *got = NULL;
	key_cache_put(c, "acme", "orders", 7, k);
	key_row_free(k); /* the cache holds its own copy */
	ck_assert(key_cache_get(c, "acme", "orders", 7, &got));
	ck_assert_str_eq(got->state, "active");
	ck_assert_str_eq(got->usage[1], "decrypt");
	ck_assert_ptr_null(got->usage[2]);
	ck_assert_str_eq(got->labels_json, "{\"team\":\"payments\"}");
	ck_assert_ptr_null(got->description);
	ck_assert_uint_eq(got->n_versions, 2);
	ck_assert_str_eq(got->versions[1].state, "primary");
	struct hg_key_row *again = NULL;
	ck_assert(key_cache_get(c, "acme", "orders", 7, &again));
	ck_assert_ptr_ne(again, got);
	ck_assert_ptr_ne(again->usage, got->usage);
	key_row_free(got);
	key_row_free(again);
	unsigned long hits, misses;
	key_cache_stats(c, &hits, &misses);
	ck_assert_uint_eq(hits, 2);
	ck_assert_uint_eq(misses, 0);
	key_cache_free(c);
}
END_TEST

START_TEST(test_another_tenant_or_name_misses)
{
	struct hg_key_cache *c = key_cache_new(8, 60000);
	struct hg_key_row *k = row("acme", "orders", "active"), *got = NULL;
	key_cache_put(c, "acme", "orders", 1, k);
	ck_assert(!key_cache_get(c, "globex", "orders", 1, &got));
	ck_assert(!key_cache_get(c, "acme", "order", 1, &got));
	ck_assert(!key_cache_get(c, "acmeorders", "", 1, &got));
	ck_assert_ptr_null(got);
	key_row_free(k);
	key_cache_free(c);
}
END_TEST

START_TEST(test_a_change_committed_since_makes_the_copy_stale)
{
	struct hg_key_cache *c = key_cache_new(8, 60000);
	struct hg_key_row *k = row("acme", "orders", "active"), *got = NULL;
	key_cache_put(c, "acme", "orders", 41, k);
	ck_assert(!key_cache_get(c, "acme", "orders", 42, &got));
	/* A newer read replaces it. */
	snprintf(k->state, sizeof k->state, "suspended");
	key_cache_put(c, "acme", "orders", 42, k);
	ck_assert(key_cache_get(c, "acme", "orders", 42, &got));
	ck_assert_str_eq(got->state, "suspended");
	key_row_free(got);
	key_row_free(k);
	key_cache_free(c);
}
END_TEST

START_TEST(test_entries_expire_after_their_age_limit)
{
	struct hg_key_cache *c = key_cache_new(8, 200);
	struct hg_key_row *k = row("acme", "orders", "active"), *got = NULL;
	key_cache_put(c, "acme", "orders", 1, k);
	ck_assert(key_cache_get(c, "acme", "orders", 1, &got));
	key_row_free(got);
	got = NULL;
	usleep(300 * 1000);
	ck_assert(!key_cache_get(c, "acme", "orders", 1, &got));
	ck_assert_ptr_null(got);
	key_row_free(k);
	key_cache_free(c);
}
END_TEST

START_TEST(test_generation_zero_means_nothing_is_current)
{
	/* db_keys_generation is 0 while other processes' changes cannot be heard. */
	struct hg_key_cache *c = key_cache_new(8, 60000);
	struct hg_key_row *k = row("acme", "orders", "active"), *got = NULL;
	key_cache_put(c, "acme", "orders", 0, k);
	ck_assert(!key_cache_get(c, "acme", "orders", 0, &got));
	key_cache_put(c, "acme", "orders", 5, k);
	ck_assert(!key_cache_get(c, "acme", "orders", 0, &got));
	ck_assert(key_cache_get(c, "acme", "orders", 5, &got));
	key_row_free(got);
	key_row_free(k);
	key_cache_free(c);
}
END_TEST

START_TEST(test_zero_entries_is_no_cache)
{
	struct hg_key_cache *c = key_cache_new(0, 1000);
	ck_assert_ptr_null(c);
	struct hg_key_row *k = row("acme", "orders", "active"), *got = NULL;
	key_cache_put(c, "acme", "orders", 1, k);
	ck_assert(!key_cache_get(c, "acme", "orders", 1, &got));
	key_row_free(k);
}
END_TEST

Suite *suite_keycache(void)
{
	Suite *s = suite_create("keycache");
	TCase *tc = tcase_create("cache");
	tcase_add_test(tc, test_a_hit_is_a_deep_copy_of_what_was_put);
	tcase_add_test(tc, test_another_tenant_or_name_misses);
	tcase_add_test(tc, test_a_change_committed_since_makes_the_copy_stale);
	tcase_add_test(tc, test_entries_expire_after_their_age_limit);
	tcase_add_test(tc, test_generation_zero_means_nothing_is_current);
	tcase_add_test(tc, test_zero_entries_is_no_cache);
	suite_add_tcase(s, tc);
	return s;
}
