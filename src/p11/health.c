/* The node's health: up or down, a circuit breaker over the results of operations, and a
 * periodic health check that readmits the node when the token answers again.
 *
 * While the node is down every operation fails at once with HG_E_HSM_UNAVAILABLE, without a
 * call to the module (requests waiting for a session are woken and fail too): clients get
 * their 503 in microseconds and a dead or hanging HSM is not hammered. The node goes down when
 *  - an operation outlives its deadline (pool.c gives it up);
 *  - an operation fails with CKR_TOKEN_NOT_PRESENT, CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_RECOGNIZED
 *    or CKR_CRYPTOKI_NOT_INITIALIZED: the token is gone;
 *  - hsm.breaker_failures failures of the device's class (what p11_rv_err calls
 *    HG_E_HSM_UNAVAILABLE) happen within BREAKER_WINDOW_US, and are at least as many as the
 *    operations that succeeded meanwhile (an HSM that fails now and then stays in service);
 *  - the health check hangs, or fails as an operation would.
 * The check runs every hsm.health_interval_ms on a session of its own, under the operation
 * deadline: C_GetTokenInfo, then C_GetSessionInfo, logging in again if the token lost the
 * login. A node that is down comes back when the check answers, but not sooner than
 * hsm.breaker_cooldown_ms after it went down, so that a node failing every other call is not
 * readmitted at every check. */
#include <stdio.h>
#include <string.h>

#include "p11_internal.h"

#define BREAKER_WINDOW_US (10 * 1000000LL)

void health_init(struct hg_p11 *p)
{
	struct node_health *h = &p->health;
	pthread_mutex_init(&h->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cv, &ca);
	pthread_condattr_destroy(&ca);
	atomic_store(&h->up, true);
	h->changed_us = time_now_us();
	h->probe.h = CK_INVALID_HANDLE;
	h->probe.probe = true;
	h->probe.state = SESS_IDLE;
}

void health_free(struct hg_p11 *p)
{
	pthread_mutex_destroy(&p->health.mu);
	pthread_cond_destroy(&p->health.cv);
}

/* Takes the node down (h->mu held); true if it was up. */
static bool down_locked(struct hg_p11 *p, const char *why)
{
	struct node_health *h = &p->health;
	if (!atomic_load(&h->up))
		return false;
	atomic_store_explicit(&h->up, false, memory_order_release);
	h->changed_us = time_now_us();
	h->down_mono_us = time_mono_us();
	snprintf(h->reason, sizeof h->reason, "%s", why);
	atomic_fetch_add(&h->downs, 1);
	log_error("hsm: %s is DOWN: %s; requests fail with 503 hsm_unavailable until its health check answers",
		  p->info.node, why);
	return true;
}

static void node_down(struct hg_p11 *p, const char *why)
{
	pthread_mutex_lock(&p->health.mu);
	bool changed = down_locked(p, why);
	pthread_mutex_unlock(&p->health.mu);
	if (changed)
		pool_wake_all(p); /* requests waiting for a session fail now */
}

static bool token_gone(CK_RV rv)
{
	return rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_RECOGNIZED ||
	       rv == CKR_CRYPTOKI_NOT_INITIALIZED;
}

void node_result(struct hg_p11 *p, const char *op, CK_RV rv)
{
	struct node_health *h = &p->health;
	if (p11_rv_err(rv) != HG_E_HSM_UNAVAILABLE) { /* an answer, even a refusal */
		atomic_fetch_add_explicit(&h->ok, 1, memory_order_relaxed);
		return;
	}
	atomic_fetch_add(&h->failed, 1);
	char nb[24], why[sizeof h->reason];
	const char *name = p11_rv_name(rv, nb);
	log_warn("hsm: %s: %s failed: %s", p->info.node, op, name);
	int64_t now = time_mono_us();
	pthread_mutex_lock(&h->mu);
	if (!h->win_start_us || now - h->win_start_us > BREAKER_WINDOW_US) {
		h->win_start_us = now;
		h->win_failures = 0;
		h->win_ok_base = atomic_load(&h->ok);
	}
	unsigned failures = ++h->win_failures;
	uint64_t successes = atomic_load(&h->ok) - h->win_ok_base;
	bool trip = token_gone(rv) || (failures >= p->breaker_failures && failures >= successes);
	if (token_gone(rv))
		snprintf(why, sizeof why, "%s: %s", op, name);
	else
		snprintf(why, sizeof why, "%u failures in %.1f s (%llu successes), the last %s: %s", failures,
			 (double)(now - h->win_start_us) / 1e6, (unsigned long long)successes, op, name);
	bool changed = trip && down_locked(p, why);
	pthread_mutex_unlock(&h->mu);
	if (changed)
		pool_wake_all(p);
}

void node_timeout(struct hg_p11 *p, const char *op, unsigned ms)
{
	atomic_fetch_add(&p->health.timeouts, 1);
	char why[sizeof p->health.reason];
	snprintf(why, sizeof why, "%s exceeded its deadline of %u ms", op, ms);
	log_error("hsm: %s: %s; the call is given up (PKCS#11 cannot cancel it)", p->info.node, why);
	node_down(p, why);
}

