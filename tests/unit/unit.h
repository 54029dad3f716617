/* The unit suites (Check, no services). Each test_*.c file contributes one suite. */
#ifndef HSMGW_TESTS_UNIT_H
#define HSMGW_TESTS_UNIT_H

#include <check.h>

Suite *suite_encoding(void);
Suite *suite_routes(void);
Suite *suite_config(void);
Suite *suite_auth(void);
Suite *suite_audit(void);
Suite *suite_json(void);
Suite *suite_lifecycle(void);
Suite *suite_pinblock(void);
Suite *suite_payments(void);
Suite *suite_keycache(void);
Suite *suite_privs(void);
Suite *suite_tokens(void);

#endif
