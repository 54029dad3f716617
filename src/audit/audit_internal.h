/* Shared by the files of audit/ only. */
#ifndef HSMGW_AUDIT_INTERNAL_H
#define HSMGW_AUDIT_INTERNAL_H

#include <jansson.h>
#include <openssl/evp.h>

#include "hsmgw/audit.h"
#include "hsmgw/store.h"

/* Appends s as a netstring "<len>:<bytes>," (NULL as "~,") at out + at, writing nothing past
 * cap; returns the new length, which may exceed cap (then the caller's buffer was short). */
size_t netstring_put(char *out, size_t cap, size_t at, const char *s);

/* Signs msg with the audit signing key: raw ECDSA r ‖ s into sig. */
hg_err audit_signer_sign(struct hg_audit_signer *s, const char *msg, size_t n, uint8_t sig[64]) HG_WARN_UNUSED;

/* Verifies a checkpoint's signature (base64 raw r ‖ s) over its message with pub. */
bool checkpoint_signature_ok(EVP_PKEY *pub, const struct hg_audit_checkpoint *cp);

/* The SIEM feed (siem.c): NULL when neither audit.siem_file nor audit.siem_syslog is set. */
struct hg_siem;
struct hg_siem *siem_open(const struct hg_config *cfg);
void siem_close(struct hg_siem *s);
/* One row or checkpoint: a line in the file, a datagram to syslog. */
void siem_emit(struct hg_siem *s, const json_t *o);
/* After a batch: the file's buffer to the kernel. */
void siem_flush(struct hg_siem *s);

#endif
