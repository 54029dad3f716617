/* The session pool, and the threads that make the PKCS#11 calls.
 *
 * Sessions are opened and logged in once at start. Each has a thread of its own (when
 * hsm.operation_timeout_ms is not 0), and every call on a session is made by that thread: a
 * request lends a session, puts its operation's arguments into the session's arena, hands the
 * operation to the thread and waits for it until the deadline (hsm.operation_timeout_ms from
 * op_begin, session wait included; hsm.long_operation_timeout_ms for key creation and for
 * operations that search the token). PKCS#11 cannot cancel a
 * call, so a call that does not return in time is given up: the request answers 503 at once,
 * the node is marked down (health.c) so that other requests fail fast, and the session stays
 * with its thread — abandoned, never lent — until the call returns; then it is closed, opened
 * again and put back. The arguments and results live in the arena, not on the request's
 * stack, so a late call writes only into memory that is still the session's.
 *
 * Costs, measured with build/p11bench: one hand-off to the session's thread and back per
 * operation (not per call). README, "Failure behaviour", has the figures.
 *
 * One function changes a session's state (sess_set). A session that failed in a way that
 * breaks it (p11_rv_breaks_session) is closed and opened again by its thread before the result
 * is handed back; if that fails it stays closed (CK_INVALID_HANDLE) and is opened before its
 * next operation, so the pool heals by itself when the token answers again. A lost login is
 * redone at once; an operation that changes nothing (OP_REPEATABLE) is then run again once,
 * as after a lost session, within the same deadline. */
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "p11_internal.h"

enum op_state {
	OP_PENDING,   /* handed to the session's thread (or running) */
	OP_COMMITTED, /* the thread has made objects the caller must take: the caller waits on */
	OP_DONE,      /* results are in the arena */
	OP_ABANDONED, /* the caller gave up: the thread cleans up when the call returns */
};
enum go_job { GO_WAIT, GO_RUN, GO_QUIT };

#define ARENA_SIZE 8192

struct arena_block {
	struct arena_block *next;
	size_t n;
	_Alignas(16) uint8_t data[];
};

/* ---- waiting on a word (futex) ---- */

/* Sleeps while *w == v, until woken or until deadline_us (time_mono_us; 0: no deadline).
 * Returns at spurious wake-ups too: callers loop. */
static void word_wait(_Atomic unsigned *w, unsigned v, int64_t deadline_us)
{
	struct timespec ts, *tp = NULL;
	if (deadline_us > 0) {
		ts.tv_sec = (time_t)(deadline_us / 1000000);
		ts.tv_nsec = (long)(deadline_us % 1000000) * 1000;
		tp = &ts;
	}
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, as time_mono_us reads. */
	syscall(SYS_futex, (unsigned *)w, FUTEX_WAIT_BITSET_PRIVATE, v, tp, NULL, FUTEX_BITSET_MATCH_ANY);
}

static void word_wake(_Atomic unsigned *w)
{
	syscall(SYS_futex, (unsigned *)w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Wakes the caller waiting for op (op_wait), who then reads its state and deadline again. */
static void ring(struct p11_op *op)
{
	atomic_fetch_add(&op->bell, 1);
	word_wake(&op->bell);
}

/* ---- the arena ---- */

void *op_alloc(struct p11_op *op, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n <= ARENA_SIZE - op->used) {
		void *r = op->buf + op->used;
		op->used += n;
		memset(r, 0, n);
		return r;
	}
	struct arena_block *b = calloc(1, sizeof *b + n);
	if (!b) {
		log_error("hsm: out of memory for an operation of %zu bytes", n);
		abort();
	}
	b->n = n;
	b->next = op->big;
	op->big = b;
	return b->data;
}

void *op_copy(struct p11_op *op, const void *src, size_t n)
{
	void *d = op_alloc(op, n ? n : 1);
	if (n)
		memcpy(d, src, n);
	return d;
}

/* Wipes what the operation held (plaintexts, PIN blocks pass through here). */
static void arena_clear(struct p11_op *op)
{
	if (op->buf)
		OPENSSL_cleanse(op->buf, op->used);
	op->used = 0;
	while (op->big) {
		struct arena_block *b = op->big;
		op->big = b->next;
		OPENSSL_cleanse(b->data, b->n);
		free(b);
	}
}

/* ---- sessions ---- */

static CK_RV open_session(struct hg_p11 *p, CK_SESSION_HANDLE *h)
{
	CK_RV rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, h);
	if (rv != CKR_OK) {
		*h = CK_INVALID_HANDLE;
		return rv;
	}
	/* Login is per application and token: the first session's login covers all of them. */
	rv = p->f->C_Login(*h, CKU_USER, (CK_UTF8CHAR_PTR)p->pin, p->pin_len);
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		rv = CKR_OK;
	if (rv != CKR_OK) {
		p->f->C_CloseSession(*h);
		*h = CK_INVALID_HANDLE;
	}
	return rv;
}

