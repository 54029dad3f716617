/* The audit verifier: recomputes every chain and checks every signed checkpoint and anchor.
 * It needs only read access to the database and the audit public key: an auditor runs it
 * with hsmgwctl, without the HSM or the gateway; GET /v1/audit/verify runs the same code. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "audit_internal.h"

void audit_anchor_path(const char *dir, const char *chain_id, char *out, size_t cap)
{
	char name[160];
	size_t i = 0;
	for (; chain_id[i] && i < sizeof name - 1; i++) {
		char c = chain_id[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
			  c == '_' || c == '-';
		name[i] = ok && !(i == 0 && c == '.') ? c : '_';
	}
	name[i] = '\0';
	snprintf(out, cap, "%s/%s.json", dir, name);
}

bool checkpoint_signature_ok(EVP_PKEY *pub, const struct hg_audit_checkpoint *cp)
{
	char msg[512];
	size_t n = audit_checkpoint_message(msg, sizeof msg, cp->chain_id, cp->seq, cp->head_hash, cp->ts_us);
	uint8_t *raw = NULL, der[80];
	size_t raw_len = 0, der_len = 0;
	if (n >= sizeof msg || b64_decode(cp->signature, strlen(cp->signature), 64, &raw, &raw_len) != 0)
		return false;
	if (raw_len == 64)
		der_len = ecdsa_raw_to_der(raw, raw_len, der, sizeof der);
	free(raw);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = der_len && ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pub) == 1 &&
		  EVP_DigestVerify(ctx, der, der_len, (const uint8_t *)msg, n) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* The walk over one chain. */
struct walk {
	struct hg_audit_verify *out;
	EVP_PKEY *pub;
	const char *chain_id;
	const struct hg_audit_checkpoint *cps; /* sorted by seq */
	size_t n_cps, next_cp;
	int64_t expect_seq;
	char prev[65];
	int64_t last_signed_seq; /* the seq of the last checkpoint that held */
	int64_t first_after_signed_id;
	bool broken;
	/* Intents still waiting for their outcome row. */
	struct open_intent {
		int64_t id;
		char request_id[129];
	} * intents;
	size_t n_intents, cap_intents;
};

static bool is_intent(const char *op)
{
	size_t n = strlen(op);
	return n > 7 && strcmp(op + n - 7, ".intent") == 0;
}

/* An intent opens; any later row of the same request closes it. */
static void track_intent(struct walk *w, int64_t id, const struct hg_audit_record *r)
{
	if (!is_intent(r->operation)) {
		for (size_t i = 0; i < w->n_intents; i++) {
			if (strcmp(w->intents[i].request_id, r->request_id) == 0) {
				w->intents[i] = w->intents[--w->n_intents];
				i--;
			}
		}
		return;
	}
	if (w->n_intents == w->cap_intents) {
		size_t cap = w->cap_intents ? 2 * w->cap_intents : 16;
		void *p = realloc(w->intents, cap * sizeof *w->intents);
		if (!p)
			return;
		w->intents = p;
		w->cap_intents = cap;
	}
	w->intents[w->n_intents].id = id;
	snprintf(w->intents[w->n_intents].request_id, sizeof w->intents[0].request_id, "%s", r->request_id);
	w->n_intents++;
}

static bool fail(struct walk *w, int64_t id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail(struct walk *w, int64_t id, const char *fmt, ...)
{
	w->broken = true;
	w->out->ok = false;
	w->out->first_broken_id = id;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->out->problem, sizeof w->out->problem, fmt, ap);
	va_end(ap);
	return false;
}

