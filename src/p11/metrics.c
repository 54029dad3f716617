/* The HSM's families for /metrics: the session pool's use, and whether the token answers. */
#include "hsmgw/metrics.h"
#include "p11_internal.h"

void p11_pool_stats(struct hg_p11 *p, struct hg_p11_pool_stats *out)
{
	pthread_mutex_lock(&p->mu);
	out->total = p->n_sess;
	out->idle = p->n_idle;
	pthread_mutex_unlock(&p->mu);
}

void p11_metrics(struct hg_p11 *p, struct hg_prom *out)
{
	struct hg_p11_pool_stats ps;
	p11_pool_stats(p, &ps);
	size_t total = ps.total, idle = ps.idle;
	char labels[128];
	prom_family(out, "hsmgw_hsm_sessions", "gauge", "PKCS#11 sessions of the pool, by state.");
	prom_labels(labels, sizeof labels, "node", p->info.node, "state", "idle", (const char *)NULL);
	prom_sample(out, "hsmgw_hsm_sessions", labels, (double)idle);
	prom_labels(labels, sizeof labels, "node", p->info.node, "state", "lent", (const char *)NULL);
	prom_sample(out, "hsmgw_hsm_sessions", labels, (double)(total - idle));
	prom_family(out, "hsmgw_hsm_up", "gauge", "Whether the token answered this scrape (C_GetSessionInfo).");
	prom_labels(labels, sizeof labels, "node", p->info.node, (const char *)NULL);
	prom_sample(out, "hsmgw_hsm_up", labels, p11_ping(p) == HG_OK ? 1 : 0);
}
