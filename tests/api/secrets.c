/* Secrets stay out of the audit trail, the daemon's log and error bodies: plaintexts (as
 * sent, base64, and decoded), aad, and bearer tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

struct secrets {
	char pt[80], aad[80]; /* distinctive texts */
	char *pt64, *aad64;
	char *token, *bad_token; /* a valid and an expired token, each used once */
	char rids[8][H_RID_MAX];
	int n_rids;
};

/* Sends every kind of request that carries the secrets: successes, failures after the body
 * was read, and authentication failures. Records the request ids. */
static void use_secrets(struct secrets *s)
{
	char id[HG_UUID_STR_LEN + 1], rid[H_RID_MAX], p[200];
	h_rid(rid);
	snprintf(s->pt, sizeof s->pt, "plaintext-%s", rid + 8);
	h_rid(rid);
	snprintf(s->aad, sizeof s->aad, "aad-%s", rid + 8);
	s->pt64 = h_b64(s->pt, strlen(s->pt));
	s->aad64 = h_b64(s->aad, strlen(s->aad));
	json_t *c = h_claims("acme", H_ALL_SCOPES);
	json_object_set_new(c, "jti", json_string(rid));
	s->token = h_sign("acme", c);
	json_object_set_new(c, "exp", json_integer(1000));
	s->bad_token = h_sign("acme", c);
	json_decref(c);
	h_key("acme", "secret", id, NULL);

	struct {
		const char *action, *token;
		char body[512];
		long status;
	} reqs[6];
	int n = 0;
	reqs[n].action = "encrypt", reqs[n].token = s->token, reqs[n].status = 200;
	snprintf(reqs[n++].body, sizeof reqs[0].body, "{\"plaintext\":\"%s\",\"aad\":\"%s\"}", s->pt64, s->aad64);
	char *ct = h_encrypt("acme", id, s->pt64, s->aad64);
	reqs[n].action = "decrypt", reqs[n].token = s->token, reqs[n].status = 200;
	snprintf(reqs[n++].body, sizeof reqs[0].body, "{\"ciphertext\":\"%s\",\"aad\":\"%s\"}", ct, s->aad64);
	reqs[n].action = "decrypt", reqs[n].token = s->token, reqs[n].status = 400; /* aad missing */
	snprintf(reqs[n++].body, sizeof reqs[0].body, "{\"ciphertext\":\"%s\"}", ct);
	reqs[n].action = "encrypt", reqs[n].token = s->token, reqs[n].status = 400; /* the text, not base64 */
	snprintf(reqs[n++].body, sizeof reqs[0].body, "{\"plaintext\":\"%s\",\"aad\":\"%s\"}", s->pt, s->aad);
	reqs[n].action = "encrypt", reqs[n].token = s->token, reqs[n].status = 400; /* unknown field */
	snprintf(reqs[n++].body, sizeof reqs[0].body, "{\"plaintext\":\"%s\",\"note\":\"%s\"}", s->pt64, s->pt);
	reqs[n].action = "encrypt", reqs[n].token = s->bad_token, reqs[n].status = 401;
	snprintf(reqs[n++].body, sizeof reqs[0].body, "{\"plaintext\":\"%s\"}", s->pt64);
	free(ct);
	for (int i = 0; i < n; i++) {
		snprintf(p, sizeof p, "/v1/keys/%s/%s", id, reqs[i].action);
		h_rid(s->rids[i]);
		struct h_resp *r = h_post(p, reqs[i].token, reqs[i].body, s->rids[i]);
		ck_assert_msg(r->status == reqs[i].status, "request %d answered %ld: %s", i, r->status, r->body);
		if (r->status != 200) { /* error bodies carry no secret either */
			ck_assert_msg(!strstr(r->body, s->pt) && !strstr(r->body, s->pt64), "error body %s", r->body);
			ck_assert_msg(!strstr(r->body, s->aad) && !strstr(r->body, s->aad64), "error body %s", r->body);
		}
		h_resp_free(r);
	}
	s->n_rids = n;
}

static void free_secrets(struct secrets *s)
{
	free(s->pt64), free(s->aad64), free(s->token), free(s->bad_token);
}

/* The strings none of which may appear; returns how many it wrote into out. */
static int needles(const struct secrets *s, const char *out[8])
{
	int n = 0;
	out[n++] = s->pt;
	out[n++] = s->pt64;
	out[n++] = s->aad;
	out[n++] = s->aad64;
	out[n++] = s->token;
	out[n++] = strrchr(s->token, '.') + 1; /* its signature alone */
	out[n++] = s->bad_token;
	return n;
}

