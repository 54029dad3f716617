/* An open-loop, constant-rate HTTP/1.1 load generator (hey and wrk2 are not in Debian).
 *
 * Request i is due at t0 + i / RATE, whatever happened to the requests before it: it goes
 * out on the first idle keep-alive connection at or after that time, and its latency is
 * measured from that scheduled time, not from when it was actually written. A server that
 * stalls therefore shows its stall in every request that was due meanwhile (no coordinated
 * omission). One thread, one epoll set, CONNECTIONS connections opened before t0, one
 * request in flight per connection (no pipelining).
 *
 * When the schedule ends, requests still in flight or not yet sent get DRAIN seconds more;
 * those that have no answer then are "incomplete" and enter the percentiles with the time
 * they had waited so far (a lower bound), so an overloaded server cannot look fast.
 *
 * Usage: loadgen -r RATE [-t SECONDS] [-c CONNECTIONS] [-m METHOD] [-H 'Name: value']...
 *                [-d BODY] [-w DRAIN_SECONDS] [--json] http://HOST:PORT/PATH
 * Prints the achieved rate (answers per second from t0 to the last answer), the counts of
 * answers, non-2xx answers, transport errors and incomplete requests, and the latency
 * P50/P99/P99.9/max; with --json as one JSON object. Exits 1 when nothing was answered. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADERS 32
#define NS          1000000000LL

enum cstate { C_CONNECTING, C_IDLE, C_SENDING, C_WAITING };

struct conn {
	int fd;
	enum cstate state;
	size_t sent;   /* bytes of the request written */
	int64_t sched; /* the current request's scheduled time (ns) */
	char *buf;     /* the answer read so far */
	size_t len, cap;
};

struct opts {
	double rate, seconds, drain;
	int conns;
	const char *method, *body, *url;
	const char *headers[MAX_HEADERS];
	int n_headers;
	bool json;
};

struct run {
	struct opts o;
	struct addrinfo *addr;
	char *req; /* the request, built once */
	size_t req_len;
	int ep;
	struct conn *c;
	int *idle; /* stack of idle connection indices */
	int n_idle;
	int64_t t0, total, next; /* requests due in all; the next one to send */
	int64_t *lat;            /* ns, one per answered or incomplete request */
	int64_t n_lat, answered, non2xx, errors, incomplete, in_flight, max_backlog, t_last;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static int64_t sched_of(const struct run *r, int64_t i)
{
	return r->t0 + (int64_t)((double)i * 1e9 / r->o.rate);
}

static void die(const char *what)
{
	fprintf(stderr, "loadgen: %s\n", what);
	exit(2);
}

static void usage(void)
{
	fprintf(stderr, "usage: loadgen -r RATE [-t SECONDS] [-c CONNECTIONS] [-m METHOD] [-H 'Name: value']... "
			"[-d BODY] [-w DRAIN_SECONDS] [--json] http://HOST:PORT/PATH\n");
	exit(2);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){.seconds = 10, .drain = 5, .conns = 16};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has = i + 1 < argc;
		if (strcmp(a, "--json") == 0)
			o->json = true;
		else if (strcmp(a, "-r") == 0 && has)
			o->rate = atof(argv[++i]);
		else if (strcmp(a, "-t") == 0 && has)
			o->seconds = atof(argv[++i]);
		else if (strcmp(a, "-w") == 0 && has)
			o->drain = atof(argv[++i]);
		else if (strcmp(a, "-c") == 0 && has)
			o->conns = atoi(argv[++i]);
		else if (strcmp(a, "-m") == 0 && has)
			o->method = argv[++i];
		else if (strcmp(a, "-d") == 0 && has)
			o->body = argv[++i];
		else if (strcmp(a, "-H") == 0 && has && o->n_headers < MAX_HEADERS)
			o->headers[o->n_headers++] = argv[++i];
		else if (a[0] != '-' && !o->url)
			o->url = a;
		else
			usage();
	}
	if (!o->url || o->rate <= 0 || o->seconds <= 0 || o->conns <= 0 || o->drain < 0)
		usage();
	if (!o->method)
		o->method = o->body ? "POST" : "GET";
}

