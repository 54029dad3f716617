/* base64 (RFC 4648 §10 test vectors), strictness, hex, UUIDs and the ciphertext envelope. */
#include <stdlib.h>
#include <string.h>

#include "hsmgw/api.h"
#include "hsmgw/util.h"
#include "unit.h"

static const char *const rfc4648[][2] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

START_TEST(test_base64_encodes_rfc4648_vectors)
{
	for (size_t i = 0; i < sizeof rfc4648 / sizeof *rfc4648; i++) {
		char out[16];
		b64_encode((const uint8_t *)rfc4648[i][0], strlen(rfc4648[i][0]), out);
		ck_assert_str_eq(out, rfc4648[i][1]);
		ck_assert_uint_eq(b64_encoded_len(strlen(rfc4648[i][0])), strlen(rfc4648[i][1]));
	}
}
END_TEST

START_TEST(test_base64_decodes_rfc4648_vectors)
{
	for (size_t i = 0; i < sizeof rfc4648 / sizeof *rfc4648; i++) {
		uint8_t *out;
		size_t n;
		ck_assert_int_eq(b64_decode(rfc4648[i][1], strlen(rfc4648[i][1]), 64, &out, &n), 0);
		ck_assert_uint_eq(n, strlen(rfc4648[i][0]));
		ck_assert(memcmp(out, rfc4648[i][0], n) == 0);
		free(out);
	}
}
END_TEST

START_TEST(test_base64_rejects_non_canonical_and_malformed_input)
{
	static const char *bad[] = {
	    "Zg",       /* padding missing */
	    "Zg=",      /* padding short */
	    "Zh==",     /* non-zero trailing bits: not the canonical encoding of "f" */
	    "Zm9=",     /* non-zero trailing bits */
	    "Zm9v\n",   /* white space */
	    "Zm 9v",    /* white space inside */
	    "Zm9v-_==", /* the URL alphabet */
	    "=Zm9",     /* padding first */
	    "Zg==Zg==", /* padding in the middle */
	    "Z===",     /* too much padding */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		uint8_t *out = NULL;
		size_t n;
		ck_assert_msg(b64_decode(bad[i], strlen(bad[i]), 64, &out, &n) == -1, "accepted %s", bad[i]);
	}
}
END_TEST

START_TEST(test_base64_refuses_input_above_the_limit)
{
	uint8_t *out = NULL;
	size_t n;
	ck_assert_int_eq(b64_decode("Zm9vYmFy", 8, 5, &out, &n), -2);
	ck_assert_int_eq(b64_decode("Zm9vYmFy", 8, 6, &out, &n), 0);
	free(out);
}
END_TEST

