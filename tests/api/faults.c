/* HSM faults: the daemon's PKCS#11 module is tests/faultp11 in front of SoftHSM, and these tests
 * command it (h_faults) to fail or hang. What a client must see (README, "Failure behaviour"):
 * a device error or a token gone is 503 hsm_unavailable with Retry-After, at once; a hung call
 * is 503 at the operation's deadline; a lost session or login is recovered inside the request;
 * a node that fails is taken out (the circuit breaker: later requests fail without reaching the
 * HSM) and comes back by itself when it answers again.
 *
 * Every time limit follows the daemon's configuration (hsm.operation_timeout_ms and the
 * others). No fault outlives a test: the fixtures clear the control file before and after each
 * test, failed or timed out ones included, and wait until the node is up again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define MS 1000LL

/* The daemon's HSM settings, in microseconds. */
static int64_t op_deadline_us(void)
{
	return (int64_t)h_cfg->hsm_op_timeout_ms * MS;
}

/* How long a node that went down may take to come back once its HSM answers: the cool-down,
 * two health checks, and slack for a loaded machine. */
static int64_t recovery_us(void)
{
	return ((int64_t)h_cfg->hsm_breaker_cooldown_ms + 2LL * h_cfg->hsm_health_interval_ms) * MS +
	       5000 * MS * h_slow();
}

/* "A request that fails at once": well under the operation deadline, with room for the
 * sanitized daemon. */
static int64_t fast_us(void)
{
	int64_t d = op_deadline_us() / 2;
	return d > 300 * MS ? d : 300 * MS;
}

/* /readyz must say the HSM is down, and why: its reason must mention `why`. */
#define assert_readyz_down(why) assert_readyz_down_at(__FILE__, __LINE__, (why))
static void assert_readyz_down_at(const char *file, int line, const char *why)
{
	struct h_resp *r = h_get("/readyz", NULL, NULL);
	h_assert_status_at(file, line, r, 503);
	ck_assert_msg(h_str(r, "hsm") && strcmp(h_str(r, "hsm"), "down") == 0, "%s:%d: readyz: %s", file, line,
		      r->body);
	const char *reason = json_string_value(json_object_get(json_object_get(r->json, "reasons"), "hsm"));
	ck_assert_msg(reason && strstr(reason, why), "%s:%d: readyz gives no reason with \"%s\": %s", file, line, why,
		      r->body);
	h_resp_free(r);
}

static bool readyz_hsm_ok(void)
{
	struct h_resp *r = h_get("/readyz", NULL, NULL);
	bool ok = r->status == 200 && h_str(r, "hsm") && strcmp(h_str(r, "hsm"), "ok") == 0;
	h_resp_free(r);
	return ok;
}

/* Polls /readyz until the HSM is ok; the time it took, or -1 after limit_us. */
static int64_t wait_hsm_up(int64_t limit_us)
{
	int64_t t0 = time_mono_us();
	while (!readyz_hsm_ok()) {
		if (time_mono_us() - t0 > limit_us)
			return -1;
		usleep(50 * 1000);
	}
	return time_mono_us() - t0;
}

static void no_faults(void)
{
	h_faults(NULL);
	if (wait_hsm_up(recovery_us() + 10000 * MS) < 0)
		fprintf(stderr, "test-api: the HSM node is still down after the faults were cleared\n");
}

/* How many times the daemon's log says s so far. */
static long log_count(const char *s)
{
	size_t n, k = strlen(s);
	char *log = h_daemon_log(&n);
	long c = 0;
	for (const char *at = log; (at = memmem(at, n - (size_t)(at - log), s, k)); at += k)
		c++;
	free(log);
	return c;
}

/* Waits (as h_log_wait_for) until the log says s more than `before` times. */
static bool log_grows(const char *s, long before)
{
	for (long i = 0; i < 100 * h_slow(); i++) {
		if (log_count(s) > before)
			return true;
		usleep(50 * 1000);
	}
	return false;
}

struct timed {
	struct h_resp *r;
	int64_t us;
};

/* acme's token with the scopes these tests use (h_tok's lack crypto:sign); reachable until exit. */
static const char *tok(void)
{
	static char *t;
	if (!t)
		t = h_token("acme", "keys:read keys:write crypto:encrypt crypto:decrypt crypto:sign");
	return t;
}

