/* The p11 layer against HSM faults: the token is SoftHSM behind tests/faultp11 (the test
 * configuration's hsm.module, commanded through FAULTP11_CONTROL), opened by each test with short
 * deadlines of its own. What is proved here, without HTTP: a device error fails the operation
 * once and replaces the session; a lost login is redone; a hung call is given up at the
 * deadline, the node goes down and fails fast, comes back, and the late session is replaced; a
 * key generation given up is undone when its call returns; without deadlines (0) calls run on
 * the caller's thread. Each test clears the control file before and after. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hsmgw/config.h"
#include "p11t.h"

static struct hg_config *cfg;
static struct hg_p11 *FP;

static const char *module_env(const char *name)
{
	size_t n = strlen(name);
	for (char **e = cfg->hsm_env; e && *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* Replaces the control file (NULL: no faults) and empties the record of fired faults. */
static void faults(const char *rules)
{
	const char *ctl = module_env("FAULTP11_CONTROL"), *log = module_env("FAULTP11_LOG");
	ck_assert_msg(ctl && log, "the test configuration's module is not faultp11 (deploy/dev/env.sh up ... faults)");
	char tmp[512];
	snprintf(tmp, sizeof tmp, "%s.tmp", ctl);
	FILE *f = fopen(tmp, "w");
	ck_assert_msg(f != NULL, "cannot write %s", tmp);
	fprintf(f, "%s\n", rules ? rules : "");
	fclose(f);
	f = fopen(log, "w");
	if (f)
		fclose(f);
	ck_assert_int_eq(rename(tmp, ctl), 0);
}

