/* The configuration loader: defaults, and refusal of anything unknown or invalid, with a
 * message that names the key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hsmgw/config.h"
#include "unit.h"

#define MINIMAL_DB_HSM                                                                                                 \
	"\"database\": {\"conninfo\": \"dbname=x\"},"                                                                  \
	"\"hsm\": {\"module\": \"/m.so\", \"token_label\": \"t\", \"pin_file\": \"/p\"},"
#define ONE_TENANT                                                                                                     \
	"\"tenants\": [{\"name\": \"acme\", \"issuer\": \"i\", \"audience\": \"a\", \"algorithms\": [\"ES256\"],"      \
	" \"key_file\": \"/k\"}]"

/* Loads text as a config file; err receives the reason on failure. */
static struct hg_config *load_text(const char *text, char *err, size_t len)
{
	char path[] = "/tmp/hsmgw-config-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	struct hg_config *c = config_load(path, err, len);
	unlink(path);
	return c;
}

START_TEST(test_config_minimal_gets_documented_defaults)
{
	char err[512] = "";
	struct hg_config *c = load_text("{" MINIMAL_DB_HSM ONE_TENANT "}", err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->listen_address, "127.0.0.1");
	ck_assert_uint_eq(c->listen_port, 8080);
	ck_assert_uint_eq(c->http_max_body_bytes, 1048576);
	ck_assert_uint_eq(c->hsm_sessions, 8);
	ck_assert_uint_eq(c->n_tenants, 1);
	ck_assert_uint_eq(c->tenants[0].algorithms, 1u << HG_ALG_ES256);
	ck_assert_ptr_nonnull(config_tenant(c, "acme"));
	ck_assert_ptr_null(config_tenant(c, "globex"));
	config_free(c);
}
END_TEST

static void assert_refused(const char *text, const char *needle)
{
	char err[512] = "";
	struct hg_config *c = load_text(text, err, sizeof err);
	ck_assert_msg(c == NULL, "accepted: %s", text);
	ck_assert_msg(strstr(err, needle) != NULL, "error \"%s\" does not name \"%s\"", err, needle);
}

START_TEST(test_config_refuses_unknown_keys_by_name)
{
	assert_refused("{" MINIMAL_DB_HSM ONE_TENANT ", \"bogus\": 1}", "unknown key bogus");
	assert_refused("{\"listen\": {\"prot\": 1}," MINIMAL_DB_HSM ONE_TENANT "}", "unknown key listen.prot");
	assert_refused("{" MINIMAL_DB_HSM "\"tenants\": [{\"name\": \"a\", \"issuer\": \"i\", \"audience\": \"a\","
		       " \"algorithms\": [\"ES256\"], \"key_file\": \"/k\", \"colour\": \"red\"}]}",
		       "unknown key tenants[0].colour");
}
END_TEST

START_TEST(test_config_refuses_invalid_values)
{
	assert_refused("{\"listen\": {\"port\": 70000}," MINIMAL_DB_HSM ONE_TENANT "}", "listen.port");
	assert_refused("{\"listen\": {\"port\": \"80\"}," MINIMAL_DB_HSM ONE_TENANT "}", "listen.port");
	assert_refused("{\"log\": {\"level\": \"loud\"}," MINIMAL_DB_HSM ONE_TENANT "}", "log.level");
	assert_refused("{" MINIMAL_DB_HSM "\"tenants\": [{\"name\": \"a\", \"issuer\": \"i\", \"audience\": \"a\","
		       " \"algorithms\": [\"none\"], \"key_file\": \"/k\"}]}",
		       "unsupported algorithm none");
	assert_refused("{" MINIMAL_DB_HSM "\"tenants\": [{\"name\": \"a\", \"issuer\": \"i\", \"audience\": \"a\","
		       " \"algorithms\": [\"ES256\", \"HS256\"], \"key_file\": \"/k\"}]}",
		       "tenants[0].algorithms: one tenant's algorithms must all be");
	assert_refused("{" MINIMAL_DB_HSM "\"tenants\": [{\"name\": \"a\", \"issuer\": \"i\", \"audience\": \"a\","
		       " \"algorithms\": [\"RS256\", \"ES256\"], \"key_file\": \"/k\"}]}",
		       "tenants[0].algorithms: one tenant's algorithms must all be");
	assert_refused("{" MINIMAL_DB_HSM "\"tenants\": [{\"name\": \"a\", \"issuer\": \"i\", \"audience\": \"a\","
		       " \"algorithms\": [\"ES256\"], \"key_file\": \"/k\"}, {\"name\": \"b\", \"issuer\": \"i\","
		       " \"audience\": \"a\", \"algorithms\": [\"ES256\"], \"key_file\": \"/k\"}]}",
		       "duplicate issuer");
}
END_TEST

START_TEST(test_config_refuses_missing_required_keys)
{
	assert_refused("{\"hsm\": {\"module\": \"/m.so\", \"token_label\": \"t\", \"pin_file\": \"/p\"}," ONE_TENANT
		       "}",
		       "database.conninfo");
	assert_refused("{" MINIMAL_DB_HSM "\"tenants\": [{\"name\": \"a\"}]}", "tenants[0].issuer");
	assert_refused("{\"database\": {\"conninfo\": \"x\"}, \"hsm\": {\"module\": \"/m.so\", \"token_label\": \"t\","
		       " \"pin_file\": \"/p\"}}",
		       "tenants");
	assert_refused("{ not json", "line 1");
}
END_TEST

Suite *suite_config(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");
	tcase_add_test(tc, test_config_minimal_gets_documented_defaults);
	tcase_add_test(tc, test_config_refuses_unknown_keys_by_name);
	tcase_add_test(tc, test_config_refuses_invalid_values);
	tcase_add_test(tc, test_config_refuses_missing_required_keys);
	suite_add_tcase(s, tc);
	return s;
}
