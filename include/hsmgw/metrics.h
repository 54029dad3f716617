/* hsmgw — what the gateway counts, for GET /metrics (Prometheus text format 0.0.4).
 *
 * The numbers live with the module that makes them (requests in http/, HSM calls in p11/,
 * the audit queue in audit/, the caches in auth/ and keys/); this module gives them their
 * shapes — a latency histogram and the request counters — and is the one place that writes
 * the text format. Writers use relaxed atomics, so counting costs no lock on the request
 * path; a scrape reads whatever has been counted so far. */
#ifndef HSMGW_METRICS_H
#define HSMGW_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- latency histograms ---- */
#define HG_HIST_BUCKETS 15
/* Upper bounds in seconds: 100 µs … 10 s (the last bucket, +Inf, is implied). */
extern const double hg_hist_bounds_s[HG_HIST_BUCKETS];

struct hg_hist {
	atomic_ulong bucket[HG_HIST_BUCKETS + 1]; /* not cumulative; the last one is +Inf */
	atomic_ulong count;
	atomic_ullong sum_us;
};

void hist_observe(struct hg_hist *h, int64_t us);

/* ---- HTTP requests: counts by route × tenant × status, latency by route ---- */
struct hg_req_metrics;

/* For n_routes routes and n_tenants tenants; NULL when memory runs out. */
struct hg_req_metrics *req_metrics_new(size_t n_routes, size_t n_tenants);
void req_metrics_free(struct hg_req_metrics *m);
/* route is an index in the route table, or n_routes for a request no route matched; tenant
 * an index in the configuration's tenants, or n_tenants when the caller is not known. */
void req_metrics_observe(struct hg_req_metrics *m, size_t route, size_t tenant, unsigned status, int64_t us);
/* Requests being served: +1 when one starts, -1 when it is done; returns the count after the
 * change (0 to read it). The server's drain at shutdown waits on it too. */
long req_metrics_in_flight(struct hg_req_metrics *m, int delta);

/* ---- the text format ---- */
struct hg_prom {
	char *buf; /* NUL-terminated; the caller frees it */
	size_t len, cap;
	bool failed; /* memory ran out: the text is incomplete */
};

/* "# HELP" and "# TYPE" lines of a metric family. */
void prom_family(struct hg_prom *p, const char *name, const char *type, const char *help);
/* Label pairs as `k1="v1",k2="v2"` into out, values escaped; the list ends with a NULL name. */
void prom_labels(char *out, size_t cap, ...);
/* One sample; labels as prom_labels wrote them, or NULL / "" for none. */
void prom_sample(struct hg_prom *p, const char *name, const char *labels, double value);
/* The _bucket, _sum and _count samples of a histogram. */
void prom_hist(struct hg_prom *p, const char *name, const char *labels, const struct hg_hist *h);

/* The request families (hsmgw_http_*). names[i] and methods[i] describe route i; tenants[j]
 * names tenant j. */
void req_metrics_render(const struct hg_req_metrics *m, struct hg_prom *p, const char *const *routes,
			const char *const *methods, const char *const *tenants);

/* The process_* families: CPU time, resident memory (now and peak), open descriptors, threads. */
void metrics_process(struct hg_prom *p);

#endif