static bool on_row(void *ctx, int64_t id, const struct hg_audit_record *r)
{
	struct walk *w = ctx;
	w->out->rows_checked++;
	if (r->seq != w->expect_seq)
		return fail(w, id, "chain %s: row %lld has seq %lld where %lld was expected (rows are missing)",
			    w->chain_id, (long long)id, (long long)r->seq, (long long)w->expect_seq);
	if (strcmp(r->prev_hash, w->prev) != 0)
		return fail(w, id, "chain %s: row %lld does not link to the row before it", w->chain_id, (long long)id);
	char canon[2048], hash[65];
	size_t n = audit_canonical(canon, sizeof canon, r->chain_id, r->seq, r->ts_us, r->tenant, r->caller,
				   r->request_id, r->operation, r->key_id, r->key_version, r->outcome, r->http_status,
				   r->error_code, r->hsm_node, r->duration_us, r->prev_hash);
	if (n >= sizeof canon)
		return fail(w, id, "chain %s: row %lld is too long to be one the gateway wrote", w->chain_id,
			    (long long)id);
	audit_hash(canon, n, hash);
	if (strcmp(hash, r->hash) != 0)
		return fail(w, id, "chain %s: row %lld was changed after it was written (its hash does not match)",
			    w->chain_id, (long long)id);
	if (w->first_after_signed_id == 0)
		w->first_after_signed_id = id;
	/* The checkpoints at this seq: the signed head must be this row. */
	while (w->next_cp < w->n_cps && w->cps[w->next_cp].seq <= r->seq) {
		const struct hg_audit_checkpoint *cp = &w->cps[w->next_cp++];
		if (cp->seq < r->seq)
			continue; /* reported after the walk: its row is missing */
		if (w->pub && !checkpoint_signature_ok(w->pub, cp))
			return fail(w, id, "chain %s: checkpoint %lld (seq %lld) does not verify under the audit key",
				    w->chain_id, (long long)cp->id, (long long)cp->seq);
		if (strcmp(cp->head_hash, r->hash) != 0)
			/* Rows after the last sound checkpoint were rewritten with recomputed hashes. */
			return fail(w, w->first_after_signed_id,
				    "chain %s: rows %lld..%lld were rewritten: the head at seq %lld is not the one "
				    "checkpoint %lld signed",
				    w->chain_id, (long long)w->first_after_signed_id, (long long)id, (long long)cp->seq,
				    (long long)cp->id);
		if (w->pub)
			w->out->checkpoints_verified++;
		w->last_signed_seq = cp->seq;
		w->first_after_signed_id = 0;
	}
	track_intent(w, id, r);
	memcpy(w->prev, r->hash, sizeof w->prev);
	w->expect_seq++;
	return true;
}

/* Reads <dir>/<chain>.json into cp; false when there is none. A file that does not parse
 * counts as an anchor that cannot be matched. */
static bool anchor_read(const char *dir, const char *chain_id, struct hg_audit_checkpoint *cp, bool *bad)
{
	char path[4096];
	audit_anchor_path(dir, chain_id, path, sizeof path);
	*bad = false;
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	json_error_t je;
	json_t *j = json_loadf(f, 0, &je);
	fclose(f);
	const char *chain = NULL, *head = NULL, *fp = NULL, *sig = NULL;
	json_int_t seq = 0, ts = 0;
	*bad = !j ||
	       json_unpack(j, "{s:s, s:I, s:s, s:I, s:s, s:s}", "chain_id", &chain, "seq", &seq, "head_hash", &head,
			   "ts_us", &ts, "key_fingerprint", &fp, "signature", &sig) != 0 ||
	       strcmp(chain, chain_id) != 0;
	if (!*bad) {
		memset(cp, 0, sizeof *cp);
		snprintf(cp->chain_id, sizeof cp->chain_id, "%s", chain);
		cp->seq = seq;
		cp->ts_us = ts;
		snprintf(cp->head_hash, sizeof cp->head_hash, "%s", head);
		snprintf(cp->key_fingerprint, sizeof cp->key_fingerprint, "%s", fp);
		snprintf(cp->signature, sizeof cp->signature, "%s", sig);
	}
	json_decref(j);
	return true;
}

