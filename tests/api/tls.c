/* HTTPS and client certificates, against a daemon of its own (same build, same database and
 * token, its own port and audit chain) with certificates made here by the openssl tool: TLS 1.3
 * by default, 1.2 allowed, 1.1 refused; client certificates that must chain to the configured
 * CA (none, or one from another CA, is 401); a tenant bound to a certificate subject; and
 * SIGHUP serving a new certificate without a restart. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

struct tls_env {
	char dir[64];
	int port;
	pid_t pid;
	char url[64];
};

/* Runs a shell command; its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* A key and a certificate with subject /CN=cn signed by ca (or self-signed when ca is NULL). */
static void make_cert(const char *dir, const char *name, const char *cn, const char *ca, bool server)
{
	ck_assert_int_eq(sh("cd %s && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s.key "
			    "-subj /CN=%s -out %s.csr 2>/dev/null && chmod 600 %s.key",
			    dir, name, cn, name, name),
			 0);
	if (!ca) {
		ck_assert_int_eq(sh("cd %s && openssl x509 -req -in %s.csr -signkey %s.key -days 2 -out %s.pem "
				    "-extfile /dev/stdin 2>/dev/null <<'EOF'\nbasicConstraints=critical,CA:TRUE\n"
				    "keyUsage=keyCertSign,cRLSign\nEOF",
				    dir, name, name, name),
				 0);
		return;
	}
	ck_assert_int_eq(
	    sh("cd %s && openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -set_serial %ld -days 2 "
	       "-out %s.pem -extfile /dev/stdin 2>/dev/null <<'EOF'\n%s\nEOF",
	       dir, name, ca, ca, (long)random(), name,
	       server ? "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth" : "extendedKeyUsage=clientAuth"),
	    0);
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	socklen_t l = sizeof sa;
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &l), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* An HTTPS request with the client certificate `client` (NULL: none); the status, or 0 when
 * the connection or handshake failed. */
static long https_get(const struct tls_env *e, const char *path, const char *client, const char *token, char *body,
		      size_t cap)
{
	CURL *c = curl_easy_init();
	char url[256], ca[128], cert[128], key[128], auth[9000];
	snprintf(url, sizeof url, "%s%s", e->url, path);
	snprintf(ca, sizeof ca, "%s/ca.pem", e->dir);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L * h_slow());
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (client) {
		snprintf(cert, sizeof cert, "%s/%s.pem", e->dir, client);
		snprintf(key, sizeof key, "%s/%s.key", e->dir, client);
		curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, key);
	}
	struct curl_slist *hs = NULL;
	if (token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		hs = curl_slist_append(hs, auth);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
	}
	FILE *mem = fmemopen(body, cap, "w");
	curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);
	long status = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	fclose(mem);
	curl_slist_free_all(hs);
	curl_easy_cleanup(c);
	return status;
}

/* Certificates, a configuration and a running daemon; `bind_acme` binds tenant acme to
 * /CN=acme-client. */
