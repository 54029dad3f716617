/* HTTPS through libmicrohttpd's GnuTLS: TLS 1.2 at least (1.3 preferred, or only 1.3 with
 * tls.min_version), the certificate and key served by a callback so that SIGHUP can swap them
 * without a restart, and client certificates that must chain to tls.client_ca_file.
 *
 * The callback has no context argument, so the one certificate holder is reached through a
 * file-scope pointer set once before the daemon starts; what it points to changes only under
 * its lock. Every certificate generation stays alive until tls_close: a handshake that began
 * with the old one may still be using it. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "http_internal.h"

struct cert_gen {
	gnutls_pcert_st *chain;
	unsigned n;
	gnutls_privkey_t key;
	struct cert_gen *older;
};

struct hg_tls {
	char *cert_file, *key_file;
	char *ca_pem; /* client CA bundle (NULL: no client certificates) */
	const char *priorities;
	pthread_rwlock_t lock;
	struct cert_gen *current;
};

static struct hg_tls *holder; /* set once in tls_open, before the daemon starts */

static void gen_free(struct cert_gen *g)
{
	while (g) {
		struct cert_gen *older = g->older;
		for (unsigned i = 0; i < g->n; i++)
			gnutls_pcert_deinit(&g->chain[i]);
		free(g->chain);
		gnutls_privkey_deinit(g->key);
		free(g);
		g = older;
	}
}

static struct cert_gen *gen_load(const char *cert_file, const char *key_file, char *err, size_t len)
{
	size_t cl = 0, kl = 0;
	char *cert = file_read_all(cert_file, 1 << 20, &cl), *key = NULL;
	struct cert_gen *g = calloc(1, sizeof *g);
	const char *why = NULL;
	if (!cert)
		why = "cannot read tls.cert_file";
	else if (!(key = file_read_all(key_file, 1 << 20, &kl)))
		why = "cannot read tls.key_file";
	if (!why) {
		gnutls_datum_t cd = {(unsigned char *)cert, (unsigned)cl}, kd = {(unsigned char *)key, (unsigned)kl};
		unsigned n = 16;
		g->chain = calloc(n, sizeof *g->chain);
		if (gnutls_pcert_list_import_x509_raw(g->chain, &n, &cd, GNUTLS_X509_FMT_PEM, 0) < 0 || n == 0)
			why = "tls.cert_file holds no usable PEM certificate chain";
		else
			g->n = n;
		if (!why && (gnutls_privkey_init(&g->key) < 0 ||
			     gnutls_privkey_import_x509_raw(g->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0) < 0))
			why = "tls.key_file holds no usable PEM private key";
	}
	hg_free_secret(key, kl + 1);
	free(cert);
	if (why) {
		snprintf(err, len, "%s", why);
		gen_free(g);
		return NULL;
	}
	return g;
}

static int retrieve_cert(gnutls_session_t s, const gnutls_datum_t *req_ca, int nreq, const gnutls_pk_algorithm_t *algos,
			 int nalgos, gnutls_pcert_st **chain, unsigned *n, gnutls_privkey_t *key)
{
	(void)s, (void)req_ca, (void)nreq, (void)algos, (void)nalgos;
	pthread_rwlock_rdlock(&holder->lock);
	*chain = holder->current->chain;
	*n = holder->current->n;
	*key = holder->current->key;
	pthread_rwlock_unlock(&holder->lock);
	return 0;
}

struct hg_tls *tls_open(const struct hg_config *cfg, char *err, size_t len)
{
	if (holder) {
		snprintf(err, len, "TLS is already set up in this process");
		return NULL;
	}
	struct hg_tls *t = calloc(1, sizeof *t);
	t->cert_file = strdup(cfg->tls_cert_file);
	t->key_file = strdup(cfg->tls_key_file);
	/* NORMAL minus every version, plus the ones allowed: 1.3 is preferred when both are. */
	t->priorities = strcmp(cfg->tls_min_version, "1.3") == 0 ? "NORMAL:-VERS-ALL:+VERS-TLS1.3"
								 : "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
	pthread_rwlock_init(&t->lock, NULL);
	size_t n = 0;
	if (cfg->tls_client_ca_file && !(t->ca_pem = file_read_all(cfg->tls_client_ca_file, 1 << 20, &n))) {
		snprintf(err, len, "cannot read tls.client_ca_file %s", cfg->tls_client_ca_file);
		tls_close(t);
		return NULL;
	}
	if (!(t->current = gen_load(t->cert_file, t->key_file, err, len))) {
		tls_close(t);
		return NULL;
	}
	holder = t;
	return t;
}

void tls_close(struct hg_tls *t)
{
	if (!t)
		return;
	if (holder == t)
		holder = NULL;
	gen_free(t->current);
	pthread_rwlock_destroy(&t->lock);
	free(t->cert_file);
	free(t->key_file);
	free(t->ca_pem);
	free(t);
}

unsigned tls_mhd_flags(const struct hg_tls *t)
{
	return t ? MHD_USE_TLS : 0;
}

size_t tls_mhd_options(struct hg_tls *t, struct MHD_OptionItem *o)
{
	size_t n = 0;
	if (!t)
		return 0;
	o[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)retrieve_cert};
	o[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)t->priorities};
	if (t->ca_pem)
		o[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, t->ca_pem};
	return n;
}

bool tls_reload(struct hg_tls *t, char *err, size_t len)
{
	struct cert_gen *g = gen_load(t->cert_file, t->key_file, err, len);
	if (!g)
		return false;
	pthread_rwlock_wrlock(&t->lock);
	g->older = t->current;
	t->current = g;
	pthread_rwlock_unlock(&t->lock);
	return true;
}

bool tls_client_auth(const struct hg_tls *t)
{
	return t && t->ca_pem;
}

void tls_check_peer(struct MHD_Connection *c, struct hg_peer *peer)
{
	if (peer->checked)
		return;
	peer->checked = true;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_session_t s = ci ? (gnutls_session_t)ci->tls_session : NULL;
	unsigned status = 0, n = 0;
	int rc = s ? gnutls_certificate_verify_peers2(s, &status) : GNUTLS_E_INVALID_SESSION;
	const gnutls_datum_t *certs = rc == 0 && status == 0 ? gnutls_certificate_get_peers(s, &n) : NULL;
	if (rc == GNUTLS_E_NO_CERTIFICATE_FOUND || (rc == 0 && status == 0 && n == 0)) {
		snprintf(peer->why, sizeof peer->why, "a client certificate is required");
		return;
	}
	if (rc != 0 || status != 0 || !certs) {
		snprintf(peer->why, sizeof peer->why,
			 "the client certificate does not chain to a trusted CA or is not valid now");
		return;
	}
	gnutls_x509_crt_t crt;
	gnutls_datum_t dn = {0};
	if (gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0 &&
	    gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0) {
		snprintf(peer->dn, sizeof peer->dn, "%.*s", (int)dn.size, (const char *)dn.data);
		peer->verified = true;
	} else {
		snprintf(peer->why, sizeof peer->why, "the client certificate cannot be read");
	}
	gnutls_free(dn.data);
	gnutls_x509_crt_deinit(crt);
}
