/* The session pool. Sessions are opened and logged in once at start; one function moves a
 * session between states (sess_set), so a session that failed mid-operation is never lent
 * again: it is closed and replaced by a fresh one, after a fresh login if the token lost it. */
#include <stdlib.h>
#include <time.h>

#include "p11_internal.h"

static CK_RV open_session(struct hg_p11 *p, CK_SESSION_HANDLE *h)
{
	CK_RV rv = p->f->C_OpenSession(p->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, h);
	if (rv != CKR_OK)
		return rv;
	/* Login is per application and token: the first session's login covers all of them. */
	rv = p->f->C_Login(*h, CKU_USER, (CK_UTF8CHAR_PTR)p->pin, p->pin_len);
	if (rv == CKR_USER_ALREADY_LOGGED_IN)
		rv = CKR_OK;
	if (rv != CKR_OK)
		p->f->C_CloseSession(*h);
	return rv;
}

/* The one place a session changes state. Called with p->mu held. */
static void sess_set(struct hg_p11 *p, struct p11_sess *s, enum sess_state to)
{
	if (to == SESS_IDLE)
		p->idle[p->n_idle++] = s;
	s->state = to;
}

hg_err pool_open(struct hg_p11 *p, size_t n, unsigned wait_ms)
{
	p->sess = calloc(n, sizeof *p->sess);
	p->idle = calloc(n, sizeof *p->idle);
	p->wait_ms = wait_ms;
	for (size_t i = 0; i < n; i++) {
		CK_RV rv = open_session(p, &p->sess[i].h);
		if (rv != CKR_OK) {
			log_error("hsm: C_OpenSession/C_Login failed: CKR 0x%08lx", (unsigned long)rv);
			return p11_rv_err(rv) == HG_OK ? HG_E_INTERNAL : p11_rv_err(rv);
		}
		p->n_sess++;
		sess_set(p, &p->sess[i], SESS_IDLE);
	}
	return HG_OK;
}

void pool_close(struct hg_p11 *p)
{
	if (p->n_sess > 0)
		p->f->C_Logout(p->sess[0].h);
	for (size_t i = 0; i < p->n_sess; i++)
		if (p->sess[i].state != SESS_BROKEN)
			p->f->C_CloseSession(p->sess[i].h);
	free(p->sess);
	free(p->idle);
	p->sess = NULL;
	p->idle = NULL;
	p->n_sess = p->n_idle = 0;
}

/* A session pinned to this thread for a run of operations (a batch): every borrow on the
 * thread gets it, and returns leave it lent until p11_unpin. */
static __thread struct {
	struct hg_p11 *p;
	struct p11_sess *s;
} pinned;

hg_err sess_borrow(struct hg_p11 *p, struct p11_sess **out)
{
	int64_t t0 = time_mono_us();
	if (pinned.p == p && pinned.s) {
		*out = pinned.s;
		pinned.s->lent_at_us = t0;
		return HG_OK;
	}
	struct timespec deadline;
	time_deadline(&deadline, p->wait_ms);
	pthread_mutex_lock(&p->mu);
	bool waited = p->n_idle == 0;
	while (p->n_idle == 0) {
		if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) != 0) {
			pthread_mutex_unlock(&p->mu);
			log_warn("hsm: no free session within %u ms", p->wait_ms);
			hist_observe(&p->stats.waits, time_mono_us() - t0);
			atomic_fetch_add_explicit(&p->stats.waited, 1, memory_order_relaxed);
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

hg_err sess_borrow_key(struct hg_p11 *p, const hg_uuid *id, CK_OBJECT_CLASS cls, struct p11_sess **s,
		       CK_OBJECT_HANDLE *k, CK_RV *rv)
{
	hg_err e = sess_borrow(p, s);
	if (e == HG_OK)
		*rv = handles_get(p, (*s)->h, id, cls, k);
	return e;
}

/* Replaces a session that failed. If the token does not answer, the session keeps an
 * invalid handle: the next call on it fails at once with CKR_SESSION_HANDLE_INVALID and
 * brings it back here, so the pool heals by itself when the token answers again. */
static void sess_reopen(struct hg_p11 *p, struct p11_sess *s, CK_RV why)
{
	pthread_mutex_lock(&p->mu);
	sess_set(p, s, SESS_BROKEN);
	pthread_mutex_unlock(&p->mu);
	log_warn("hsm: session failed (CKR 0x%08lx); replacing it", (unsigned long)why);
	p->f->C_CloseSession(s->h);
	CK_RV orv = open_session(p, &s->h);
	if (orv != CKR_OK) {
		log_error("hsm: cannot reopen session: CKR 0x%08lx", (unsigned long)orv);
		s->h = CK_INVALID_HANDLE;
	}
	pthread_mutex_lock(&p->mu);
	sess_set(p, s, SESS_LENT);
	pthread_mutex_unlock(&p->mu);
}

void sess_return(struct hg_p11 *p, struct p11_sess *s, CK_RV rv)
{
	p11_stats_op(&p->stats, rv, time_mono_us() - s->lent_at_us);
	if (p11_rv_breaks_session(rv))
		sess_reopen(p, s, rv);
	if (pinned.s == s) /* stays with its thread until p11_unpin */
		return;
	pthread_mutex_lock(&p->mu);
	sess_set(p, s, SESS_IDLE);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

hg_err p11_pin(struct hg_p11 *p)
{
	struct p11_sess *s;
	hg_err e = sess_borrow(p, &s);
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
	sess_return(p, s, CKR_OK);
}