static struct timed timed_post(const char *path, const char *body, const char *rid)
{
	int64_t t0 = time_mono_us();
	struct h_resp *r = h_post(path, tok(), body, rid);
	return (struct timed){r, time_mono_us() - t0};
}

static void path_of(char *out, size_t n, const char *key, const char *op)
{
	snprintf(out, n, "/v1/keys/%s/%s", key, op);
}

#define ENC_BODY  "{\"plaintext\":\"aHNtIGZhdWx0cw==\"}"
#define SIGN_BODY "{\"message\":\"aHNtIGZhdWx0cw==\",\"algorithm\":\"ECDSA-SHA256\"}"

/* A 503 hsm_unavailable with a Retry-After, within limit_us, carrying no result. */
#define assert_hsm_503(t, limit_us, what) assert_hsm_503_at(__FILE__, __LINE__, (t), (limit_us), (what))
static void assert_hsm_503_at(const char *file, int line, const struct timed *t, int64_t limit_us, const char *what)
{
	h_assert_problem_at(file, line, t->r, 503, "hsm_unavailable");
	ck_assert_msg(t->r->retry_after && atol(t->r->retry_after) > 0, "%s:%d: %s: 503 without a Retry-After", file,
		      line, what);
	ck_assert_msg(t->us < limit_us, "%s:%d: %s took %lld ms to fail (limit %lld ms)", file, line, what,
		      (long long)(t->us / MS), (long long)(limit_us / MS));
	ck_assert_msg(!json_object_get(t->r->json, "ciphertext") && !json_object_get(t->r->json, "signature"),
		      "%s:%d: %s: a 503 carried a result", file, line, what);
}

/* Posts until the answer is 200, for at most limit_us; the last status. */
static long post_until_ok(const char *path, const char *body, int64_t limit_us)
{
	long st = 0;
	for (int64_t end = time_mono_us() + limit_us; time_mono_us() < end; usleep(100 * 1000)) {
		struct h_resp *r = h_post(path, tok(), body, NULL);
		st = r->status;
		h_resp_free(r);
		if (st == 200)
			break;
	}
	return st;
}

START_TEST(test_device_error_is_503_then_the_breaker_stops_calls_then_it_recovers)
{
	char id[HG_UUID_STR_LEN + 1], p[200], rid[H_RID_MAX];
	h_key("acme", "fault-device", id, NULL);
	char *before = h_encrypt("acme", id, "YmVmb3JlIHRoZSBmYXVsdA==", NULL);
	path_of(p, sizeof p, id, "encrypt");
	long downs = log_count("hsm: hsm-0 is DOWN: "), ups = log_count("hsm: hsm-0 is UP again");

	h_faults("C_Encrypt rv=CKR_DEVICE_ERROR");
	/* Each request reaches the HSM once (a device error is not repeated) and fails at once,
	 * until hsm.breaker_failures of them, and at least as many as the successes meanwhile, take
	 * the node down. Successes in the background (checkpoint signatures, health checks) can
	 * need several more on a slow sanitized run (6 were not enough once). */
	unsigned limit = 4 * h_cfg->hsm_breaker_failures + 10, sent = 0;
	bool down = false;
	while (!down && sent < limit) {
		h_rid(rid);
		struct timed t = timed_post(p, ENC_BODY, rid);
		sent++;
		assert_hsm_503(&t, fast_us(), "encrypt on a device error");
		h_resp_free(t.r);
		ck_assert_int_eq(h_faults_fired("C_Encrypt"), sent);
		down = !readyz_hsm_ok();
	}
	ck_assert_msg(down, "the node is still up after %u device errors", sent);
	ck_assert_uint_ge(sent, h_cfg->hsm_breaker_failures);
	assert_readyz_down("CKR_DEVICE_ERROR");
	/* The failed request is in the trail as an error. */
	h_assert_audit(rid, .tenant = "acme", .caller = h_sub("acme"), .operation = "crypto.encrypt",
		       .outcome = "error", .http_status = 503, .error_code = "hsm_unavailable", .key_id = id,
		       .key_version = H_ANY_VERSION);

	/* Down: requests fail at once without reaching the HSM. */
	struct timed t = timed_post(p, ENC_BODY, NULL);
	assert_hsm_503(&t, fast_us(), "encrypt while the node is down");
	h_resp_free(t.r);
	ck_assert_msg(h_faults_fired("C_Encrypt") == sent,
		      "a request reached the HSM while its node was down (%ld calls)", h_faults_fired("C_Encrypt"));
	ck_assert(log_grows("hsm: hsm-0 is DOWN: ", downs));
	ck_assert(log_count("CKR_DEVICE_ERROR; requests fail with 503") > 0);
	/* /readyz names the part that is down, and why. */
	struct h_resp *ready = h_get("/readyz", NULL, NULL);
	h_assert_status(ready, 503);
	const char *why = json_string_value(json_object_get(json_object_get(ready->json, "reasons"), "hsm"));
	ck_assert_msg(why && strstr(why, "CKR_DEVICE_ERROR"), "/readyz: %s", ready->body);
	ck_assert_ptr_null(json_object_get(json_object_get(ready->json, "reasons"), "database"));
	h_resp_free(ready);

	h_faults(NULL);
	long st = post_until_ok(p, ENC_BODY, recovery_us());
	ck_assert_msg(st == 200, "encrypt still answers %ld %lld ms after the device recovered", st,
		      (long long)(recovery_us() / MS));
	ck_assert(readyz_hsm_ok());
	ck_assert(log_grows("hsm: hsm-0 is UP again", ups));
	struct h_resp *r = h_decrypt("acme", id, before, NULL, NULL);
	h_assert_status(r, 200);
	ck_assert_str_eq(h_str(r, "plaintext"), "YmVmb3JlIHRoZSBmYXVsdA==");
	h_resp_free(r);
	free(before);
}
END_TEST

