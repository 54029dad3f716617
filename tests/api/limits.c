/* Quotas and limits: a tenant's request rate and requests in progress (429 rate_limited with
 * Retry-After), the size of the request headers (431), and a body that trickles in (the
 * connection is closed). The test configuration (deploy/dev/test.sh) gives tenant initech
 * 1 request/s with a burst of 3, tenant umbrella 2 requests in progress, and every request 3 s
 * for its body. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* A TCP connection to the daemon (h_url is http://127.0.0.1:PORT). */
static int dial(void)
{
	const char *port = strrchr(h_url, ':') + 1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	return fd;
}

static void send_all(int fd, const char *s)
{
	size_t n = strlen(s);
	ck_assert_int_eq(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Whether the peer closed fd within ms (a read returns 0 or fails). */
static bool closed_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	while (poll(&p, 1, ms) > 0) {
		char buf[512];
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n <= 0)
			return true;
	}
	return false;
}

START_TEST(test_rate_limit_refuses_beyond_the_burst_with_retry_after_and_is_audited)
{
	char *tok = h_token("initech", "keys:read"), rid[H_RID_MAX];
	int64_t t0 = time_mono_us();
	int ok = 0;
	struct h_resp *r = NULL;
	for (int i = 0; i < 20; i++) {
		h_rid(rid);
		r = h_get("/v1/keys?limit=1", tok, rid);
		if (r->status != 200)
			break;
		ok++;
		h_resp_free(r);
		r = NULL;
	}
	double elapsed_s = (double)(time_mono_us() - t0) / 1e6;
	ck_assert_msg(r != NULL, "20 requests in %.1f s and none refused", elapsed_s);
	h_assert_problem(r, 429, "rate_limited");
	ck_assert_msg(r->retry_after && atoi(r->retry_after) >= 1, "Retry-After %s",
		      r->retry_after ? r->retry_after : "none");
	int wait_s = atoi(r->retry_after);
	h_resp_free(r);
	/* At most the burst plus what the rate refilled meanwhile got through. */
	ck_assert_msg(ok >= 3 && ok <= 3 + (int)(elapsed_s * 1) + 1, "%d requests got through in %.1f s", ok,
		      elapsed_s);
	h_assert_audit(rid, .tenant = "initech", .caller = h_sub("initech"), .operation = "keys.list",
		       .outcome = "denied", .http_status = 429, .error_code = "rate_limited", .key_id = NULL,
		       .key_version = 0);
	/* After Retry-After, the tenant is served again; other tenants never noticed. */
	struct h_resp *other = h_get("/v1/keys?limit=1", h_tok("acme"), NULL);
	h_assert_status(other, 200);
	h_resp_free(other);
	sleep((unsigned)wait_s);
	r = h_get("/v1/keys?limit=1", tok, NULL);
	h_assert_status(r, 200);
	h_resp_free(r);
	free(tok);
}
END_TEST

START_TEST(test_requests_in_progress_beyond_the_cap_are_429_and_slots_come_back)
{
	char *tok = h_token("umbrella", "keys:read crypto:encrypt"), req[8300];
	/* Two requests whose bodies never come: each holds one of umbrella's two places. */
	snprintf(req, sizeof req,
		 "POST /v1/keys/nothing/encrypt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
		 "Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"plain",
		 tok);
	int held[2];
	for (int i = 0; i < 2; i++) {
		held[i] = dial();
		send_all(held[i], req);
	}
	usleep(300 * 1000);
	struct h_resp *r = h_get("/v1/keys?limit=1", tok, NULL);
	h_assert_problem(r, 429, "rate_limited");
	h_assert_detail_has(r, "in progress");
	ck_assert_ptr_nonnull(r->retry_after);
	h_resp_free(r);
	for (int i = 0; i < 2; i++)
		close(held[i]);
	/* The places come back when those connections end. */
	long status = 0;
	for (int i = 0; i < 30 && status != 200; i++) {
		usleep(100 * 1000);
		r = h_get("/v1/keys?limit=1", tok, NULL);
		status = r->status;
		h_resp_free(r);
	}
	ck_assert_int_eq(status, 200);
	free(tok);
}
END_TEST

START_TEST(test_oversized_headers_are_431_problem_json)
{
	char *pad = malloc(20001);
	memset(pad, 'a', 20000);
	pad[20000] = '\0';
	char *hdr = malloc(20100);
	snprintf(hdr, 20100, "X-Pad: %s", pad);
	struct h_req q = {.method = "GET", .path = "/v1/keys", .token = h_tok("acme"), .extra_header = hdr};
	struct h_resp *r = h_send(&q);
	h_assert_problem(r, 431, "payload_too_large");
	h_resp_free(r);
	free(pad);
	free(hdr);
}
END_TEST

START_TEST(test_a_body_that_trickles_past_the_request_timeout_closes_the_connection)
{
	int fd = dial();
	char req[9000];
	snprintf(req, sizeof req,
		 "POST /v1/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"
		 "Content-Length: 100\r\n\r\n{",
		 h_tok("acme"));
	send_all(fd, req);
	/* One byte a second: never idle long enough for the connection timeout. */
	bool closed = false;
	for (int i = 0; i < 8 && !closed; i++) {
		closed = closed_within(fd, 1000);
		if (!closed && send(fd, " ", 1, MSG_NOSIGNAL) != 1)
			closed = true;
	}
	ck_assert_msg(closed, "a body trickled for 8 s and the connection is still open");
	close(fd);
}
END_TEST

TCase *tcase_limits(void)
{
	TCase *tc = tcase_create("limits");
	tcase_add_test(tc, test_rate_limit_refuses_beyond_the_burst_with_retry_after_and_is_audited);
	tcase_add_test(tc, test_requests_in_progress_beyond_the_cap_are_429_and_slots_come_back);
	tcase_add_test(tc, test_oversized_headers_are_431_problem_json);
	tcase_add_test(tc, test_a_body_that_trickles_past_the_request_timeout_closes_the_connection);
	return tc;
}
