/* Shared by the files of http/ only. */
#ifndef HSMGW_HTTP_INTERNAL_H
#define HSMGW_HTTP_INTERNAL_H

#include <microhttpd.h>

#include "hsmgw/http.h"

/* ---- TLS (tls.c) ---- */
struct hg_tls;

/* Loads tls.cert_file, tls.key_file and tls.client_ca_file; NULL with a reason in err when
 * one cannot be used. Only when tls.cert_file is set. */
struct hg_tls *tls_open(const struct hg_config *cfg, char *err, size_t err_len);
void tls_close(struct hg_tls *t);
/* The daemon options TLS adds (flags, and options written into opts, at most 4). */
unsigned tls_mhd_flags(const struct hg_tls *t);
size_t tls_mhd_options(struct hg_tls *t, struct MHD_OptionItem *opts);
/* Reads the certificate and key again; new handshakes use them, current ones keep theirs. */
bool tls_reload(struct hg_tls *t, char *err, size_t err_len);
/* Whether client certificates are required (tls.client_ca_file is set). */
bool tls_client_auth(const struct hg_tls *t);

/* What a connection's client certificate proved, established once per connection. */
struct hg_peer {
	bool checked;
	bool verified; /* a certificate that chains to tls.client_ca_file and is valid now */
	char dn[512];  /* its subject (RFC 4514), when verified */
	char why[128]; /* why not, for the 401 */
};
/* Checks the connection's client certificate (once; later calls return the same answer). */
void tls_check_peer(struct MHD_Connection *c, struct hg_peer *peer);

#endif