START_TEST(test_invalid_session_is_replaced_and_the_request_repeated_once)
{
	char id[HG_UUID_STR_LEN + 1], p[200];
	h_key("acme", "fault-session", id, NULL);
	free(h_encrypt("acme", id, "d2FybQ==", NULL));
	path_of(p, sizeof p, id, "encrypt");

	/* The module closes the real session and says so: the gateway opens a new one and runs
	 * the encryption again, inside the same request. */
	const char *replaced = "a session failed (CKR_SESSION_HANDLE_INVALID); replaced it";
	long before = log_count(replaced);
	h_faults("C_Encrypt rv=CKR_SESSION_HANDLE_INVALID count=1");
	struct timed t = timed_post(p, ENC_BODY, NULL);
	h_assert_status(t.r, 200);
	ck_assert_msg(h_str(t.r, "ciphertext") != NULL, "no ciphertext: %s", t.r->body);
	h_resp_free(t.r);
	ck_assert_int_eq(h_faults_fired("C_Encrypt"), 1);
	ck_assert(log_grows(replaced, before));
	ck_assert(readyz_hsm_ok()); /* a session's failure is not the node's */

	/* Once, not more: when the new session fails too, the request is 503, and the one after
	 * succeeds. */
	h_faults("C_Encrypt rv=CKR_SESSION_HANDLE_INVALID count=2");
	t = timed_post(p, ENC_BODY, NULL);
	assert_hsm_503(&t, op_deadline_us(), "encrypt on two invalid sessions in a row");
	h_resp_free(t.r);
	ck_assert_int_eq(h_faults_fired("C_Encrypt"), 2);
	t = timed_post(p, ENC_BODY, NULL);
	h_assert_status(t.r, 200);
	h_resp_free(t.r);
	ck_assert_int_eq(h_faults_fired("C_Encrypt"), 2);
}
END_TEST