START_TEST(test_base64url_decodes_without_padding)
{
	uint8_t *out;
	size_t n;
	ck_assert_int_eq(b64url_decode("-_8", 3, 16, &out, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(out[0], 0xfb);
	ck_assert_uint_eq(out[1], 0xff);
	free(out);
	ck_assert_int_eq(b64url_decode("-_8=", 4, 16, &out, &n), -1);
	ck_assert_int_eq(b64url_decode("+/8", 3, 16, &out, &n), -1);
}
END_TEST

START_TEST(test_hex_encodes_upper_and_lower)
{
	const uint8_t in[] = {0x00, 0xab, 0x5f};
	char out[7];
	hex_encode(in, 3, out);
	ck_assert_str_eq(out, "00AB5F");
	hex_encode_lower(in, 3, out);
	ck_assert_str_eq(out, "00ab5f");
}
END_TEST

START_TEST(test_uuid_v4_round_trips_and_has_version_bits)
{
	hg_uuid u, back;
	ck_assert_int_eq(uuid_v4(&u), 0);
	char s[HG_UUID_STR_LEN + 1];
	uuid_format(&u, s);
	ck_assert_uint_eq(strlen(s), 36);
	ck_assert_int_eq(s[14], '4');
	ck_assert(strchr("89ab", s[19]) != NULL);
	ck_assert(uuid_parse(s, &back));
	ck_assert(memcmp(&u, &back, sizeof u) == 0);
}
END_TEST

START_TEST(test_uuid_parse_rejects_malformed)
{
	hg_uuid u;
	ck_assert(!uuid_parse("", &u));
	ck_assert(!uuid_parse("123e4567e89b12d3a456426614174000", &u));
	ck_assert(!uuid_parse("123e4567-e89b-12d3-a456-42661417400g", &u));
	ck_assert(!uuid_parse("123e4567-e89b-12d3-a456-4266141740000", &u));
	ck_assert(uuid_parse("123E4567-E89B-12D3-A456-426614174000", &u));
}
END_TEST

START_TEST(test_envelope_round_trips)
{
	const uint8_t raw[] = {1, 2, 3, 4, 5};
	char *s = api_envelope_format(17, raw, sizeof raw);
	ck_assert_str_eq(s, "hsmgw:v17:AQIDBAU=");
	int v;
	uint8_t *out;
	size_t n;
	ck_assert(api_envelope_parse(s, strlen(s), &v, &out, &n));
	ck_assert_int_eq(v, 17);
	ck_assert_uint_eq(n, sizeof raw);
	ck_assert(memcmp(out, raw, n) == 0);
	free(out);
	free(s);
}
END_TEST

START_TEST(test_envelope_rejects_deviations)
{
	static const char *bad[] = {
	    "",
	    "hsmgw:v1:",              /* no payload */
	    "hsmgw:v0:AQID",          /* version 0 */
	    "hsmgw:v01:AQID",         /* leading zero */
	    "hsmgw:v:AQID",           /* no version */
	    "hsmgw:v1AQID",           /* no second colon */
	    "HSMGW:v1:AQID",          /* case */
	    "hsmgw:v2147483648:AQID", /* beyond int */
	    "hsmgw:v1:AQI",           /* bad base64 */
	    "vault:v1:AQID",          /* another product's envelope */
	    "hsmgw:v-1:AQID",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int v;
		uint8_t *out = NULL;
		size_t n;
		ck_assert_msg(!api_envelope_parse(bad[i], strlen(bad[i]), &v, &out, &n), "accepted %s", bad[i]);
	}
}
END_TEST

START_TEST(test_rfc3339_accepts_the_forms_the_api_documents)
{
	static const struct {
		const char *s;
		int64_t us;
	} good[] = {
	    {"2026-11-23T10:26:26Z", 1795429586000000},
	    {"2026-11-23T10:26:26z", 1795429586000000},
	    {"2026-11-23T10:26:26.123456789+05:30", 1795409786123456}, /* beyond microseconds: cut */
	    {"2026-11-23T10:26:26.5-01:00", 1795433186500000},
	    {"2024-02-29T00:00:00Z", 1709164800000000}, /* a leap day */
	    {"2016-12-31T23:59:60Z", 1483228800000000}, /* a leap second */
	};
	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		int64_t us = 0;
		ck_assert_msg(time_parse_rfc3339(good[i].s, &us), "refused %s", good[i].s);
		ck_assert_msg(us == good[i].us, "%s: %lld", good[i].s, (long long)us);
	}
}
END_TEST

/* Found by tests/fuzz/fuzz_encoding (strptime underneath took all of these). */
START_TEST(test_rfc3339_refuses_impossible_dates_and_loose_fields)
{
	static const char *bad[] = {
	    "7723-02-29T23:59:60-00:00",                         /* 29 February of a common year (the fuzzer's find) */
	    "2026-04-31T00:00:00Z",                              /* 31 April */
	    "2100-02-29T00:00:00Z",                              /* centuries are common years */
	    " 999-01-01T00:00:00Z",                              /* a blank for a digit */
	    "2026-01-01T 1:00:00Z",      "2026-01-01T00:00:61Z", /* 61 seconds */
	    "2026-01-01T00:00:00+0/:00",                         /* offsets of non-digits */
	    "2026-01-01T00:00:00-//:00", "2026-1-01T00:00:00Z",   "2026-01-01 00:00:00Z",
	    "2026-01-01T00:00:00",       "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00+24:00",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int64_t us;
		ck_assert_msg(!time_parse_rfc3339(bad[i], &us), "accepted %s", bad[i]);
	}
}
END_TEST

Suite *suite_encoding(void)
{
	Suite *s = suite_create("encoding");
	TCase *tc = tcase_create("encoding");
	tcase_add_test(tc, test_base64_encodes_rfc4648_vectors);
	tcase_add_test(tc, test_base64_decodes_rfc4648_vectors);
	tcase_add_test(tc, test_base64_rejects_non_canonical_and_malformed_input);
	tcase_add_test(tc, test_base64_refuses_input_above_the_limit);
	tcase_add_test(tc, test_base64url_decodes_without_padding);
	tcase_add_test(tc, test_hex_encodes_upper_and_lower);
	tcase_add_test(tc, test_uuid_v4_round_trips_and_has_version_bits);
	tcase_add_test(tc, test_uuid_parse_rejects_malformed);
	tcase_add_test(tc, test_envelope_round_trips);
	tcase_add_test(tc, test_envelope_rejects_deviations);
	tcase_add_test(tc, test_rfc3339_accepts_the_forms_the_api_documents);
	tcase_add_test(tc, test_rfc3339_refuses_impossible_dates_and_loose_fields);
	suite_add_tcase(s, tc);
	return s;
}
