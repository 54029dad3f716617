/* Shared by the libFuzzer targets in tests/fuzz/ (one file per target, each built with
 * clang -fsanitize=fuzzer,address,undefined by `make fuzz`). A target aborts on a broken
 * invariant, which libFuzzer reports as a crash like any sanitizer finding. */
#ifndef HSMGW_TESTS_FUZZ_H
#define HSMGW_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Aborts with a message when cond is false: a property of the code under test broke. */
#define FUZZ_ASSERT(cond)                                                                                              \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "%s:%d: property broken: %s\n", __FILE__, __LINE__, #cond);                    \
			abort();                                                                                       \
		}                                                                                                      \
	} while (0)

/* A malloc'd NUL-terminated copy of the input (which may hold NULs of its own); the caller
 * frees. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* A malloc'd copy of exactly size bytes (never NUL-terminated), so that AddressSanitizer sees
 * a read past the end of the input; the caller frees. */
static inline uint8_t *fuzz_copy(const uint8_t *data, size_t size)
{
	uint8_t *p = malloc(size ? size : 1);
	if (!p)
		abort();
	memcpy(p, data, size);
	return p;
}

/* RFC 3339 as the API takes it, written out independently of the code under test:
 * YYYY-MM-DD "T" hh:mm:ss, optional fraction ("." and 1+ digits), then "Z"/"z" or ±hh:mm;
 * month 01–12, day within the month, hour ≤ 23, minute ≤ 59, second ≤ 60 (a leap second),
 * offset hours ≤ 23 and minutes ≤ 59. */
static inline bool fuzz_rfc3339_ok(const char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	for (size_t i = 0; i < sizeof shape - 1; i++) {
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != shape[i])
			return false;
	}
#define D2(p) (((p)[0] - '0') * 10 + ((p)[1] - '0'))
	int y = D2(s) * 100 + D2(s + 2), mo = D2(s + 5), d = D2(s + 8), h = D2(s + 11), mi = D2(s + 14),
	    se = D2(s + 17);
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 60)
		return false;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[mo - 1] + (mo == 2 && leap))
		return false;
	const char *p = s + 19;
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9')
			return false;
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		return true;
	if ((*p != '+' && *p != '-') || strlen(p) != 6 || p[3] != ':')
		return false;
	for (int i = 1; i < 6; i++)
		if (i != 3 && (p[i] < '0' || p[i] > '9'))
			return false;
	return D2(p + 1) <= 23 && D2(p + 4) <= 59;
#undef D2
}

#endif
