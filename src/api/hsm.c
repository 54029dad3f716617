/* GET /v1/hsm: what the gateway runs on — the PKCS#11 library and token of each node, as
 * read at start (C_GetInfo, C_GetTokenInfo), the session pool, and whether it answers now. */
#include "api_internal.h"

static json_t *node_json(struct hg_p11 *p)
{
	const struct hg_p11_info *i = p11_info(p);
	struct hg_p11_health h;
	p11_health(p, &h);
	char since[32];
	time_format_rfc3339(h.since_us, since);
	return json_pack("{s:s, s:{s:s, s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s, s:s},"
			 " s:{s:I, s:I, s:I, s:I}, s:s, s:{s:s, s:s, s:s?}}",
			 "node", i->node, "library", "manufacturer", i->library_manufacturer, "description",
			 i->library_description, "version", i->library_version, "cryptoki_version", i->cryptoki_version,
			 "token", "label", i->token_label, "manufacturer", i->token_manufacturer, "model",
			 i->token_model, "serial", i->token_serial, "firmware_version", i->firmware_version,
			 "hardware_version", i->hardware_version, "sessions", "total", (json_int_t)h.sessions, "idle",
			 (json_int_t)h.sessions_idle, "busy", (json_int_t)h.sessions_busy, "abandoned",
			 (json_int_t)h.sessions_abandoned, "health", h.up ? "ok" : "down", "status", "state",
			 h.up ? "up" : "down", "since", since, "last_down_reason", h.reason[0] ? h.reason : NULL);
}

hg_err api_hsm_get(struct hg_request *req)
{
	json_t *node = node_json(app_of(req)->p11);
	http_reply(req, 200, node ? json_pack("{s:[o]}", "nodes", node) : NULL);
	return HG_OK;
}