CK_RV sess_login(struct hg_p11 *p, CK_SESSION_HANDLE s)
{
	CK_RV rv = p->f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)p->pin, p->pin_len);
	if (rv == CKR_USER_ALREADY_LOGGED_IN) /* another thread was first */
		return CKR_OK;
	char nb[24];
	if (rv == CKR_OK) {
		atomic_fetch_add(&p->health.relogins, 1);
		handles_clear(&p->handles); /* private objects' handles may be new after a login */
		log_warn("hsm: %s: the token had lost the login; logged in again", p->info.node);
	} else {
		log_error("hsm: %s: the token lost the login and C_Login failed: %s", p->info.node,
			  p11_rv_name(rv, nb));
	}
	return rv;
}

/* Closes a session that failed (unless the module says it is gone already: its handle may
 * belong to another session by now) and opens a new one; CK_INVALID_HANDLE if that fails. */
static void sess_replace(struct hg_p11 *p, struct p11_sess *s, CK_RV why)
{
	char nb[24], nb2[24];
	if (s->h != CK_INVALID_HANDLE && why != CKR_SESSION_HANDLE_INVALID && why != CKR_SESSION_CLOSED)
		p->f->C_CloseSession(s->h);
	s->h = CK_INVALID_HANDLE;
	if (atomic_load(&p->closing))
		return;
	CK_RV rv = open_session(p, &s->h);
	atomic_fetch_add(&p->health.replaced, 1);
	if (rv == CKR_OK)
		log_warn("hsm: %s: a session failed (%s); replaced it", p->info.node, p11_rv_name(why, nb));
	else
		log_error("hsm: %s: a session failed (%s) and cannot be opened again (%s); it will be when the token "
			  "answers",
			  p->info.node, p11_rv_name(why, nb), p11_rv_name(rv, nb2));
}

/* The one place a session changes state. Called with p->mu held. */
static void sess_set(struct hg_p11 *p, struct p11_sess *s, enum sess_state to)
{
	if (to == SESS_IDLE && !s->probe)
		p->idle[p->n_idle++] = s;
	s->state = to;
}