static long fired(void)
{
	FILE *f = fopen(module_env("FAULTP11_LOG"), "r");
	long n = 0;
	for (int c; f && (c = fgetc(f)) != EOF;)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

/* Opens FP with these deadlines (ms: operations, long operations); the health check every 50 ms, readmission after 200
 * ms. */
static void open_with(unsigned op_ms, unsigned long_ms)
{
	cfg->hsm_op_timeout_ms = op_ms;
	cfg->hsm_long_timeout_ms = long_ms;
	cfg->hsm_health_interval_ms = 50;
	cfg->hsm_breaker_cooldown_ms = 200;
	cfg->hsm_breaker_failures = 3;
	cfg->hsm_sessions = 4;
	char err[512] = "";
	FP = p11_open(cfg, err, sizeof err);
	ck_assert_msg(FP != NULL, "%s", err);
}

static void setup(void)
{
	const char *path = getenv("HSMGW_TEST_CONFIG");
	ck_assert_msg(path != NULL, "HSMGW_TEST_CONFIG is not set");
	char err[512] = "";
	cfg = config_load(path, err, sizeof err);
	ck_assert_msg(cfg != NULL, "%s", err);
	faults(NULL);
}

static void teardown(void)
{
	faults(NULL);
	p11_close(FP);
	config_free(cfg);
	FP = NULL;
	cfg = NULL;
}

static struct hg_p11_health health(void)
{
	struct hg_p11_health h;
	p11_health(FP, &h);
	return h;
}

/* Waits until the node is up again (false after limit_ms). */
static bool wait_up(unsigned limit_ms)
{
	for (unsigned i = 0; i < limit_ms / 10; i++) {
		if (health().up)
			return true;
		usleep(10 * 1000);
	}
	return false;
}

START_TEST(test_device_error_fails_the_operation_once_and_replaces_its_session)
{
	open_with(1000, 60000);
	uint8_t r[16];
	ck_assert_int_eq(p11_random(FP, r, sizeof r), HG_OK);
	faults("C_GenerateRandom rv=CKR_DEVICE_ERROR count=2");
	ck_assert_int_eq(p11_random(FP, r, sizeof r), HG_E_HSM_UNAVAILABLE);
	ck_assert_int_eq(fired(), 1); /* not repeated */
	struct hg_p11_health h = health();
	ck_assert(h.up); /* one failure is not the breaker's three */
	ck_assert_uint_eq(h.ops_failed, 1);
	ck_assert_uint_eq(h.sessions_replaced, 1);
	ck_assert_int_eq(p11_random(FP, r, sizeof r), HG_E_HSM_UNAVAILABLE);
	ck_assert_int_eq(p11_random(FP, r, sizeof r), HG_OK); /* count=2 is spent */
	h = health();
	ck_assert(h.up);
	ck_assert_uint_eq(h.sessions_replaced, 2);
	ck_assert_uint_eq(h.sessions_idle, h.sessions);
}
END_TEST

START_TEST(test_three_device_errors_open_the_breaker_until_the_health_check_answers)
{
	open_with(1000, 60000);
	uint8_t r[16];
	faults("C_GenerateRandom rv=CKR_DEVICE_ERROR");
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(p11_random(FP, r, sizeof r), HG_E_HSM_UNAVAILABLE);
	struct hg_p11_health h = health();
	ck_assert(!h.up);
	ck_assert_msg(strstr(h.reason, "3 failures") && strstr(h.reason, "CKR_DEVICE_ERROR"), "reason: %s", h.reason);
	ck_assert_uint_eq(h.downs, 1);
	ck_assert_int_eq(fired(), 3);
	ck_assert_int_eq(p11_random(FP, r, sizeof r), HG_E_HSM_UNAVAILABLE);
	ck_assert_int_eq(fired(), 3); /* refused without a call */
	ck_assert_uint_eq(health().ops_refused, 1);
	ck_assert_int_eq(p11_ping(FP), HG_E_HSM_UNAVAILABLE);
	faults(NULL);
	ck_assert(wait_up(2000));
	ck_assert_int_eq(p11_ping(FP), HG_OK);
	ck_assert_int_eq(p11_random(FP, r, sizeof r), HG_OK);
}
END_TEST

START_TEST(test_lost_login_is_redone_and_the_operation_repeated)
{
	open_with(1000, 60000);
	hg_uuid id = p11t_id();
	struct hg_p11_keyspec spec = {.type = HG_KT_EC, .curve_bits = 256, .usage = HG_P11_SIGN | HG_P11_VERIFY};
	char kcv[HG_KCV_HEX_LEN + 1];
	ck_assert_int_eq(p11_generate(FP, &id, &spec, kcv), HG_OK);
	uint8_t sig[HG_SIG_MAX];
	size_t n;
	ck_assert_int_eq(p11_sign(FP, &id, HG_SIG_ECDSA_SHA256, (const uint8_t *)"m", 1, false, sig, &n), HG_OK);
	faults("C_Sign rv=CKR_USER_NOT_LOGGED_IN count=1");
	ck_assert_int_eq(p11_sign(FP, &id, HG_SIG_ECDSA_SHA256, (const uint8_t *)"m", 1, false, sig, &n), HG_OK);
	ck_assert_int_eq(fired(), 1);
	struct hg_p11_health h = health();
	ck_assert_uint_eq(h.relogins, 1);
	ck_assert(h.up);
	/* The key is found again after the login (its handle may have changed). */
	ck_assert_int_eq(p11_sign(FP, &id, HG_SIG_ECDSA_SHA256, (const uint8_t *)"m", 1, false, sig, &n), HG_OK);
	ck_assert_int_eq(p11_destroy_all(FP, &id), HG_OK);
}
END_TEST

START_TEST(test_hung_call_is_given_up_at_the_deadline_and_its_session_replaced_when_it_returns)
{
	open_with(300, 60000);
	uint8_t r[16];
	ck_assert_int_eq(p11_random(FP, r, sizeof r), HG_OK);
	faults("C_GenerateRandom hang_ms=3000 count=1");
	int64_t t0 = time_mono_us();
	ck_assert_int_eq(p11_random(FP, r, sizeof r), HG_E_HSM_UNAVAILABLE);
	int64_t took = time_mono_us() - t0;
	/* At the deadline, with room for a loaded machine, and far from the 3 s of the hang. */
	ck_assert_msg(took >= 290000 && took < 1500000, "gave up after %lld ms", (long long)(took / 1000));
	struct hg_p11_health h = health();
	ck_assert(!h.up);
	ck_assert_msg(strstr(h.reason, "exceeded its deadline of 300 ms") != NULL, "reason: %s", h.reason);
	ck_assert_uint_eq(h.ops_timed_out, 1);
	ck_assert_uint_eq(h.sessions_abandoned, 1);
	t0 = time_mono_us();
	ck_assert_int_eq(p11_random(FP, r, sizeof r), HG_E_HSM_UNAVAILABLE);
	ck_assert_msg(time_mono_us() - t0 < 50000, "a request to a node that is down waited");
	/* The health check answers (only C_GenerateRandom hangs): back after the cool-down. */
	ck_assert(wait_up(2000));
	ck_assert_int_eq(p11_random(FP, r, sizeof r), HG_OK);
	/* The call returns at 3 s; its session is replaced and back in the pool. */
	int64_t left = 3000000 - (time_mono_us() - t0);
	if (left > 0)
		usleep((useconds_t)left);
	for (int i = 0; i < 100 && health().sessions_abandoned; i++)
		usleep(10 * 1000);
	h = health();
	ck_assert_uint_eq(h.sessions_abandoned, 0);
	ck_assert_uint_ge(h.sessions_replaced, 1);
	ck_assert_uint_eq(h.sessions_idle, h.sessions);
}
END_TEST

START_TEST(test_key_generation_given_up_is_undone_when_its_call_returns)
{
	open_with(2000, 300); /* the generation's deadline is short */
	hg_uuid id = p11t_id();
	struct hg_p11_keyspec spec = {.type = HG_KT_AES, .bits = 256, .usage = HG_P11_ENCRYPT | HG_P11_DECRYPT};
	char kcv[HG_KCV_HEX_LEN + 1];
	faults("C_GenerateKey hang_ms=1000 count=1");
	ck_assert_int_eq(p11_generate(FP, &id, &spec, kcv), HG_E_HSM_UNAVAILABLE);
	ck_assert_str_eq(kcv, "");
	ck_assert(wait_up(2000));
	usleep(1000 * 1000); /* the call returns, made the key, and finds nobody waiting */
	for (int i = 0; i < 100 && health().sessions_abandoned; i++)
		usleep(10 * 1000);
	struct hg_p11_attrs a;
	ck_assert_int_eq(p11_key_attrs(FP, &id, true, &a), HG_OK);
	ck_assert_msg(!a.found, "a key whose generation was given up is in the token");
}
END_TEST

START_TEST(test_without_deadlines_calls_run_on_the_callers_thread)
{
	open_with(0, 60000);
	hg_uuid id = p11t_id();
	struct hg_p11_keyspec spec = {.type = HG_KT_AES, .bits = 256, .usage = HG_P11_ENCRYPT | HG_P11_DECRYPT};
	char kcv[HG_KCV_HEX_LEN + 1];
	ck_assert_int_eq(p11_generate(FP, &id, &spec, kcv), HG_OK);
	uint8_t pt[5] = "hello", ct[HG_GCM_IV_LEN + 5 + HG_GCM_TAG_LEN], back[sizeof ct];
	size_t n;
	ck_assert_int_eq(p11_aes_gcm_encrypt(FP, &id, NULL, 0, pt, sizeof pt, ct), HG_OK);
	faults("C_Decrypt rv=CKR_SESSION_HANDLE_INVALID count=1");
	ck_assert_int_eq(p11_aes_gcm_decrypt(FP, &id, NULL, 0, ct, sizeof ct, back, &n), HG_OK);
	ck_assert_int_eq(fired(), 1);
	ck_assert(n == sizeof pt && memcmp(back, pt, n) == 0);
	ck_assert_uint_eq(health().sessions_replaced, 1);
	ck_assert_int_eq(p11_destroy_all(FP, &id), HG_OK);
}
END_TEST

Suite *suite_p11_faults(void)
{
	Suite *s = suite_create("p11-faults");
	TCase *tc = tcase_create("faults");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_device_error_fails_the_operation_once_and_replaces_its_session);
	tcase_add_test(tc, test_three_device_errors_open_the_breaker_until_the_health_check_answers);
	tcase_add_test(tc, test_lost_login_is_redone_and_the_operation_repeated);
	tcase_add_test(tc, test_hung_call_is_given_up_at_the_deadline_and_its_session_replaced_when_it_returns);
	tcase_add_test(tc, test_key_generation_given_up_is_undone_when_its_call_returns);
	tcase_add_test(tc, test_without_deadlines_calls_run_on_the_callers_thread);
	suite_add_tcase(s, tc);
	return s;
}