START_TEST(test_lost_login_is_redone_and_only_a_key_generation_is_not_repeated)
{
	char id[HG_UUID_STR_LEN + 1], p[200], name[H_NAME_MAX], body[256];
	h_key("acme", "fault-login", id, NULL);
	free(h_encrypt("acme", id, "d2FybQ==", NULL));
	path_of(p, sizeof p, id, "encrypt");

	/* The module logs the token out for real and fails the call: the gateway logs in again and
	 * repeats the encryption, inside the same request. */
	const char *relogin = "the token had lost the login; logged in again";
	long before = log_count(relogin);
	h_faults("C_Encrypt rv=CKR_USER_NOT_LOGGED_IN count=1");
	struct timed t = timed_post(p, ENC_BODY, NULL);
	h_assert_status(t.r, 200);
	h_resp_free(t.r);
	ck_assert_int_eq(h_faults_fired("C_Encrypt"), 1);
	ck_assert(log_grows(relogin, before));
	t = timed_post(p, ENC_BODY, NULL);
	h_assert_status(t.r, 200);
	h_resp_free(t.r);

	/* A key generation is never repeated: its request is 503 and records nothing; the login is
	 * redone all the same, so the same request succeeds next time. */
	h_name(name, "fault-login-gen");
	snprintf(body, sizeof body, "{\"name\":\"%s\",\"type\":\"AES\"}", name);
	h_faults("C_GenerateKey rv=CKR_USER_NOT_LOGGED_IN count=1");
	t = timed_post("/v1/keys", body, NULL);
	/* Not at once: a creation commits an intent row first, and a new login makes the audit
	 * writer search the token for its checkpoint key again (slow on a SoftHSM token full of
	 * the suite's keys). */
	assert_hsm_503(&t, recovery_us(), "key generation after a lost login");
	h_resp_free(t.r);
	ck_assert_int_eq(h_faults_fired("C_GenerateKey"), 1);
	ck_assert_int_eq(h_key_status("acme", name), 404);
	ck_assert(log_grows(relogin, before + 1));
	t = timed_post("/v1/keys", body, NULL);
	h_assert_status(t.r, 201);
	h_resp_free(t.r);
	ck_assert(readyz_hsm_ok());
}
END_TEST

START_TEST(test_token_not_present_takes_the_node_down_until_it_answers_again)
{
	char id[HG_UUID_STR_LEN + 1], p[200];
	h_key("acme", "fault-token", id, NULL);
	char *before = h_encrypt("acme", id, "YmVmb3JlIHRoZSBmYXVsdA==", NULL);
	path_of(p, sizeof p, id, "encrypt");

	long ups = log_count("hsm: hsm-0 is UP again");
	h_faults("* rv=CKR_TOKEN_NOT_PRESENT");
	struct timed t = timed_post(p, ENC_BODY, NULL);
	assert_hsm_503(&t, fast_us(), "encrypt without a token");
	h_resp_free(t.r);
	ck_assert_int_ge(h_faults_fired(NULL), 1);

	int64_t t0 = time_mono_us();
	struct h_resp *ready = h_get("/readyz", NULL, NULL);
	int64_t ready_us = time_mono_us() - t0;
	h_assert_status(ready, 503);
	ck_assert_msg(h_str(ready, "hsm") && strcmp(h_str(ready, "hsm"), "down") == 0, "readyz: %s", ready->body);
	ck_assert_msg(h_str(ready, "database") && strcmp(h_str(ready, "database"), "ok") == 0, "readyz: %s",
		      ready->body);
	ck_assert_msg(ready_us < fast_us(), "readyz took %lld ms", (long long)(ready_us / MS));
	h_resp_free(ready);
	assert_readyz_down("CKR_TOKEN_NOT_PRESENT");
	/* By the request's failure, or by a health check that came first. */
	ck_assert(h_log_wait_for("CKR_TOKEN_NOT_PRESENT; requests fail with 503"));

	/* Every kind of request fails at once, and the node stays down while the token is gone,
	 * however many health checks run meanwhile. */
	char sp[200];
	path_of(sp, sizeof sp, id, "decrypt");
	char dbody[512];
	snprintf(dbody, sizeof dbody, "{\"ciphertext\":\"%s\"}", before);
	t = timed_post(sp, dbody, NULL);
	assert_hsm_503(&t, fast_us(), "decrypt without a token");
	h_resp_free(t.r);
	t = timed_post("/v1/random", "{\"bytes\":16}", NULL);
	assert_hsm_503(&t, fast_us(), "random without a token");
	h_resp_free(t.r);
	usleep((useconds_t)(h_cfg->hsm_breaker_cooldown_ms + 3 * h_cfg->hsm_health_interval_ms) * 1000);
	ck_assert_msg(!readyz_hsm_ok(), "the node was readmitted while its token was gone");

	h_faults(NULL);
	int64_t back = wait_hsm_up(recovery_us());
	ck_assert_msg(back >= 0, "the node is still down %lld ms after the token came back",
		      (long long)(recovery_us() / MS));
	ck_assert(log_grows("hsm: hsm-0 is UP again", ups));
	struct h_resp *r = h_decrypt("acme", id, before, NULL, NULL);
	h_assert_status(r, 200);
	ck_assert_str_eq(h_str(r, "plaintext"), "YmVmb3JlIHRoZSBmYXVsdA==");
	h_resp_free(r);
	free(before);
}
END_TEST

