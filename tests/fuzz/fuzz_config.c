/* The configuration loader (config_parse, the in-memory form of config_load) on arbitrary
 * text. Properties: a refusal names a reason; an accepted configuration keeps every key
 * within its declared limits, has its required keys, at least one tenant with an issuer
 * unique among them and algorithms of one family, and dumps without trouble. */
#include "fuzz.h"
#include "hsmgw/config.h"

static void check_accepted(const struct hg_config *c)
{
	FUZZ_ASSERT(c->listen_address && c->db_conninfo && c->hsm_module && c->hsm_token_label && c->hsm_pin_file);
	FUZZ_ASSERT(c->listen_port >= 1 && c->listen_port <= 65535);
	FUZZ_ASSERT(c->http_threads >= 1 && c->http_threads <= 1024);
	FUZZ_ASSERT(c->http_max_body_bytes >= 1024 && c->http_max_body_bytes <= 16777216);
	FUZZ_ASSERT(c->hsm_sessions >= 1 && c->db_pool_size >= 1);
	FUZZ_ASSERT(c->audit_chain_id && strlen(c->audit_chain_id) <= 128);
	FUZZ_ASSERT(c->log_level);
	FUZZ_ASSERT(c->n_tenants >= 1 && c->tenants);
	for (char **e = c->hsm_env; e && *e; e++)
		FUZZ_ASSERT(strchr(*e, '=') != NULL && **e != '=');
	for (size_t i = 0; i < c->n_tenants; i++) {
		const struct hg_tenant_cfg *t = &c->tenants[i];
		FUZZ_ASSERT(t->name && t->issuer && t->audience);
		FUZZ_ASSERT(*t->name && *t->issuer && *t->audience);
		FUZZ_ASSERT(t->algorithms != 0 && t->algorithms < 1u << HG_ALG_COUNT);
		unsigned families =
		    !!(t->algorithms & 0x007u) + !!(t->algorithms & 0x038u) + !!(t->algorithms & 0x1c0u);
		FUZZ_ASSERT(families == 1);
		FUZZ_ASSERT(config_tenant(c, t->name) == t);
		for (size_t j = 0; j < i; j++)
			FUZZ_ASSERT(strcmp(c->tenants[j].issuer, t->issuer) != 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = (char *)fuzz_copy(data, size);
	char err[512] = "";
	struct hg_config *c = config_parse(text, size, "fuzz.json", err, sizeof err);
	if (!c) {
		FUZZ_ASSERT(strncmp(err, "fuzz.json: ", 11) == 0 && err[11] != '\0');
	} else {
		check_accepted(c);
		FILE *devnull = fopen("/dev/null", "w");
		config_dump(c, devnull);
		fclose(devnull);
		config_free(c);
	}
	free(text);
	return 0;
}