/* http://HOST[:PORT][/PATH] → the address and the request bytes. */
static void prepare(struct run *r)
{
	const char *u = r->o.url;
	if (strncmp(u, "http://", 7) != 0)
		die("only http:// URLs");
	u += 7;
	const char *slash = strchr(u, '/'), *path = slash ? slash : "/";
	size_t hostport_len = slash ? (size_t)(slash - u) : strlen(u);
	char hostport[256], host[256], port[16] = "80";
	if (hostport_len == 0 || hostport_len >= sizeof hostport)
		die("bad URL");
	memcpy(hostport, u, hostport_len);
	hostport[hostport_len] = '\0';
	snprintf(host, sizeof host, "%s", hostport);
	char *colon = strrchr(host, ':');
	if (colon) {
		*colon = '\0';
		snprintf(port, sizeof port, "%s", colon + 1);
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	if (getaddrinfo(host, port, &hints, &r->addr) != 0)
		die("cannot resolve the URL's host");

	size_t blen = r->o.body ? strlen(r->o.body) : 0, cap = 512 + strlen(path) + blen;
	for (int i = 0; i < r->o.n_headers; i++)
		cap += strlen(r->o.headers[i]) + 2;
	r->req = malloc(cap);
	if (!r->req)
		die("out of memory");
	int n = snprintf(r->req, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n", r->o.method, path, hostport);
	for (int i = 0; i < r->o.n_headers; i++)
		n += snprintf(r->req + n, cap - (size_t)n, "%s\r\n", r->o.headers[i]);
	if (r->o.body || strcmp(r->o.method, "POST") == 0 || strcmp(r->o.method, "PUT") == 0)
		n += snprintf(r->req + n, cap - (size_t)n, "Content-Length: %zu\r\n", blen);
	n += snprintf(r->req + n, cap - (size_t)n, "\r\n");
	if (blen)
		memcpy(r->req + n, r->o.body, blen);
	r->req_len = (size_t)n + blen;
}

static void open_conn(struct run *r, int i)
{
	struct conn *c = &r->c[i];
	c->fd = socket(r->addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket failed");
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, r->addr->ai_addr, r->addr->ai_addrlen) != 0 && errno != EINPROGRESS)
		die("connect failed");
	c->state = C_CONNECTING;
	c->len = 0;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP, .data.u32 = (uint32_t)i};
	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		die("epoll_ctl failed");
}

static void make_idle(struct run *r, int i)
{
	r->c[i].state = C_IDLE;
	r->idle[r->n_idle++] = i;
}

/* The connection failed or was closed: a request on it is an error; open a new one. */
static void reconnect(struct run *r, int i)
{
	struct conn *c = &r->c[i];
	if (c->state == C_SENDING || c->state == C_WAITING) {
		r->errors++;
		r->in_flight--;
	}
	if (c->state == C_IDLE) /* take it off the idle stack */
		for (int k = 0; k < r->n_idle; k++)
			if (r->idle[k] == i) {
				r->idle[k] = r->idle[--r->n_idle];
				break;
			}
	close(c->fd);
	open_conn(r, i);
}

static void try_send(struct run *r, int i)
{
	struct conn *c = &r->c[i];
	while (c->sent < r->req_len) {
		ssize_t n = send(c->fd, r->req + c->sent, r->req_len - c->sent, MSG_NOSIGNAL);
		if (n > 0) {
			c->sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EAGAIN)
			return; /* EPOLLOUT resumes */
		reconnect(r, i);
		return;
	}
	c->state = C_WAITING;
}

/* Sends every request that is due, as far as idle connections go. */
static void dispatch(struct run *r, int64_t now)
{
	int64_t due = now < r->t0 ? 0 : (int64_t)((double)(now - r->t0) * r->o.rate / 1e9) + 1;
	if (due > r->total)
		due = r->total;
	if (due - r->next > r->max_backlog)
		r->max_backlog = due - r->next;
	while (r->next < due && r->n_idle > 0) {
		int i = r->idle[--r->n_idle];
		struct conn *c = &r->c[i];
		c->sched = sched_of(r, r->next++);
		c->sent = 0;
		c->len = 0;
		c->state = C_SENDING;
		r->in_flight++;
		try_send(r, i);
	}
}

