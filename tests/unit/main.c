#include <stdlib.h>

#include "unit.h"

int main(void)
{
	SRunner *sr = srunner_create(suite_encoding());
	srunner_add_suite(sr, suite_routes());
	srunner_add_suite(sr, suite_config());
	srunner_add_suite(sr, suite_auth());
	srunner_add_suite(sr, suite_audit());
	srunner_add_suite(sr, suite_json());
	srunner_add_suite(sr, suite_lifecycle());
	srunner_add_suite(sr, suite_pinblock());
	srunner_add_suite(sr, suite_payments());
	srunner_add_suite(sr, suite_keycache());
	srunner_add_suite(sr, suite_privs());
	srunner_add_suite(sr, suite_tokens());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
