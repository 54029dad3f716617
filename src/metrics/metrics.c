/* Histograms, request counters and the Prometheus text format. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "hsmgw/metrics.h"

const double hg_hist_bounds_s[HG_HIST_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
						  0.05,   0.1,     0.25,   0.5,   1,      2.5,   10};

void hist_observe(struct hg_hist *h, int64_t us)
{
	if (us < 0)
		us = 0;
	size_t i = 0;
	while (i < HG_HIST_BUCKETS && (double)us > hg_hist_bounds_s[i] * 1e6)
		i++;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, (unsigned long long)us, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

/* The statuses the gateway answers with, each with its own counter; anything else is
 * counted as "other". */
static const unsigned statuses[] = {200, 201, 204, 400, 401, 403, 404, 405, 406, 408, 409,
				    410, 413, 415, 422, 429, 431, 500, 502, 503, 504};
#define N_STATUS (sizeof statuses / sizeof *statuses + 1)

struct hg_req_metrics {
	size_t n_routes, n_tenants;
	atomic_ulong *count;  /* [(n_routes + 1) × (n_tenants + 1) × N_STATUS] */
	struct hg_hist *hist; /* [n_routes + 1] */
	atomic_long in_flight;
};

struct hg_req_metrics *req_metrics_new(size_t n_routes, size_t n_tenants)
{
	struct hg_req_metrics *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->n_routes = n_routes;
	m->n_tenants = n_tenants;
	m->count = calloc((n_routes + 1) * (n_tenants + 1) * N_STATUS, sizeof *m->count);
	m->hist = calloc(n_routes + 1, sizeof *m->hist);
	if (!m->count || !m->hist) {
		req_metrics_free(m);
		return NULL;
	}
	return m;
}

void req_metrics_free(struct hg_req_metrics *m)
{
	if (!m)
		return;
	free(m->count);
	free(m->hist);
	free(m);
}

static size_t status_index(unsigned status)
{
	for (size_t i = 0; i < N_STATUS - 1; i++)
		if (statuses[i] == status)
			return i;
	return N_STATUS - 1;
}

void req_metrics_observe(struct hg_req_metrics *m, size_t route, size_t tenant, unsigned status, int64_t us)
{
	if (!m)
		return;
	if (route > m->n_routes)
		route = m->n_routes;
	if (tenant > m->n_tenants)
		tenant = m->n_tenants;
	size_t i = (route * (m->n_tenants + 1) + tenant) * N_STATUS + status_index(status);
	atomic_fetch_add_explicit(&m->count[i], 1, memory_order_relaxed);
	hist_observe(&m->hist[route], us);
}

long req_metrics_in_flight(struct hg_req_metrics *m, int delta)
{
	return m ? atomic_fetch_add_explicit(&m->in_flight, delta, memory_order_relaxed) + delta : 0;
}

/* ---- text ---- */

static void put(struct hg_prom *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct hg_prom *p, const char *fmt, ...)
{
	if (p->failed)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(p->buf ? p->buf + p->len : NULL, p->buf ? p->cap - p->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			p->failed = true;
			return;
		}
		if (p->buf && p->len + (size_t)n < p->cap) {
			p->len += (size_t)n;
			return;
		}
		size_t cap = p->cap ? p->cap * 2 : 16384;
		while (cap < p->len + (size_t)n + 1)
			cap *= 2;
		char *nb = realloc(p->buf, cap);
		if (!nb) {
			p->failed = true;
			return;
		}
		p->buf = nb;
		p->cap = cap;
	}
}

