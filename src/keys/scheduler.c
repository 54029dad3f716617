/* The lifecycle scheduler thread: one keys_lifecycle_run pass every interval. Several
 * instances may run it at once: each change is a compare-and-set, so a change another
 * instance made first is skipped. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "hsmgw/keys.h"

struct hg_scheduler {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;
	unsigned interval_s;
	struct hg_keys keys;
};

static void *scheduler_main(void *arg)
{
	struct hg_scheduler *s = arg;
	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		pthread_mutex_unlock(&s->mu);
		unsigned applied, failed;
		if (keys_lifecycle_run(&s->keys, time_now_us(), &applied, &failed) != HG_OK)
			log_warn("lifecycle: pass skipped: the database is unavailable");
		pthread_mutex_lock(&s->mu);
		struct timespec deadline;
		time_deadline(&deadline, s->interval_s * 1000);
		while (!s->stopping && pthread_cond_timedwait(&s->cv, &s->mu, &deadline) == 0)
			;
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

struct hg_scheduler *scheduler_start(const struct hg_keys *keys, unsigned interval_s)
{
	if (interval_s == 0)
		return NULL;
	struct hg_scheduler *s = calloc(1, sizeof *s);
	s->keys = *keys;
	s->interval_s = interval_s;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (pthread_create(&s->thread, NULL, scheduler_main, s) != 0) {
		log_error("lifecycle: cannot start the scheduler thread");
		free(s);
		return NULL;
	}
	return s;
}

void scheduler_stop(struct hg_scheduler *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}
