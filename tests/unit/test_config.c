/* The configuration loader: defaults, and refusal of anything unknown or invalid, with a
 * message that names the key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

START_TEST(test_config_tls_keys_and_quota_rules)
{
	char err[512] = "";
	struct hg_config *c =
	    load_text("{\"tls\": {\"cert_file\": \"/c\", \"key_file\": \"/k\", \"min_version\": \"1.3\"},"
		      "\"http\": {\"max_header_bytes\": 8192}," MINIMAL_DB_HSM
		      "\"tenants\": [{\"name\": \"acme\", \"issuer\": \"i\", \"audience\": \"a\","
		      " \"algorithms\": [\"ES256\"], \"keys\": {\"2026-01\": \"/k1\", \"2026-07\": \"/k2\"},"
		      " \"rate_limit_per_second\": 50, \"max_concurrent\": 4}]}",
		      err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->tls_min_version, "1.3");
	ck_assert_str_eq(c->tenants[0].keys[1], "2026-07=/k2");
	ck_assert_ptr_null(c->tenants[0].key_file);
	ck_assert_uint_eq(c->tenants[0].rate_per_s, 50);
	ck_assert_uint_eq(c->tenants[0].rate_burst, 0);
	ck_assert_uint_eq(c->tenants[0].max_concurrent, 4);
	ck_assert_uint_eq(c->http_max_header_bytes, 8192);
	config_free(c);
	assert_refused("{\"tls\": {\"cert_file\": \"/c\"}," MINIMAL_DB_HSM ONE_TENANT "}", "go together");
	assert_refused(
	    "{\"tls\": {\"cert_file\": \"/c\", \"key_file\": \"/k\", \"min_version\": \"1.1\"}," MINIMAL_DB_HSM
		ONE_TENANT "}",
	    "tls.min_version");
	assert_refused("{" MINIMAL_DB_HSM "\"tenants\": [{\"name\": \"a\", \"issuer\": \"i\", \"audience\": \"a\","
		       " \"algorithms\": [\"ES256\"]}]}",
		       "key_file or keys");
	assert_refused("{" MINIMAL_DB_HSM "\"tenants\": [{\"name\": \"a\", \"issuer\": \"i\", \"audience\": \"a\","
		       " \"algorithms\": [\"ES256\"], \"key_file\": \"/k\", \"client_cert_subject\": \"CN=a\"}]}",
		       "needs tls.client_ca_file");
}
END_TEST

START_TEST(test_secret_files_must_be_private_to_the_daemons_user)
{
	char err[512] = "", pin[] = "/tmp/hsmgw-pin-XXXXXX";
	int fd = mkstemp(pin);
	ck_assert_int_ge(fd, 0);
	close(fd);
	char text[1024];
	snprintf(text, sizeof text,
		 "{\"database\": {\"conninfo\": \"dbname=x\"}, \"hsm\": {\"module\": \"/m.so\", \"token_label\": \"t\","
		 " \"pin_file\": \"%s\"}," ONE_TENANT "}",
		 pin);
	struct hg_config *c = load_text(text, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(chmod(pin, 0600), 0);
	ck_assert_msg(config_check_secret_files(c, err, sizeof err), "%s", err);
	ck_assert_int_eq(chmod(pin, 0640), 0);
	ck_assert(!config_check_secret_files(c, err, sizeof err));
	ck_assert_msg(strstr(err, "hsm.pin_file") && strstr(err, "chmod 600"), "%s", err);
	ck_assert_int_eq(chmod(pin, 0600), 0);
	if (geteuid() == 0) { /* as root, the test can give the file away */
		ck_assert_int_eq(chown(pin, 65534, 65534), 0);
		ck_assert(!config_check_secret_files(c, err, sizeof err));
		ck_assert_msg(strstr(err, "owned by uid 65534"), "%s", err);
	}
	unlink(pin);
	ck_assert(!config_check_secret_files(c, err, sizeof err));
	ck_assert_msg(strstr(err, "No such file"), "%s", err);
	config_free(c);
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
	tcase_add_test(tc, test_config_tls_keys_and_quota_rules);
	tcase_add_test(tc, test_secret_files_must_be_private_to_the_daemons_user);
	suite_add_tcase(s, tc);
	return s;
}