static void tls_up(struct tls_env *e, bool bind_acme)
{
	snprintf(e->dir, sizeof e->dir, "/tmp/hsmgw-tls-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(e->dir));
	make_cert(e->dir, "ca", "hsmgw-test-ca", NULL, false);
	make_cert(e->dir, "other-ca", "another-ca", NULL, false);
	make_cert(e->dir, "server", "127.0.0.1", "ca", true);
	make_cert(e->dir, "acme-client", "acme-client", "ca", false);
	make_cert(e->dir, "globex-client", "globex-client", "ca", false);
	make_cert(e->dir, "stranger", "acme-client", "other-ca", false); /* the right name, the wrong CA */
	e->port = free_port();
	snprintf(e->url, sizeof e->url, "https://127.0.0.1:%d", e->port);

	json_error_t jerr;
	json_t *cfg = json_load_file(getenv("HSMGW_TEST_CONFIG"), 0, &jerr);
	ck_assert_ptr_nonnull(cfg);
	char path[160], chain[64];
	json_object_set_new(json_object_get(cfg, "listen"), "port", json_integer(e->port));
	json_object_set_new(cfg, "http", json_pack("{s:i}", "threads", 4));
	snprintf(chain, sizeof chain, "tls-test-%d", (int)getpid());
	json_t *audit = json_object_get(cfg, "audit");
	json_object_set_new(audit, "chain_id", json_string(chain));
	json_object_del(audit, "siem_file");
	json_object_del(audit, "siem_syslog");
	json_object_set_new(cfg, "lifecycle", json_pack("{s:i}", "interval_seconds", 0));
	json_object_set_new(json_object_get(cfg, "hsm"), "sessions", json_integer(2));
	json_t *tls = json_object();
	snprintf(path, sizeof path, "%s/server.pem", e->dir);
	json_object_set_new(tls, "cert_file", json_string(path));
	snprintf(path, sizeof path, "%s/server.key", e->dir);
	json_object_set_new(tls, "key_file", json_string(path));
	snprintf(path, sizeof path, "%s/ca.pem", e->dir);
	json_object_set_new(tls, "client_ca_file", json_string(path));
	json_object_set_new(cfg, "tls", tls);
	size_t i;
	json_t *t;
	json_array_foreach (json_object_get(cfg, "tenants"), i, t) {
		json_object_del(t, "rate_limit_per_second");
		if (bind_acme && strcmp(json_string_value(json_object_get(t, "name")), "acme") == 0)
			json_object_set_new(t, "client_cert_subject", json_string("CN=acme-client"));
	}
	snprintf(path, sizeof path, "%s/hsmgw.json", e->dir);
	ck_assert_int_eq(json_dump_file(cfg, path, JSON_INDENT(2)), 0);
	json_decref(cfg);

	char exe[512], daemon[600], log[160];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	snprintf(daemon, sizeof daemon, "%s/hsmgwd", dirname(exe));
	snprintf(log, sizeof log, "%s/hsmgwd.log", e->dir);
	e->pid = fork();
	ck_assert_int_ge(e->pid, 0);
	if (e->pid == 0) {
		freopen(log, "w", stderr);
		execl(daemon, "hsmgwd", "--config", path, (char *)NULL);
		_exit(127);
	}
	char body[256];
	for (int k = 0; k < 300 * h_slow(); k++) {
		if (https_get(e, "/healthz", "acme-client", NULL, body, sizeof body) == 200)
			return;
		ck_assert_msg(waitpid(e->pid, NULL, WNOHANG) == 0, "the TLS daemon exited; see %s", log);
		usleep(100 * 1000);
	}
	ck_abort_msg("the TLS daemon did not answer within 30 s");
}

static void tls_down(struct tls_env *e)
{
	int status = 0;
	if (e->pid > 0) {
		kill(e->pid, SIGTERM);
		waitpid(e->pid, &status, 0);
	}
	char log[160];
	snprintf(log, sizeof log, "%s/hsmgwd.log", e->dir);
	bool clean = sh("! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' %s", log) == 0;
	if (clean)
		sh("rm -rf %s", e->dir);
	ck_assert_msg(clean, "sanitizer reports in %s", log);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the TLS daemon exited with %d", status);
}

/* openssl s_client with extra options; its exit status, its output into out. */
static int s_client(const struct tls_env *e, const char *opts, char *out, size_t cap)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd,
		 "openssl s_client -connect 127.0.0.1:%d -CAfile %s/ca.pem -cert %s/acme-client.pem -key "
		 "%s/acme-client.key %s </dev/null 2>&1",
		 e->port, e->dir, e->dir, e->dir, opts);
	FILE *p = popen(cmd, "r");
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	int rc = pclose(p);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