void prom_family(struct hg_prom *p, const char *name, const char *type, const char *help)
{
	put(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_labels(char *out, size_t cap, ...)
{
	va_list ap;
	va_start(ap, cap);
	size_t at = 0;
	out[0] = '\0';
	for (const char *k; (k = va_arg(ap, const char *));) {
		const char *v = va_arg(ap, const char *);
		if (!v)
			v = "";
		int n = snprintf(out + at, at < cap ? cap - at : 0, "%s%s=\"", at ? "," : "", k);
		at += n > 0 ? (size_t)n : 0;
		/* The format's escapes: backslash, double quote and line feed. */
		for (; *v && at + 3 < cap; v++) {
			if (*v == '\\' || *v == '"' || *v == '\n') {
				out[at++] = '\\';
				out[at++] = *v == '\n' ? 'n' : *v;
			} else {
				out[at++] = *v;
			}
		}
		if (at + 1 < cap)
			out[at++] = '"';
		out[at < cap ? at : cap - 1] = '\0';
	}
	va_end(ap);
}

void prom_sample(struct hg_prom *p, const char *name, const char *labels, double value)
{
	if (labels && *labels)
		put(p, "%s{%s} %.17g\n", name, labels, value);
	else
		put(p, "%s %.17g\n", name, value);
}

void prom_hist(struct hg_prom *p, const char *name, const char *labels, const struct hg_hist *h)
{
	const char *sep = labels && *labels ? "," : "";
	labels = labels ? labels : "";
	unsigned long cum = 0;
	for (size_t i = 0; i <= HG_HIST_BUCKETS; i++) {
		cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		if (i < HG_HIST_BUCKETS)
			put(p, "%s_bucket{%s%sle=\"%g\"} %lu\n", name, labels, sep, hg_hist_bounds_s[i], cum);
		else
			put(p, "%s_bucket{%s%sle=\"+Inf\"} %lu\n", name, labels, sep, cum);
	}
	/* _count is the +Inf bucket, so the two always agree even while requests are counted. */
	put(p, "%s_sum%s%s%s %.6f\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
	    (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6);
	put(p, "%s_count%s%s%s %lu\n", name, *labels ? "{" : "", labels, *labels ? "}" : "", cum);
}

void req_metrics_render(const struct hg_req_metrics *m, struct hg_prom *p, const char *const *routes,
			const char *const *methods, const char *const *tenants)
{
	char labels[512], st[16];
	prom_family(p, "hsmgw_http_requests_total", "counter",
		    "HTTP requests answered, by route, method, status and tenant.");
	for (size_t r = 0; r <= m->n_routes; r++)
		for (size_t t = 0; t <= m->n_tenants; t++)
			for (size_t s = 0; s < N_STATUS; s++) {
				unsigned long v = atomic_load_explicit(
				    &m->count[(r * (m->n_tenants + 1) + t) * N_STATUS + s], memory_order_relaxed);
				if (v == 0)
					continue;
				if (s < N_STATUS - 1)
					snprintf(st, sizeof st, "%u", statuses[s]);
				else
					snprintf(st, sizeof st, "other");
				prom_labels(labels, sizeof labels, "route", r < m->n_routes ? routes[r] : "unmatched",
					    "method", r < m->n_routes ? methods[r] : "", "status", st, "tenant",
					    t < m->n_tenants ? tenants[t] : "", (const char *)NULL);
				prom_sample(p, "hsmgw_http_requests_total", labels, (double)v);
			}
	prom_family(p, "hsmgw_http_request_duration_seconds", "histogram",
		    "Time from the request's headers to its answer (audit commit included), by route.");
	for (size_t r = 0; r <= m->n_routes; r++) {
		if (atomic_load_explicit(&m->hist[r].count, memory_order_relaxed) == 0)
			continue;
		prom_labels(labels, sizeof labels, "route", r < m->n_routes ? routes[r] : "unmatched", "method",
			    r < m->n_routes ? methods[r] : "", (const char *)NULL);
		prom_hist(p, "hsmgw_http_request_duration_seconds", labels, &m->hist[r]);
	}
	prom_family(p, "hsmgw_http_in_flight", "gauge", "Requests being served.");
	prom_sample(p, "hsmgw_http_in_flight", NULL,
		    (double)atomic_load_explicit(&((struct hg_req_metrics *)m)->in_flight, memory_order_relaxed));
}

/* ---- the process ---- */

/* A "Name:   N kB" line of /proc/self/status, in bytes (0 when absent). */
static double status_kb(const char *name)
{
	char line[256];
	size_t n = strlen(name);
	double v = 0;
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			v = strtod(line + n + 1, NULL) * 1024;
			break;
		}
	if (f)
		fclose(f);
	return v;
}

static double open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	double n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n > 0 ? n - 1 : 0; /* not the one opendir holds */
}

void metrics_process(struct hg_prom *p)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
		     (double)ru.ru_stime.tv_usec / 1e6;
	prom_family(p, "process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.");
	prom_sample(p, "process_cpu_seconds_total", NULL, cpu);
	prom_family(p, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	prom_sample(p, "process_resident_memory_bytes", NULL, status_kb("VmRSS"));
	prom_family(p, "process_resident_memory_peak_bytes", "gauge", "The largest resident memory size so far.");
	prom_sample(p, "process_resident_memory_peak_bytes", NULL, status_kb("VmHWM"));
	prom_family(p, "process_open_fds", "gauge", "Open file descriptors.");
	prom_sample(p, "process_open_fds", NULL, open_fds());
	prom_family(p, "process_threads", "gauge", "Threads of the process.");
	prom_sample(p, "process_threads", NULL, status_kb("Threads") / 1024);
}