/* Header value of name in the header block h (NULL-terminated copy), or NULL. */
static const char *header(const char *h, const char *name, char *val, size_t vlen)
{
	size_t nl = strlen(name);
	for (const char *p = strstr(h, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t k = strcspn(v, "\r");
			if (k >= vlen)
				k = vlen - 1;
			memcpy(val, v, k);
			val[k] = '\0';
			return val;
		}
	}
	return NULL;
}

/* A whole answer is in c->buf: record it. Returns false when the connection must be closed. */
static bool answer_done(struct run *r, struct conn *c, const char *head, int status, int64_t now)
{
	r->lat[r->n_lat++] = now - c->sched;
	r->answered++;
	r->in_flight--;
	r->t_last = now;
	if (status < 200 || status > 299)
		r->non2xx++;
	char v[64];
	return !(header(head, "Connection", v, sizeof v) && strcasecmp(v, "close") == 0);
}

static void on_readable(struct run *r, int i, int64_t now)
{
	struct conn *c = &r->c[i];
	for (;;) {
		if (c->cap - c->len < 4096) {
			size_t cap = c->cap ? c->cap * 2 : 16384;
			char *nb = realloc(c->buf, cap);
			if (!nb)
				die("out of memory");
			c->buf = nb;
			c->cap = cap;
		}
		ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			reconnect(r, i);
			return;
		}
		c->len += (size_t)n;
	}
	if (c->state != C_WAITING && c->state != C_SENDING) {
		if (c->len) /* bytes nobody asked for */
			reconnect(r, i);
		return;
	}
	c->buf[c->len] = '\0';
	char *end = strstr(c->buf, "\r\n\r\n");
	if (!end)
		return;
	size_t head_len = (size_t)(end - c->buf) + 4;
	int status = 0;
	char v[64];
	if (sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1 || header(c->buf, "Transfer-Encoding", v, sizeof v)) {
		reconnect(r, i); /* not an answer this tool reads (chunked bodies are not) */
		return;
	}
	size_t body_len = header(c->buf, "Content-Length", v, sizeof v) ? strtoull(v, NULL, 10) : 0;
	if (c->len < head_len + body_len)
		return;
	end[2] = '\0'; /* the header block, for answer_done */
	bool keep = answer_done(r, c, c->buf, status, now);
	c->len = 0;
	if (keep) {
		make_idle(r, i);
		dispatch(r, now);
	} else {
		c->state = C_IDLE; /* nothing in flight: reconnect counts no error */
		close(c->fd);
		open_conn(r, i);
	}
}

static void on_event(struct run *r, int i, uint32_t ev, int64_t now)
{
	struct conn *c = &r->c[i];
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof err;
		if ((ev & EPOLLERR) || getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err) {
			if (now < r->t0) /* before the run: the server is not there */
				die("cannot connect");
			reconnect(r, i);
			return;
		}
		if (ev & EPOLLOUT) {
			make_idle(r, i);
			dispatch(r, now);
		}
		return;
	}
	if (c->state == C_SENDING && (ev & EPOLLOUT))
		try_send(r, i);
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		on_readable(r, i, now);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static double pct_ms(const struct run *r, double q)
{
	if (r->n_lat == 0)
		return 0;
	int64_t k = (int64_t)ceil(q * (double)r->n_lat) - 1;
	if (k < 0)
		k = 0;
	return (double)r->lat[k] / 1e6;
}

