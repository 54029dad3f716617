/* soakload: the bounded load of `make soak` (deploy/dev/soak.sh). A few threads, each at a fixed
 * rate over one keep-alive connection (loopback), send a mix of requests with their own
 * X-Request-Id and write one line per request, whatever happened to it:
 *
 *   <request id> <HTTP status, 0 when no answer came> <operation> <microseconds>
 *
 * The mix: encrypt 70%, decrypt of the thread's last ciphertext 20%, read the key 8%, create a
 * key 2%. The script then looks every 2xx request id up in the audit trail.
 *
 *   soakload URL TOKEN_FILE KEY_ID RATE_PER_S THREADS SECONDS OUT_FILE */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/rand.h>

static const char *url, *key;
static char *auth_header;
static double per_thread_rate;
static int64_t end_us;
static FILE *out;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_long sent, ok;

static int64_t mono_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

struct body {
	char *p;
	size_t n;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *cls)
{
	struct body *b = cls;
	size_t n = size * nmemb;
	char *p = realloc(b->p, b->n + n + 1);
	if (!p)
		return 0;
	memcpy(p + b->n, data, n);
	b->p = p;
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

static void new_rid(char out_rid[64])
{
	unsigned char r[12];
	if (RAND_bytes(r, sizeof r) != 1)
		abort();
	int n = snprintf(out_rid, 64, "soak-");
	for (size_t i = 0; i < sizeof r; i++)
		n += snprintf(out_rid + n, (size_t)(64 - n), "%02x", r[i]);
}

/* One request; its status (0: no answer) and, for 2xx, the body (the caller frees it). */
static long request(CURL *c, const char *method, const char *path, const char *json, const char *rid, char **body)
{
	char u[512], ridh[96];
	snprintf(u, sizeof u, "%s%s", url, path);
	snprintf(ridh, sizeof ridh, "X-Request-Id: %s", rid);
	struct curl_slist *hs = curl_slist_append(NULL, auth_header);
	hs = curl_slist_append(hs, ridh);
	hs = curl_slist_append(hs, "Content-Type: application/json");
	hs = curl_slist_append(hs, "Expect:");
	struct body b = {0};
	curl_easy_setopt(c, CURLOPT_URL, u);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (json) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	long status = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hs);
	if (status >= 200 && status < 300 && body)
		*body = b.p;
	else
		free(b.p);
	return status;
}

static const char *member(const char *body, const char *name, char *outv, size_t cap)
{
	json_t *j = body ? json_loads(body, 0, NULL) : NULL;
	const char *v = json_string_value(json_object_get(j, name));
	if (v)
		snprintf(outv, cap, "%s", v);
	json_decref(j);
	return v ? outv : NULL;
}

static void *worker(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u ^ (unsigned)mono_us();
	CURL *c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 2L);
	char ct[512] = "", path[256], json[700], rid[64];
	int64_t interval = (int64_t)(1000000.0 / per_thread_rate), next = mono_us();
	while (mono_us() < end_us) {
		int64_t now = mono_us();
		if (now < next)
			usleep((useconds_t)(next - now));
		next += interval;
		if (mono_us() - next > 5 * interval)
			next = mono_us(); /* after a long stall, no burst to catch up: the load stays bounded */
		int pick = (int)(rand_r(&seed) % 100);
		const char *op, *method = "POST";
		const char *body_json = json;
		if (pick < 70 || (pick < 90 && !ct[0])) {
			op = "encrypt";
			snprintf(path, sizeof path, "/v1/keys/%s/encrypt", key);
			snprintf(json, sizeof json, "{\"plaintext\":\"c29hayB0ZXN0IHBheWxvYWQ=\"}");
		} else if (pick < 90) {
			op = "decrypt";
			snprintf(path, sizeof path, "/v1/keys/%s/decrypt", key);
			snprintf(json, sizeof json, "{\"ciphertext\":\"%s\"}", ct);
		} else if (pick < 98) {
			op = "get";
			method = "GET";
			body_json = NULL;
			snprintf(path, sizeof path, "/v1/keys/%s", key);
		} else {
			op = "create";
			snprintf(path, sizeof path, "/v1/keys");
			char name[64];
			new_rid(name);
			snprintf(json, sizeof json, "{\"name\":\"%s\",\"type\":\"AES\"}", name);
		}
		new_rid(rid);
		char *body = NULL;
		int64_t t0 = mono_us();
		long st = request(c, method, path, body_json, rid, &body);
		int64_t us = mono_us() - t0;
		if (st == 200 && strcmp(op, "encrypt") == 0)
			member(body, "ciphertext", ct, sizeof ct);
		free(body);
		atomic_fetch_add(&sent, 1);
		if (st >= 200 && st < 300)
			atomic_fetch_add(&ok, 1);
		pthread_mutex_lock(&out_mu);
		fprintf(out, "%s %ld %s %lld\n", rid, st, op, (long long)us);
		pthread_mutex_unlock(&out_mu);
		if (st == 0)
			usleep(50 * 1000); /* the gateway is down: the load stays bounded */
	}
	curl_easy_cleanup(c);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: soakload URL TOKEN_FILE KEY_ID RATE_PER_S THREADS SECONDS OUT_FILE\n");
		return 2;
	}
	url = argv[1];
	key = argv[3];
	double rate = atof(argv[4]);
	int threads = atoi(argv[5]);
	long seconds = atol(argv[6]);
	FILE *tf = fopen(argv[2], "r");
	char tok[4096] = "";
	if (!tf || !fgets(tok, sizeof tok, tf) || rate <= 0 || threads < 1 || threads > 64 || seconds < 1) {
		fprintf(stderr, "soakload: bad arguments or token file\n");
		return 2;
	}
	fclose(tf);
	tok[strcspn(tok, "\r\n")] = '\0';
	if (asprintf(&auth_header, "Authorization: Bearer %s", tok) < 0 || !(out = fopen(argv[7], "w")))
		return 1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	per_thread_rate = rate / threads;
	end_us = mono_us() + (int64_t)seconds * 1000000;
	pthread_t t[64];
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	fclose(out);
	fprintf(stderr, "soakload: %ld requests, %ld answered 2xx\n", atomic_load(&sent), atomic_load(&ok));
	curl_global_cleanup();
	free(auth_header);
	return 0;
}
