/* UUIDs, time, secret wiping and whole-file reads. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "hsmgw/util.h"

int uuid_v4(hg_uuid *u)
{
	if (RAND_bytes(u->b, sizeof u->b) != 1)
		return -1;
	u->b[6] = (uint8_t)((u->b[6] & 0x0f) | 0x40);
	u->b[8] = (uint8_t)((u->b[8] & 0x3f) | 0x80);
	return 0;
}

void uuid_format(const hg_uuid *u, char out[HG_UUID_STR_LEN + 1])
{
	static const char d[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = d[u->b[i] >> 4];
		out[o++] = d[u->b[i] & 15];
	}
	out[o] = '\0';
}

bool uuid_parse(const char *s, hg_uuid *u)
{
	if (strlen(s) != HG_UUID_STR_LEN)
		return false;
	size_t j = 0;
	for (size_t i = 0; i < HG_UUID_STR_LEN;) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
			i++;
			continue;
		}
		int hi = OPENSSL_hexchar2int((unsigned char)s[i]), lo = OPENSSL_hexchar2int((unsigned char)s[i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		u->b[j++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	return true;
}

int64_t time_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t time_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void time_deadline(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

void time_format_rfc3339(int64_t us, char out[32])
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%06dZ", (int)(us % 1000000));
}

/* The n decimal digits at s as a number, or -1 if one of them is not a digit. */
static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return days[month - 1] + (month == 2 && leap);
}

/* Every field is read at its fixed place and checked against its range (RFC 3339 §5.6-5.7):
 * strptime skips blanks, reads one-digit fields and takes 31 February, and timegm would
 * quietly move such a date into the next month. A leap second (60) is allowed. */
bool time_parse_rfc3339(const char *s, int64_t *us)
{
	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
		return false;
	int year = digits(s, 4), mon = digits(s + 5, 2), day = digits(s + 8, 2), hour = digits(s + 11, 2),
	    min = digits(s + 14, 2), sec = digits(s + 17, 2);
	if (year < 0 || mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hour < 0 || hour > 23 ||
	    min < 0 || min > 59 || sec < 0 || sec > 60)
		return false;
	const char *p = s + 19;
	int64_t frac = 0, scale = 1000000;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
		}
	}
	int64_t offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int hh = digits(p + 1, 2), mm = digits(p + 4, 2);
		if (hh < 0 || hh > 23 || mm < 0 || mm > 59)
			return false;
		offset = (int64_t)(hh * 60 + mm) * 60 * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return false;
	}
	if (*p != '\0')
		return false;
	struct tm tm = {
	    .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day, .tm_hour = hour, .tm_min = min, .tm_sec = sec};
	time_t t = timegm(&tm);
	*us = ((int64_t)t - offset) * 1000000 + frac;
	return true;
}

void hg_free_secret(void *p, size_t n)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, n);
	free(p);
}

char *file_read_all(const char *path, size_t max, size_t *len_out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	if (!buf) {
		fclose(f);
		return NULL;
	}
	for (;;) {
		if (len + 1 >= cap) {
			if (cap > max + 1) {
				hg_free_secret(buf, cap);
				fclose(f);
				errno = ERANGE;
				return NULL;
			}
			char *nb = malloc(cap * 2);
			if (!nb) {
				hg_free_secret(buf, cap);
				fclose(f);
				return NULL;
			}
			memcpy(nb, buf, len);
			hg_free_secret(buf, cap);
			buf = nb;
			cap *= 2;
		}
		size_t r = fread(buf + len, 1, cap - len - 1, f);
		len += r;
		if (r == 0)
			break;
	}
	int err = ferror(f);
	fclose(f);
	if (err || len > max) {
		hg_free_secret(buf, cap);
		errno = err ? EIO : ERANGE;
		return NULL;
	}
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
}