START_TEST(test_audit_rows_never_contain_plaintext_aad_or_token)
{
	struct secrets s = {0};
	use_secrets(&s);
	for (int i = 0; i < s.n_rids; i++)
		ck_assert_msg(h_audit_count(s.rids[i]) == 1, "request %d has no audit row", i);
	const char *n[8];
	int k = needles(&s, n);
	for (int i = 0; i < k; i++)
		ck_assert_msg(h_audit_rows_containing(n[i]) == 0, "an audit row contains secret %d (%.40s...)", i,
			      n[i]);
	free_secrets(&s);
}
END_TEST

START_TEST(test_daemon_log_never_contains_plaintext_aad_or_token)
{
	struct secrets s = {0};
	use_secrets(&s);
	/* Failed requests are logged: wait for the last one to be. */
	ck_assert_msg(h_log_wait_for(s.rids[s.n_rids - 1]), "the daemon never logged request %s", s.rids[s.n_rids - 1]);
	size_t len;
	char *log = h_daemon_log(&len);
	const char *n[8];
	int k = needles(&s, n);
	for (int i = 0; i < k; i++)
		ck_assert_msg(!memmem(log, len, n[i], strlen(n[i])), "the daemon log contains secret %d (%.40s...)", i,
			      n[i]);
	ck_assert_msg(!memmem(log, len, "Bearer eyJ", 10), "the daemon log contains a bearer token");
	free(log);
	free_secrets(&s);
}
END_TEST

/* The SIEM feed carries every row (these requests' among them) and no secret. */
START_TEST(test_siem_feed_has_the_rows_and_never_a_secret)
{
	ck_assert_msg(h_cfg->audit_siem_file != NULL, "the test configuration has no audit.siem_file");
	struct secrets s = {0};
	use_secrets(&s);
	size_t len = 0;
	char *feed = NULL;
	/* Rows reach the feed when their batch commits, before the response: no wait needed. */
	FILE *f = fopen(h_cfg->audit_siem_file, "r");
	ck_assert_msg(f != NULL, "cannot read %s", h_cfg->audit_siem_file);
	FILE *m = open_memstream(&feed, &len);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		fwrite(buf, 1, n, m);
	fclose(f);
	fclose(m);
	for (int i = 0; i < s.n_rids; i++) {
		char want[128];
		snprintf(want, sizeof want, "\"request_id\":\"%s\"", s.rids[i]);
		ck_assert_msg(memmem(feed, len, want, strlen(want)), "request %d is not in the SIEM feed", i);
	}
	const char *nd[8];
	int k = needles(&s, nd);
	for (int i = 0; i < k; i++)
		ck_assert_msg(!memmem(feed, len, nd[i], strlen(nd[i])), "the SIEM feed contains secret %d (%.40s...)",
			      i, nd[i]);
	free(feed);
	free_secrets(&s);
}
END_TEST

/* The same feed as RFC 5424 syslog messages, received on the socket the configuration names. */
START_TEST(test_siem_syslog_messages_are_rfc5424_with_the_rows_and_no_secret)
{
	const char *path = h_cfg->audit_siem_syslog;
	ck_assert_msg(path != NULL, "the test configuration has no audit.siem_syslog");
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
	unlink(path);
	ck_assert_msg(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0, "cannot bind %s", path);
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct secrets s = {0};
	use_secrets(&s);
	/* Every message until the socket has been quiet for 200 ms. */
	bool seen[8] = {0};
	char msg[65536];
	ssize_t n;
	int got = 0;
	while ((n = recv(fd, msg, sizeof msg - 1, 0)) > 0) {
		msg[n] = '\0';
		got++;
		ck_assert_msg(strncmp(msg, "<86>1 ", 6) == 0 && strstr(msg, " hsmgw ") && strstr(msg, " audit - {"),
			      "not an RFC 5424 message of hsmgw: %.200s", msg);
		const char *nd[8];
		int k = needles(&s, nd);
		for (int i = 0; i < k; i++)
			ck_assert_msg(!strstr(msg, nd[i]), "a syslog message contains secret %d", i);
		for (int i = 0; i < s.n_rids; i++)
			seen[i] |= strstr(msg, s.rids[i]) != NULL;
	}
	close(fd);
	unlink(path);
	ck_assert_int_gt(got, 0);
	for (int i = 0; i < s.n_rids; i++)
		ck_assert_msg(seen[i], "request %d has no syslog message", i);
	free_secrets(&s);
}
END_TEST

TCase *tcase_secrets(void)
{
	TCase *tc = tcase_create("secrets");
	tcase_add_test(tc, test_audit_rows_never_contain_plaintext_aad_or_token);
	tcase_add_test(tc, test_daemon_log_never_contains_plaintext_aad_or_token);
	tcase_add_test(tc, test_siem_feed_has_the_rows_and_never_a_secret);
	tcase_add_test(tc, test_siem_syslog_messages_are_rfc5424_with_the_rows_and_no_secret);
	return tc;
}
