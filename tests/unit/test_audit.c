/* The audit row's canonical encoding and hash: unambiguous, and equal to an independent
 * SHA-256 of the documented byte string. */
#include <string.h>

#include <openssl/evp.h>

#include "hsmgw/audit.h"
#include "unit.h"

static size_t canon(char *out, size_t cap, const char *tenant, const char *caller, const char *error_code)
{
	return audit_canonical(out, cap, "chain-1", 7, 1700000000123456, tenant, caller, "rid-1", "crypto.encrypt",
			       "123e4567-e89b-42d3-a456-426614174000", 2, "success", 200, error_code, "hsm-0", 1500,
			       "0000000000000000000000000000000000000000000000000000000000000000");
}

START_TEST(test_canonical_encoding_is_the_documented_netstring_list)
{
	char buf[1024];
	size_t n = canon(buf, sizeof buf, "acme", "alice", NULL);
	const char *want = "14:hsmgw-audit-v1,7:chain-1,1:7,16:1700000000123456,4:acme,5:alice,5:rid-1,"
			   "14:crypto.encrypt,36:123e4567-e89b-42d3-a456-426614174000,1:2,7:success,3:200,~,"
			   "5:hsm-0,4:1500,64:0000000000000000000000000000000000000000000000000000000000000000,";
	ck_assert_uint_eq(n, strlen(want));
	ck_assert_str_eq(buf, want);
}
END_TEST

START_TEST(test_hash_is_sha256_of_the_encoding)
{
	char buf[1024], hash[65], want[65];
	size_t n = canon(buf, sizeof buf, "acme", "alice", NULL);
	audit_hash(buf, n, hash);
	unsigned char d[32];
	unsigned int dl = 0;
	ck_assert(EVP_Digest(buf, n, d, &dl, EVP_sha256(), NULL) == 1);
	for (unsigned i = 0; i < dl; i++)
		snprintf(want + 2 * i, 3, "%02x", d[i]);
	ck_assert_str_eq(hash, want);
}
END_TEST

START_TEST(test_moving_a_boundary_between_fields_changes_the_hash)
{
	/* "acme"+"alice" and "acmea"+"lice" concatenate alike; their encodings must not. */
	char a[1024], b[1024], ha[65], hb[65];
	size_t na = canon(a, sizeof a, "acme", "alice", NULL), nb = canon(b, sizeof b, "acmea", "lice", NULL);
	audit_hash(a, na, ha);
	audit_hash(b, nb, hb);
	ck_assert_str_ne(ha, hb);
}
END_TEST

START_TEST(test_null_and_empty_fields_encode_differently)
{
	char a[1024], b[1024], ha[65], hb[65];
	size_t na = canon(a, sizeof a, "acme", "alice", NULL), nb = canon(b, sizeof b, "acme", "alice", "");
	audit_hash(a, na, ha);
	audit_hash(b, nb, hb);
	ck_assert_str_ne(ha, hb);
}
END_TEST

START_TEST(test_canonical_reports_the_length_it_needs_when_truncated)
{
	char small[8], big[1024];
	size_t need = canon(small, sizeof small, "acme", "alice", NULL);
	ck_assert_uint_eq(need, canon(big, sizeof big, "acme", "alice", NULL));
	ck_assert_uint_gt(need, sizeof small);
}
END_TEST

Suite *suite_audit(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("audit");
	tcase_add_test(tc, test_canonical_encoding_is_the_documented_netstring_list);
	tcase_add_test(tc, test_hash_is_sha256_of_the_encoding);
	tcase_add_test(tc, test_moving_a_boundary_between_fields_changes_the_hash);
	tcase_add_test(tc, test_null_and_empty_fields_encode_differently);
	tcase_add_test(tc, test_canonical_reports_the_length_it_needs_when_truncated);
	suite_add_tcase(s, tc);
	return s;
}