/* ---- the health check ---- */

static CK_RV check_body(struct hg_p11 *p, CK_SESSION_HANDLE s, void *arg)
{
	(void)arg;
	CK_TOKEN_INFO ti;
	CK_RV rv = p->f->C_GetTokenInfo(p->slot, &ti);
	if (rv == CKR_OK && !(ti.flags & CKF_TOKEN_INITIALIZED))
		rv = CKR_TOKEN_NOT_RECOGNIZED;
	CK_SESSION_INFO si;
	if (rv == CKR_OK)
		rv = p->f->C_GetSessionInfo(s, &si);
	if (rv == CKR_OK && si.state != CKS_RW_USER_FUNCTIONS && si.state != CKS_RO_USER_FUNCTIONS)
		rv = CKR_USER_NOT_LOGGED_IN; /* op_run logs in again and asks once more */
	return rv;
}

static void health_check(struct hg_p11 *p)
{
	struct node_health *h = &p->health;
	struct p11_op *op = op_begin_on(p, &h->probe, "health check", OP_REPEATABLE);
	if (!op)
		return; /* the last check is still inside the module: the node is down already */
	/* Its result counts as an operation's (node_result): a token gone or a check that hangs
	 * takes the node down at once, other failures through the breaker (SoftHSM, for one,
	 * answers C_GetTokenInfo with CKR_GENERAL_ERROR now and then while another process
	 * writes the token). */
	CK_RV rv = op_run(p, op, check_body, NULL);
	(void)op_end(p, op, rv);
	pthread_mutex_lock(&h->mu);
	h->last_check_us = time_now_us();
	h->last_check_rv = rv;
	if (!atomic_load(&h->up) && rv == CKR_OK &&
	    time_mono_us() - h->down_mono_us >= (int64_t)p->breaker_cooldown_ms * 1000) {
		atomic_store_explicit(&h->up, true, memory_order_release);
		int64_t now = time_now_us();
		log_info("hsm: %s is UP again after %.1f s down (%s); its health check answers", p->info.node,
			 (double)(now - h->changed_us) / 1e6, h->reason);
		h->changed_us = now;
		h->win_start_us = 0;
		handles_clear(&p->handles); /* a token that came back may know its objects by new handles */
	}
	pthread_mutex_unlock(&h->mu);
}

static void *health_main(void *arg)
{
	struct hg_p11 *p = arg;
	struct node_health *h = &p->health;
	pthread_mutex_lock(&h->mu);
	while (!h->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t ns = (int64_t)ts.tv_nsec + (int64_t)p->health_ms * 1000000;
		ts.tv_sec += (time_t)(ns / 1000000000);
		ts.tv_nsec = (long)(ns % 1000000000);
		while (!h->stop && pthread_cond_timedwait(&h->cv, &h->mu, &ts) == 0)
			;
		if (h->stop)
			break;
		pthread_mutex_unlock(&h->mu);
		health_check(p);
		pthread_mutex_lock(&h->mu);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

bool health_start(struct hg_p11 *p)
{
	struct node_health *h = &p->health;
	if (sess_start(p, &h->probe) != CKR_OK)
		return false;
	h->running = pthread_create(&h->thread, NULL, health_main, p) == 0;
	return h->running;
}

void health_stop(struct hg_p11 *p)
{
	struct node_health *h = &p->health;
	if (!h->running)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = true;
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->thread, NULL);
	h->running = false;
}

hg_err p11_ping(struct hg_p11 *p)
{
	return node_up(p) ? HG_OK : HG_E_HSM_UNAVAILABLE;
}

void p11_health(struct hg_p11 *p, struct hg_p11_health *out)
{
	struct node_health *h = &p->health;
	memset(out, 0, sizeof *out);
	snprintf(out->node, sizeof out->node, "%s", p->info.node);
	pthread_mutex_lock(&h->mu);
	out->up = atomic_load(&h->up);
	snprintf(out->reason, sizeof out->reason, "%s", h->reason);
	out->since_us = h->changed_us;
	out->last_check_us = h->last_check_us;
	out->last_check_ok = h->last_check_us && h->last_check_rv == CKR_OK;
	pthread_mutex_unlock(&h->mu);
	out->ops_ok = atomic_load(&h->ok);
	out->ops_failed = atomic_load(&h->failed);
	out->ops_timed_out = atomic_load(&h->timeouts);
	out->ops_refused = atomic_load(&h->refused);
	out->relogins = atomic_load(&h->relogins);
	out->sessions_replaced = atomic_load(&h->replaced);
	out->downs = atomic_load(&h->downs);
	pthread_mutex_lock(&p->mu);
	out->sessions = (unsigned)p->n_sess;
	out->sessions_idle = (unsigned)p->n_idle;
	for (size_t i = 0; i < p->n_sess; i++)
		out->sessions_abandoned += p->sess[i].state == SESS_ABANDONED;
	out->sessions_busy = out->sessions - out->sessions_idle - out->sessions_abandoned;
	pthread_mutex_unlock(&p->mu);
}