int main(int argc, char **argv)
{
	struct run r = {0};
	parse_args(argc, argv, &r.o);
	prepare(&r);
	r.total = (int64_t)llround(r.o.rate * r.o.seconds);
	r.lat = malloc(sizeof *r.lat * (size_t)(r.total + 1));
	r.c = calloc((size_t)r.o.conns, sizeof *r.c);
	r.idle = malloc(sizeof *r.idle * (size_t)r.o.conns);
	r.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!r.lat || !r.c || !r.idle || r.ep < 0)
		die("out of memory");

	/* Connect everything first; the schedule starts once every connection is up. */
	r.t0 = INT64_MAX;
	for (int i = 0; i < r.o.conns; i++)
		open_conn(&r, i);
	struct epoll_event evs[256];
	int64_t give_up = now_ns() + 5 * NS;
	while (r.n_idle < r.o.conns) {
		if (now_ns() > give_up)
			die("connections not established within 5 s");
		int n = epoll_wait(r.ep, evs, 256, 100);
		for (int k = 0; k < n; k++)
			if (r.c[evs[k].data.u32].state == C_CONNECTING)
				on_event(&r, (int)evs[k].data.u32, evs[k].events, now_ns());
	}
	r.t0 = now_ns();
	int64_t end = r.t0 + (int64_t)(r.o.seconds * 1e9), deadline = end + (int64_t)(r.o.drain * 1e9);

	for (;;) {
		int64_t now = now_ns();
		dispatch(&r, now);
		if ((r.next >= r.total && r.in_flight == 0) || now >= deadline)
			break;
		/* Sleep until the next request is due (if a connection can take it) or an event. */
		int64_t wake = deadline;
		if (r.next < r.total && r.n_idle > 0 && sched_of(&r, r.next) < wake)
			wake = sched_of(&r, r.next);
		int64_t d = wake - now;
		struct timespec ts = {.tv_sec = d > 0 ? d / NS : 0, .tv_nsec = d > 0 ? d % NS : 0};
		int n = epoll_pwait2(r.ep, evs, 256, &ts, NULL);
		if (n < 0 && errno != EINTR)
			die("epoll_pwait2 failed");
		now = now_ns();
		for (int k = 0; k < n; k++)
			on_event(&r, (int)evs[k].data.u32, evs[k].events, now);
	}

	/* Unanswered requests enter the percentiles with what they had waited until now. */
	int64_t stop = now_ns();
	for (int i = 0; i < r.o.conns; i++)
		if (r.c[i].state == C_SENDING || r.c[i].state == C_WAITING) {
			r.lat[r.n_lat++] = stop - r.c[i].sched;
			r.incomplete++;
		}
	for (int64_t i = r.next; i < r.total; i++) {
		r.lat[r.n_lat++] = stop - sched_of(&r, i);
		r.incomplete++;
	}
	qsort(r.lat, (size_t)r.n_lat, sizeof *r.lat, cmp_i64);
	int64_t span = r.t_last > end ? r.t_last - r.t0 : end - r.t0;
	double achieved = (double)r.answered * 1e9 / (double)span;
	double p50 = pct_ms(&r, 0.50), p99 = pct_ms(&r, 0.99), p999 = pct_ms(&r, 0.999), mx = pct_ms(&r, 1.0);
	if (r.o.json)
		printf("{\"url\":\"%s\",\"method\":\"%s\",\"rate\":%g,\"seconds\":%g,\"connections\":%d,"
		       "\"scheduled\":%lld,\"answered\":%lld,\"non_2xx\":%lld,\"errors\":%lld,\"incomplete\":%lld,"
		       "\"max_backlog\":%lld,\"achieved_rate\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
		       "\"max_ms\":%.3f}\n",
		       r.o.url, r.o.method, r.o.rate, r.o.seconds, r.o.conns, (long long)r.total, (long long)r.answered,
		       (long long)r.non2xx, (long long)r.errors, (long long)r.incomplete, (long long)r.max_backlog,
		       achieved, p50, p99, p999, mx);
	else
		printf("%s %s at %g req/s for %g s over %d connections\n"
		       "  achieved %.1f req/s: %lld answered (%lld non-2xx), %lld errors, %lld incomplete, "
		       "backlog at most %lld\n"
		       "  latency from the scheduled time: p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms\n",
		       r.o.method, r.o.url, r.o.rate, r.o.seconds, r.o.conns, achieved, (long long)r.answered,
		       (long long)r.non2xx, (long long)r.errors, (long long)r.incomplete, (long long)r.max_backlog, p50,
		       p99, p999, mx);
	freeaddrinfo(r.addr);
	return r.answered > 0 ? 0 : 1;
}