START_TEST(test_hung_sign_is_503_at_the_deadline_and_the_others_fail_fast_until_it_answers)
{
	char id[HG_UUID_STR_LEN + 1], name[H_NAME_MAX], body[256], p[200], ep[200];
	h_name(name, "fault-hang");
	snprintf(body, sizeof body,
		 "{\"name\":\"%s\",\"type\":\"EC\",\"curve\":\"P-256\",\"usage\":[\"sign\",\"verify\"]}", name);
	struct h_resp *r = h_post("/v1/keys", tok(), body, NULL);
	h_assert_status(r, 201);
	snprintf(id, sizeof id, "%s", h_str(r, "id"));
	h_resp_free(r);
	path_of(p, sizeof p, id, "sign");
	struct timed t = timed_post(p, SIGN_BODY, NULL);
	h_assert_status(t.r, 200);
	h_resp_free(t.r);
	char aes[HG_UUID_STR_LEN + 1];
	h_key("acme", "fault-hang-aes", aes, NULL);
	path_of(ep, sizeof ep, aes, "encrypt");

	/* C_Sign sleeps eight deadlines, then answers: the 503 must come long before. */
	int64_t hang_us = 8 * op_deadline_us();
	char rules[64];
	snprintf(rules, sizeof rules, "C_Sign hang_ms=%lld", (long long)(hang_us / MS));
	long late = log_count("given up at its deadline returned");
	h_faults(rules);
	int64_t armed = time_mono_us();
	t = timed_post(p, SIGN_BODY, NULL);
	/* The deadline, plus the request's own work and its audit commit on a loaded machine under
	 * the sanitizers (2.2 s once against a 1 s deadline): still well under the hang. */
	assert_hsm_503(&t, op_deadline_us() + 3000 * MS * h_slow(), "a sign whose C_Sign hangs");
	h_resp_free(t.r);
	ck_assert_int_ge(h_faults_fired("C_Sign"), 1);
	ck_assert(h_log_wait_for("exceeded its deadline of"));

	/* The node is down: other requests fail at once, without waiting for a session or a
	 * deadline (they are sent well within the breaker's cool-down). */
	t = timed_post(ep, ENC_BODY, NULL);
	assert_hsm_503(&t, fast_us(), "encrypt while a sign hangs");
	h_resp_free(t.r);
	assert_readyz_down("exceeded its deadline of");

	/* It comes back by itself once the HSM answers: here, new calls no longer hang. */
	h_faults(NULL);
	long st = post_until_ok(p, SIGN_BODY, recovery_us());
	ck_assert_msg(st == 200, "sign still answers %ld after the hang was cleared", st);
	ck_assert(readyz_hsm_ok());
	/* The call given up comes back when its sleep ends; its session is replaced, not lent. */
	int64_t left = hang_us - (time_mono_us() - armed);
	if (left > 0)
		usleep((useconds_t)left);
	ck_assert(log_grows("given up at its deadline returned", late));
	t = timed_post(ep, ENC_BODY, NULL);
	h_assert_status(t.r, 200);
	h_resp_free(t.r);
}
END_TEST

TCase *tcase_faults(void)
{
	TCase *tc = tcase_create("faults");
	/* Checked: before and after each test in its process. Unchecked: once more in the runner
	 * after the TCase, which also covers failed and timed-out tests. */
	tcase_add_checked_fixture(tc, no_faults, no_faults);
	tcase_add_unchecked_fixture(tc, NULL, no_faults);
	tcase_add_test(tc, test_device_error_is_503_then_the_breaker_stops_calls_then_it_recovers);
	tcase_add_test(tc, test_invalid_session_is_replaced_and_the_request_repeated_once);
	tcase_add_test(tc, test_lost_login_is_redone_and_only_a_key_generation_is_not_repeated);
	tcase_add_test(tc, test_token_not_present_takes_the_node_down_until_it_answers_again);
	tcase_add_test(tc, test_hung_sign_is_503_at_the_deadline_and_the_others_fail_fast_until_it_answers);
	return tc;
}
