/* hsmgw API tests: Check + libcurl against a running hsmgwd, its PostgreSQL and SoftHSM.
 * deploy/dev/test.sh starts a fresh daemon and runs this with HSMGW_TEST_* set (harness.h).
 * The robustness TCase sends inputs that could bring the daemon down, so it runs after the
 * others, as does the faults TCase (it makes the HSM fail and hang); the outage TCase stops and
 * restarts PostgreSQL, so it runs last. */
#include <stdlib.h>

#include "harness.h"
#include "crypto_interop.h"
#include "km_util.h"

int main(void)
{
	h_init();
	Suite *s = suite_create("hsmgw-api");
	TCase *(*const tcases[])(void) = {
	    tcase_ops,    tcase_auth,           tcase_protocol,        tcase_keys,     tcase_tenants,
	    tcase_crypto, tcase_audit,          tcase_audit_proof,     tcase_km_types, tcase_km_lifecycle,
	    tcase_km_io,  tcase_crypto_interop, tcase_crypto_interop2, tcase_batch,    tcase_payments,
	    tcase_tokens, tcase_metrics,        tcase_limits,          tcase_tls,      tcase_secrets,
	    tcase_crash,  tcase_robustness,     tcase_faults,          tcase_outage};
	for (size_t i = 0; i < sizeof tcases / sizeof *tcases; i++) {
		TCase *tc = tcases[i]();
		/* 1000 tokens through the sanitized daemon (full malloc stacks) take tens of seconds; the
		 * crash tests start and stop gateways of their own. */
		tcase_set_timeout(tc, tcases[i] == tcase_tokens || tcases[i] == tcase_crash ? H_LONG_TIMEOUT_S
											    : H_TIMEOUT_S);
		suite_add_tcase(s, tc);
	}
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	h_fini();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