static void sess_release(struct hg_p11 *p, struct p11_sess *s)
{
	pthread_mutex_lock(&p->mu);
	sess_set(p, s, SESS_IDLE);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

void pool_wake_all(struct hg_p11 *p)
{
	pthread_mutex_lock(&p->mu);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* ---- running an operation ---- */

static bool op_late(struct p11_op *op)
{
	int64_t d = atomic_load(&op->deadline_us);
	return atomic_load(&op->state) == OP_ABANDONED || (d && time_mono_us() >= d);
}

/* The operation this thread runs, for op_note_cached. */
static __thread struct p11_op *running;

void op_searching(void)
{
	struct p11_op *op = running;
	if (!op || !atomic_load(&op->deadline_us))
		return;
	int64_t longer = op->begun_us + (int64_t)op->s->p->long_timeout_ms * 1000;
	if (longer > atomic_load(&op->deadline_us))
		atomic_store(&op->deadline_us, longer); /* the caller reads it again when it wakes */
}

void op_searched(void)
{
	struct p11_op *op = running;
	if (!op || !atomic_load(&op->deadline_us) || (op->flags & OP_CREATES))
		return;
	/* The calls after the search have the ordinary deadline, counted from now. */
	int64_t ms = (int64_t)op->s->p->op_timeout_ms * 1000, now = time_mono_us();
	int64_t d = op->begun_us + ms > now + ms ? op->begun_us + ms : now + ms;
	if (d < atomic_load(&op->deadline_us)) {
		atomic_store(&op->deadline_us, d);
		ring(op); /* the caller sleeps until the longer one: it must look again */
	}
}

void op_note_cached(const hg_uuid *id)
{
	if (running && running->n_cached < sizeof running->cached / sizeof *running->cached)
		running->cached[running->n_cached++] = *id;
}

static CK_RV op_call(struct hg_p11 *p, struct p11_sess *s, struct p11_op *op)
{
	running = op;
	op->n_cached = 0;
	CK_RV rv = op->fn(p, s->h, op->arg);
	running = NULL;
	return rv;
}

static bool handle_stale(CK_RV rv)
{
	return rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID ||
	       rv == CKR_WRAPPING_KEY_HANDLE_INVALID || rv == CKR_UNWRAPPING_KEY_HANDLE_INVALID;
}

/* The calls themselves, on whichever thread makes them: open the session if it is closed, run
 * the function, and recover a lost login (always) or, for repeatable operations, a lost session
 * or a cached object handle the token no longer knows, running the function once more. A
 * session left broken by the result is replaced before the result is handed back. */
static CK_RV op_execute(struct hg_p11 *p, struct p11_sess *s, struct p11_op *op)
{
	if (s->h == CK_INVALID_HANDLE) {
		CK_RV rv = open_session(p, &s->h);
		if (rv != CKR_OK)
			return rv;
	}
	CK_RV rv = op_call(p, s, op);
	bool again = (op->flags & OP_REPEATABLE) && !op_late(op), fresh = false;
	if (rv == CKR_USER_NOT_LOGGED_IN) {
		/* The login is the token's, for every session: redone at once, whatever the operation.
		 * The session that saw it failed mid-operation, so it is replaced as well. */
		CK_RV lrv = sess_login(p, s->h);
		sess_replace(p, s, rv);
		fresh = true;
		if (lrv == CKR_OK && again && s->h != CK_INVALID_HANDLE) {
			rv = op_call(p, s, op);
			fresh = false;
		}
	} else if (rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED) {
		sess_replace(p, s, rv);
		fresh = true;
		if (again && s->h != CK_INVALID_HANDLE) {
			rv = op_call(p, s, op);
			fresh = false;
		}
	} else if (handle_stale(rv) && op->n_cached && again) {
		/* A token that lost its login, or came back, may know its objects by new handles. */
		for (unsigned i = 0; i < op->n_cached; i++)
			handles_drop(&p->handles, &op->cached[i]);
		rv = op_call(p, s, op);
	}
	if (!fresh && s->h != CK_INVALID_HANDLE && p11_rv_breaks_session(rv))
		sess_replace(p, s, rv);
	return rv;
}

/* On the session's thread: runs the operation handed over, replaces the session if the result
 * says so, and hands the result back — or, if the caller gave up meanwhile, cleans up and puts
 * the session back itself. */
static void sess_serve(struct hg_p11 *p, struct p11_sess *s)
{
	struct p11_op *op = &s->op;
	int64_t t0 = time_mono_us();
	bool started = atomic_load(&op->state) != OP_ABANDONED;
	CK_RV rv = started ? op_execute(p, s, op) : CKR_HG_TIMEOUT;
	bool late = started && atomic_load(&op->state) == OP_ABANDONED;
	/* A session whose call was given up is not trusted again, however the call ended. */
	if (late && s->h != CK_INVALID_HANDLE)
		sess_replace(p, s, CKR_HG_TIMEOUT);
	op->rv = rv;
	unsigned st = OP_PENDING;
	bool handed = atomic_compare_exchange_strong(&op->state, &st, OP_DONE);
	if (!handed && st == OP_COMMITTED) { /* only this thread moves it on from COMMITTED */
		atomic_store_explicit(&op->state, OP_DONE, memory_order_release);
		handed = true;
	}
	if (handed) {
		/* The caller owns the operation from here on (it may have started the next one
		 * already; a ring then only makes it look once more). */
		ring(op);
		return;
	}
	arena_clear(op);
	if (started)
		log_warn("hsm: %s: a %s given up at its deadline returned after %lld ms; its session was replaced",
			 p->info.node, op->name, (long long)((time_mono_us() - t0) / 1000));
	sess_release(p, s);
}

static void *sess_main(void *arg)
{
	struct p11_sess *s = arg;
	for (;;) {
		unsigned g;
		while ((g = atomic_exchange(&s->go, GO_WAIT)) == GO_WAIT)
			word_wait(&s->go, GO_WAIT, 0);
		if (g == GO_QUIT)
			return NULL;
		sess_serve(s->p, s);
	}
}

/* Gives op up at its deadline, unless its state is no longer `seen`; true if it did. */
static bool op_abandon(struct hg_p11 *p, struct p11_op *op, unsigned seen);

/* Waits for the session's thread until the deadline. The bell is read before the state and
 * the deadline, so a change after that reading makes the sleep return at once. */
static CK_RV op_wait(struct hg_p11 *p, struct p11_op *op)
{
	for (;;) {
		unsigned bell = atomic_load(&op->bell);
		unsigned st = atomic_load_explicit(&op->state, memory_order_acquire);
		if (st == OP_DONE)
			return op->rv;
		/* COMMITTED: the objects are made; only bookkeeping is left, whatever the time. */
		int64_t deadline = st == OP_COMMITTED ? 0 : atomic_load(&op->deadline_us);
		if (deadline && time_mono_us() >= deadline) {
			if (op_abandon(p, op, st))
				return CKR_HG_TIMEOUT;
			continue; /* it has just finished, or committed */
		}
		word_wait(&op->bell, bell, deadline);
	}
}

/* A session pinned to this thread for a run of operations (a batch): every operation on the
 * thread uses it, and ends leave it lent until p11_unpin. */
static __thread struct {
	struct hg_p11 *p;
	struct p11_sess *s;
} pinned;

static bool op_abandon(struct hg_p11 *p, struct p11_op *op, unsigned seen)
{
	struct p11_sess *s = op->s;
	/* Under the pool's lock, so that the session's thread, which puts an abandoned session
	 * back under that lock, always finds it marked abandoned first. */
	pthread_mutex_lock(&p->mu);
	bool gone = atomic_compare_exchange_strong(&op->state, &seen, OP_ABANDONED);
	if (gone)
		sess_set(p, s, SESS_ABANDONED);
	pthread_mutex_unlock(&p->mu);
	if (!gone)
		return false;
	if (pinned.s == s) /* it is the thread's no more */
		pinned.p = NULL, pinned.s = NULL;
	node_timeout(p, op->name, (unsigned)((atomic_load(&op->deadline_us) - op->begun_us) / 1000));
	return true;
}

CK_RV op_run(struct hg_p11 *p, struct p11_op *op, p11_op_fn fn, void *arg)
{
	struct p11_sess *s = op->s;
	int64_t lent_at = s->lent_at_us; /* read now: a session given up may be lent again at once */
	op->fn = fn;
	op->arg = arg;
	op->rv = CKR_OK;
	CK_RV rv;
	if (s->threaded) {
		atomic_store_explicit(&op->state, OP_PENDING, memory_order_relaxed);
		atomic_store_explicit(&s->go, GO_RUN, memory_order_release);
		word_wake(&s->go);
		rv = op_wait(p, op);
	} else {
		rv = op_execute(p, s, op);
	}
	if (!s->probe)
		p11_stats_op(&p->stats, rv, time_mono_us() - lent_at);
	if (rv != CKR_HG_TIMEOUT) /* a timeout has taken the node down already */
		node_result(p, op->name, rv);
	return rv;
}

bool op_commit(struct p11_op *op)
{
	if (!op->s->threaded)
		return true;
	unsigned st = OP_PENDING;
	return atomic_compare_exchange_strong(&op->state, &st, OP_COMMITTED);
}

/* Lends a session until deadline_us (0: hsm.wait_ms only). */
static hg_err sess_borrow(struct hg_p11 *p, int64_t deadline_us, struct p11_sess **out)
{
	int64_t t0 = time_mono_us();
	if (pinned.p == p && pinned.s) {
		*out = pinned.s;
		pinned.s->lent_at_us = t0;
		return HG_OK;
	}
	int64_t until = t0 + (int64_t)p->wait_ms * 1000;
	if (deadline_us && deadline_us < until)
		until = deadline_us;
	/* The pool's condition variable runs on CLOCK_REALTIME. */
	int64_t real_until = time_now_us() + (until - t0);
	struct timespec ts = {(time_t)(real_until / 1000000), (long)(real_until % 1000000) * 1000};
	pthread_mutex_lock(&p->mu);
	bool waited = p->n_idle == 0;
	while (p->n_idle == 0) {
		if (!node_up(p) || pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT) {
			bool up = node_up(p);
			pthread_mutex_unlock(&p->mu);
			hist_observe(&p->stats.waits, time_mono_us() - t0);
			atomic_fetch_add_explicit(&p->stats.waited, 1, memory_order_relaxed);
			if (up)
				log_warn("hsm: %s: no free session within %lld ms", p->info.node,
					 (long long)((until - t0) / 1000));
			else
				atomic_fetch_add(&p->health.refused, 1);
			return HG_E_HSM_UNAVAILABLE;
		}
	}
	struct p11_sess *s = p->idle[--p->n_idle];
	sess_set(p, s, SESS_LENT);
	pthread_mutex_unlock(&p->mu);
	s->lent_at_us = time_mono_us();
	if (waited) {
		hist_observe(&p->stats.waits, s->lent_at_us - t0);
		atomic_fetch_add_explicit(&p->stats.waited, 1, memory_order_relaxed);
	}
	*out = s;
	return HG_OK;
}

hg_err op_begin(struct hg_p11 *p, const char *name, unsigned flags, struct p11_op **out)
{
	*out = NULL;
	if (!node_up(p)) {
		atomic_fetch_add(&p->health.refused, 1);
		return HG_E_HSM_UNAVAILABLE;
	}
	unsigned ms = flags & OP_CREATES ? p->long_timeout_ms : p->op_timeout_ms;
	int64_t now = time_mono_us(), deadline = p->op_timeout_ms ? now + (int64_t)ms * 1000 : 0;
	struct p11_sess *s;
	hg_err e = sess_borrow(p, deadline, &s);
	if (e != HG_OK)
		return e;
	struct p11_op *op = &s->op;
	op->name = name;
	op->flags = flags;
	op->begun_us = now;
	atomic_store(&op->deadline_us, deadline);
	*out = op;
	return HG_OK;
}

struct p11_op *op_begin_on(struct hg_p11 *p, struct p11_sess *s, const char *name, unsigned flags)
{
	pthread_mutex_lock(&p->mu);
	bool idle = s->state == SESS_IDLE;
	if (idle)
		sess_set(p, s, SESS_LENT);
	pthread_mutex_unlock(&p->mu);
	if (!idle)
		return NULL;
	struct p11_op *op = &s->op;
	op->name = name;
	op->flags = flags;
	op->begun_us = time_mono_us();
	atomic_store(&op->deadline_us, p->op_timeout_ms ? op->begun_us + (int64_t)p->op_timeout_ms * 1000 : 0);
	return op;
}

hg_err op_end(struct hg_p11 *p, struct p11_op *op, CK_RV rv)
{
	if (rv != CKR_HG_TIMEOUT) { /* given up: the session's thread ends it */
		arena_clear(op);
		if (pinned.s != op->s)
			sess_release(p, op->s);
	}
	return p11_rv_err(rv);
}

/* ---- the pool ---- */

CK_RV sess_start(struct hg_p11 *p, struct p11_sess *s)
{
	s->p = p;
	s->op.s = s;
	s->op.buf = malloc(ARENA_SIZE);
	if (!s->op.buf)
		return CKR_HOST_MEMORY;
	CK_RV rv = open_session(p, &s->h);
	if (rv == CKR_OK && p->op_timeout_ms) {
		if (pthread_create(&s->thread, NULL, sess_main, s) != 0)
			rv = CKR_HOST_MEMORY;
		else
			s->threaded = true;
	}
	return rv;
}

/* Stops s's thread, waiting until `until` (CLOCK_REALTIME) at the latest; false if it is still
 * inside a call then. */
static bool sess_stop(struct p11_sess *s, const struct timespec *until)
{
	if (!s->threaded)
		return true;
	atomic_store(&s->go, GO_QUIT);
	word_wake(&s->go);
	if (pthread_timedjoin_np(s->thread, NULL, until) != 0) {
		pthread_detach(s->thread);
		return false;
	}
	s->threaded = false;
	return true;
}

/* Closes s (its thread has stopped) and frees its arena. */
static void sess_finish(struct hg_p11 *p, struct p11_sess *s)
{
	if (s->h != CK_INVALID_HANDLE)
		p->f->C_CloseSession(s->h);
	s->h = CK_INVALID_HANDLE;
	arena_clear(&s->op);
	free(s->op.buf);
	s->op.buf = NULL;
}

hg_err pool_open(struct hg_p11 *p, size_t n, unsigned wait_ms)
{
	p->sess = calloc(n, sizeof *p->sess);
	p->idle = calloc(n, sizeof *p->idle);
	p->wait_ms = wait_ms;
	if (!p->sess || !p->idle)
		return HG_E_INTERNAL;
	for (size_t i = 0; i < n; i++) {
		p->sess[i].h = CK_INVALID_HANDLE;
		CK_RV rv = sess_start(p, &p->sess[i]);
		p->n_sess++;
		if (rv != CKR_OK) {
			char nb[24];
			log_error("hsm: C_OpenSession/C_Login failed: %s", p11_rv_name(rv, nb));
			return p11_rv_err(rv) == HG_OK ? HG_E_INTERNAL : p11_rv_err(rv);
		}
		pthread_mutex_lock(&p->mu);
		sess_set(p, &p->sess[i], SESS_IDLE);
		pthread_mutex_unlock(&p->mu);
	}
	return HG_OK;
}

bool pool_close(struct hg_p11 *p)
{
	atomic_store(&p->closing, true);
	/* A thread still inside a call it was given up on gets a few seconds to come back. */
	int64_t until_us = time_now_us() + 10 * 1000000;
	struct timespec until = {(time_t)(until_us / 1000000), (long)(until_us % 1000000) * 1000};
	bool all = sess_stop(&p->health.probe, &until);
	for (size_t i = 0; i < p->n_sess; i++)
		all &= sess_stop(&p->sess[i], &until);
	if (!all) {
		log_error("hsm: %s: a session's thread is still inside a PKCS#11 call; the module is left as it is",
			  p->info.node);
		return false;
	}
	for (size_t i = 0; i < p->n_sess; i++) {
		if (p->sess[i].h != CK_INVALID_HANDLE) {
			p->f->C_Logout(p->sess[i].h);
			break;
		}
	}
	for (size_t i = 0; i < p->n_sess; i++)
		sess_finish(p, &p->sess[i]);
	sess_finish(p, &p->health.probe);
	free(p->sess);
	free(p->idle);
	p->sess = NULL;
	p->idle = NULL;
	p->n_sess = p->n_idle = 0;
	return true;
}

hg_err p11_pin(struct hg_p11 *p)
{
	if (!node_up(p)) {
		atomic_fetch_add(&p->health.refused, 1);
		return HG_E_HSM_UNAVAILABLE;
	}
	struct p11_sess *s;
	hg_err e = sess_borrow(p, p->op_timeout_ms ? time_mono_us() + (int64_t)p->op_timeout_ms * 1000 : 0, &s);
	if (e == HG_OK) {
		pinned.p = p;
		pinned.s = s;
	}
	return e;
}

void p11_unpin(struct hg_p11 *p)
{
	struct p11_sess *s = pinned.s;
	if (pinned.p != p || !s)
		return;
	pinned.p = NULL;
	pinned.s = NULL;
	sess_release(p, s);
}