/* One chain: rows, checkpoints, anchor. */
static hg_err verify_chain(struct hg_db_conn *c, const char *chain_id, EVP_PKEY *pub, const char *anchor_dir,
			   struct hg_audit_verify *out)
{
	struct walk w = {.out = out, .pub = pub, .chain_id = chain_id, .expect_seq = 1};
	memset(w.prev, '0', 64);
	w.prev[64] = '\0';
	/* The anchor first: a writer stores a checkpoint before it writes the anchor, so what
	 * the database shows afterwards is never older than the anchor read here. */
	struct hg_audit_checkpoint anchor;
	bool bad = false, anchored = anchor_dir && anchor_read(anchor_dir, chain_id, &anchor, &bad);
	struct hg_audit_checkpoint *cps = NULL;
	size_t n = 0;
	hg_err e = store_audit_checkpoints(c, chain_id, &cps, &n);
	w.cps = cps;
	w.n_cps = n;
	if (e == HG_OK)
		e = store_audit_walk(c, chain_id, on_row, &w);
	int64_t last_seq = w.expect_seq - 1;
	for (size_t i = 0; i < w.n_intents; i++) {
		out->open_intents++;
		if (!out->first_open_intent_id || w.intents[i].id < out->first_open_intent_id)
			out->first_open_intent_id = w.intents[i].id;
	}
	free(w.intents);
	/* A checkpoint past the chain's end: signed rows were deleted. */
	if (e == HG_OK && !w.broken && w.next_cp < n)
		fail(&w, 0,
		     "chain %s: checkpoint %lld signed seq %lld but the chain ends at seq %lld (rows were deleted)",
		     chain_id, (long long)cps[w.next_cp].id, (long long)cps[w.next_cp].seq, (long long)last_seq);
	if (e == HG_OK && !w.broken && anchored) {
		bool in_db = false;
		for (size_t i = 0; i < n && !bad; i++)
			in_db |= cps[i].seq == anchor.seq && strcmp(cps[i].head_hash, anchor.head_hash) == 0 &&
				 strcmp(cps[i].signature, anchor.signature) == 0;
		if (bad)
			fail(&w, 0, "chain %s: its anchor file does not parse", chain_id);
		else if (pub && !checkpoint_signature_ok(pub, &anchor))
			fail(&w, 0, "chain %s: its anchor does not verify under the audit key", chain_id);
		else if (!in_db || anchor.seq > last_seq)
			fail(&w, 0,
			     "chain %s: the newest checkpoint kept outside the database (seq %lld) is not in it: the "
			     "chain's tail was cut off",
			     chain_id, (long long)anchor.seq);
	}
	free(cps);
	return e;
}

static bool any_chain(const char *const *ids, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return true;
	return false;
}

/* An anchor whose chain has vanished from the database altogether. */
static void orphan_anchors(const char *dir, char *const *ids, size_t n, struct hg_audit_verify *out)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && out->ok && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0)
			continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		json_error_t je;
		json_t *j = json_load_file(path, 0, &je);
		const char *chain = j ? json_string_value(json_object_get(j, "chain_id")) : NULL;
		if (chain && !any_chain((const char *const *)ids, n, chain)) {
			out->ok = false;
			snprintf(out->problem, sizeof out->problem,
				 "chain %.128s has an anchor outside the database but no rows in it", chain);
		}
		json_decref(j);
	}
	if (d)
		closedir(d);
}

hg_err audit_verify(const char *conninfo, const char *public_pem, const char *anchor_dir, struct hg_audit_verify *out)
{
	memset(out, 0, sizeof *out);
	out->ok = true;
	EVP_PKEY *pub = NULL;
	if (public_pem) {
		BIO *b = BIO_new_mem_buf(public_pem, -1);
		pub = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
		if (!pub) {
			snprintf(out->problem, sizeof out->problem, "the public key is not a PEM public key");
			return HG_E_INVALID;
		}
	}
	struct hg_db_conn *c = db_conn_open(conninfo);
	if (!c) {
		EVP_PKEY_free(pub);
		snprintf(out->problem, sizeof out->problem, "the database cannot be reached");
		return HG_E_AUDIT_UNAVAILABLE;
	}
	char **ids = NULL;
	size_t n = 0;
	hg_err e = store_audit_chain_ids(c, &ids, &n);
	for (size_t i = 0; e == HG_OK && i < n && out->ok; i++) {
		out->chains++;
		e = verify_chain(c, ids[i], pub, anchor_dir, out);
	}
	if (e == HG_OK && out->ok && anchor_dir)
		orphan_anchors(anchor_dir, ids, n, out);
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	db_conn_close(c);
	EVP_PKEY_free(pub);
	if (e != HG_OK && !out->problem[0])
		snprintf(out->problem, sizeof out->problem, "the audit tables cannot be read");
	return e;
}

static json_t *id_or_null(int64_t id)
{
	return id ? json_integer(id) : json_null();
}

json_t *audit_verify_json(const struct hg_audit_verify *v)
{
	return json_pack("{s:b, s:I, s:I, s:I, s:o, s:s, s:I, s:o}", "ok", v->ok, "rows_checked",
			 (json_int_t)v->rows_checked, "chains", (json_int_t)v->chains, "checkpoints_verified",
			 (json_int_t)v->checkpoints_verified, "first_broken_id", id_or_null(v->first_broken_id),
			 "problem", v->problem, "open_intents", (json_int_t)v->open_intents, "first_open_intent_id",
			 id_or_null(v->first_open_intent_id));
}