START_TEST(test_tls_versions_and_client_certificates)
{
	struct tls_env e = {0};
	tls_up(&e, false);
	char body[4096], *out = malloc(65536);
	/* A good client certificate: served, over TLS 1.3 by default. */
	ck_assert_int_eq(https_get(&e, "/healthz", "acme-client", NULL, body, sizeof body), 200);
	ck_assert_int_eq(https_get(&e, "/v1/keys?limit=1", "globex-client", h_tok("acme"), body, sizeof body), 200);
	ck_assert_int_eq(s_client(&e, "", out, 65536), 0);
	ck_assert_msg(strstr(out, "TLSv1.3"), "default handshake is not TLS 1.3: %.2000s", out);
	/* TLS 1.2 is accepted, 1.1 is refused by the server (the client is allowed to offer it). */
	ck_assert_msg(s_client(&e, "-tls1_2", out, 65536) == 0, "TLS 1.2 refused: %.2000s", out);
	ck_assert_msg(s_client(&e, "-tls1_1 -cipher DEFAULT@SECLEVEL=0", out, 65536) != 0, "TLS 1.1 accepted: %.2000s",
		      out);
	/* No client certificate, or one from another CA: 401 problem+json. */
	ck_assert_int_eq(https_get(&e, "/v1/keys?limit=1", NULL, h_tok("acme"), body, sizeof body), 401);
	ck_assert_msg(strstr(body, "\"unauthenticated\"") && strstr(body, "client certificate is required"), "%s",
		      body);
	ck_assert_int_eq(https_get(&e, "/healthz", NULL, NULL, body, sizeof body), 401);
	ck_assert_int_eq(https_get(&e, "/v1/keys?limit=1", "stranger", h_tok("acme"), body, sizeof body), 401);
	ck_assert_msg(strstr(body, "does not chain"), "%s", body);
	/* Plain HTTP on the TLS port gets no answer. */
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", e.port);
	CURL *c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
	FILE *null = fopen("/dev/null", "w");
	curl_easy_setopt(c, CURLOPT_WRITEDATA, null);
	long status = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	ck_assert_msg(status != 200, "plain HTTP served on the TLS port");
	fclose(null);
	curl_easy_cleanup(c);
	free(out);
	tls_down(&e);
}
END_TEST

START_TEST(test_a_tenant_bound_to_a_certificate_subject_needs_that_certificate)
{
	struct tls_env e = {0};
	tls_up(&e, true);
	char body[4096];
	/* acme's token with globex's certificate: the token alone is not enough. */
	ck_assert_int_eq(https_get(&e, "/v1/keys?limit=1", "globex-client", h_tok("acme"), body, sizeof body), 401);
	ck_assert_msg(strstr(body, "not the one of tenant acme"), "%s", body);
	ck_assert_int_eq(https_get(&e, "/v1/keys?limit=1", "acme-client", h_tok("acme"), body, sizeof body), 200);
	/* globex is not bound: any good certificate. */
	ck_assert_int_eq(https_get(&e, "/v1/keys?limit=1", "acme-client", h_tok("globex"), body, sizeof body), 200);
	tls_down(&e);
}
END_TEST

/* The serial number of the certificate the server presents (openssl's hex form). */
static void served_serial(const struct tls_env *e, char *out, size_t cap)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd,
		 "openssl s_client -connect 127.0.0.1:%d -CAfile %s/ca.pem -cert %s/acme-client.pem -key "
		 "%s/acme-client.key </dev/null 2>/dev/null | openssl x509 -noout -serial",
		 e->port, e->dir, e->dir, e->dir);
	FILE *p = popen(cmd, "r");
	out[0] = '\0';
	if (!fgets(out, (int)cap, p))
		out[0] = '\0';
	pclose(p);
	out[strcspn(out, "\n")] = '\0';
}

START_TEST(test_sighup_serves_a_new_certificate_without_a_restart)
{
	struct tls_env e = {0};
	tls_up(&e, false);
	char before[128], after[128], want[128];
	served_serial(&e, before, sizeof before);
	ck_assert_msg(strncmp(before, "serial=", 7) == 0, "no serial read: %s", before);
	make_cert(e.dir, "server2", "127.0.0.1", "ca", true);
	ck_assert_int_eq(sh("cd %s && cp server2.key server.key && cp server2.pem server.pem", e.dir), 0);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "openssl x509 -noout -serial -in %s/server2.pem", e.dir);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(fgets(want, sizeof want, p));
	pclose(p);
	want[strcspn(want, "\n")] = '\0';
	ck_assert_str_ne(before, want);
	ck_assert_int_eq(kill(e.pid, SIGHUP), 0);
	after[0] = '\0';
	for (int i = 0; i < 50 && strcmp(after, want) != 0; i++) {
		usleep(100 * 1000);
		served_serial(&e, after, sizeof after);
	}
	ck_assert_str_eq(after, want);
	/* The same process still serves. */
	char body[256];
	ck_assert_int_eq(https_get(&e, "/healthz", "acme-client", NULL, body, sizeof body), 200);
	tls_down(&e);
}
END_TEST

TCase *tcase_tls(void)
{
	TCase *tc = tcase_create("tls");
	tcase_add_test(tc, test_tls_versions_and_client_certificates);
	tcase_add_test(tc, test_a_tenant_bound_to_a_certificate_subject_needs_that_certificate);
	tcase_add_test(tc, test_sighup_serves_a_new_certificate_without_a_restart);
	return tc;
}
