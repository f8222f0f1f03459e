/* SPDX-License-Identifier: ISC */
/* util.c: clocks, durations, canonical JSON, UTF-8, hashing. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util.h"
#include "xmalloc.h"

uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

double
real_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define DURATION_MAX_MS (10ULL * 366 * 24 * 3600 * 1000)

static int
duration_from_seconds(double secs, uint64_t *ms)
{
	if (!isfinite(secs) || secs < 0 || secs * 1000.0 > (double)DURATION_MAX_MS)
		return -1;
	*ms = (uint64_t)llround(secs * 1000.0);
	return 0;
}

int
parse_duration(const char *s, uint64_t *ms)
{
	static const struct {
		const char *unit;
		double factor;
	} units[] = {
		{ "ms", 0.001 }, { "s", 1 }, { "m", 60 }, { "h", 3600 },
		{ "d", 86400 }, { "", 1 },
	};
	char num[32], *nend;
	const char *end;
	double v;
	size_t i;

	if (s == NULL)
		return -1;
	/* Only plain decimal numbers: no sign, exponent, hex, inf or nan. */
	for (end = s; *end != '\0' && strchr("0123456789.", *end); end++)
		;
	if (end == s || (size_t)(end - s) >= sizeof num)
		return -1;
	memcpy(num, s, (size_t)(end - s));
	num[end - s] = '\0';
	v = strtod(num, &nend);
	if (*nend != '\0')
		return -1;
	for (i = 0; i < nitems(units); i++)
		if (strcmp(end, units[i].unit) == 0)
			return duration_from_seconds(v * units[i].factor, ms);
	return -1;
}

int
parse_duration_json(json_object *v, uint64_t *ms)
{
	switch (json_object_get_type(v)) {
	case json_type_int:
	case json_type_double:
		return duration_from_seconds(json_object_get_double(v), ms);
	case json_type_string:
		return parse_duration(json_object_get_string(v), ms);
	default:
		return -1;
	}
}

const char *
fmt_duration(uint64_t ms, char *buf, size_t len)
{
	if (ms < 1000)
		snprintf(buf, len, "%llums", (unsigned long long)ms);
	else if (ms < 60000 && ms % 1000 != 0)
		snprintf(buf, len, "%.3gs", (double)ms / 1000);
	else if (ms < 60000)
		snprintf(buf, len, "%llus", (unsigned long long)ms / 1000);
	else if (ms < 3600000)
		snprintf(buf, len, "%llum%llus", (unsigned long long)ms / 60000,
		    (unsigned long long)(ms % 60000) / 1000);
	else
		snprintf(buf, len, "%lluh%llum", (unsigned long long)ms / 3600000,
		    (unsigned long long)(ms % 3600000) / 60000);
	return buf;
}

size_t
json_string_escape(char *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *o = out;
	size_t i;

	*o++ = '"';
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"':
			*o++ = '\\';
			*o++ = '"';
			break;
		case '\\':
			*o++ = '\\';
			*o++ = '\\';
			break;
		case '\n':
			*o++ = '\\';
			*o++ = 'n';
			break;
		case '\r':
			*o++ = '\\';
			*o++ = 'r';
			break;
		case '\t':
			*o++ = '\\';
			*o++ = 't';
			break;
		default:
			if (c < 0x20 || c == 0x7f) {
				*o++ = '\\';
				*o++ = 'u';
				*o++ = '0';
				*o++ = '0';
				*o++ = hex[c >> 4];
				*o++ = hex[c & 0xf];
			} else
				*o++ = (char)c;
		}
	}
	*o++ = '"';
	return (size_t)(o - out);
}

/*
 * The sequence at s[0, n) (n >= 1): its length when it is one valid
 * character other than NUL, else 0 with *bad the bytes one U+FFFD stands
 * for (the longest start of a sequence that is valid so far, at least 1).
 */
static size_t
utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	*bad = 1;
	if (c >= 0x01 && c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		if (c == 0xe0)
			lo = 0xa0;	/* no overlong forms */
		else if (c == 0xed)
			hi = 0x9f;	/* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		if (c == 0xf0)
			lo = 0x90;	/* no overlong forms */
		else if (c == 0xf4)
			hi = 0x8f;	/* nothing past U+10FFFF */
	} else
		return 0;		/* NUL, C0, C1, F5-FF, continuation */
	for (i = 1; i <= need; i++) {
		if (i >= n || s[i] < lo || s[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

int
utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k, bad;

	while (i < len) {
		if (p[i] >= 0x01 && p[i] < 0x80) {
			i++;
			continue;
		}
		if ((k = utf8_seq(p + i, len - i, &bad)) == 0)
			return 0;
		i += k;
	}
	return 1;
}

size_t
utf8_copy(char *dst, size_t dstlen, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, k, bad;

	while (i < len) {
		if ((k = utf8_seq(p + i, len - i, &bad)) > 0) {
			if (o + k >= dstlen)
				break;
			memcpy(dst + o, p + i, k);
			o += k;
			i += k;
		} else {
			if (o + 3 >= dstlen)
				break;
			memcpy(dst + o, "\xef\xbf\xbd", 3);
			o += 3;
			i += bad;
		}
	}
	dst[o] = '\0';
	return o;
}

char *
utf8_repair(const char *s, size_t len, size_t *outlen)
{
	char *out;
	size_t n;

	if (utf8_valid(s, len)) {
		out = xmalloc(len + 1);
		memcpy(out, s, len);
		out[len] = '\0';
		n = len;
	} else {
		/* At most 3 bytes out for each byte in. */
		out = xmalloc(3 * len + 1);
		n = utf8_copy(out, 3 * len + 1, s, len);
	}
	if (outlen != NULL)
		*outlen = n;
	return out;
}

size_t
utf8_trim(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t j = len, bad;

	/* Back to the last byte that is not a continuation byte. */
	while (j > 0 && len - j < 4 && (p[j - 1] & 0xc0) == 0x80)
		j--;
	if (j == 0 || p[j - 1] < 0xc2 || p[j - 1] > 0xf4)
		return len;
	j--;
	if (utf8_seq(p + j, len - j, &bad) == 0 && bad == len - j)
		return j;
	return len;
}

struct canon {
	char *buf;
	size_t len, cap;
	int failed;
};

static void
canon_reserve(struct canon *c, size_t more)
{
	char *nbuf;
	size_t ncap;

	if (c->failed || c->len + more <= c->cap)
		return;
	ncap = c->cap ? c->cap : 64;
	while (ncap < c->len + more)
		ncap *= 2;
	if ((nbuf = realloc(c->buf, ncap)) == NULL) {
		c->failed = 1;
		return;
	}
	c->buf = nbuf;
	c->cap = ncap;
}

static void
canon_put(struct canon *c, const char *s, size_t n)
{
	canon_reserve(c, n);
	if (c->failed)
		return;
	memcpy(c->buf + c->len, s, n);
	c->len += n;
}

static void
canon_string(struct canon *c, const char *s, size_t n)
{
	canon_reserve(c, 6 * n + 3);
	if (c->failed)
		return;
	c->len += json_string_escape(c->buf + c->len, s, n);
}

/* Integers without printf: refs are mostly ids. */
static void
canon_int(struct canon *c, json_object *v)
{
	char buf[24], *p = buf + sizeof buf;
	uint64_t u;
	int neg = 0;

	if (json_object_get_int64(v) == INT64_MAX) {
		/* json-c keeps larger values as uint64 */
		u = json_object_get_uint64(v);
	} else if (json_object_get_int64(v) < 0) {
		neg = 1;
		u = (uint64_t)0 - (uint64_t)json_object_get_int64(v);
	} else
		u = (uint64_t)json_object_get_int64(v);
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u > 0);
	if (neg)
		*--p = '-';
	canon_put(c, p, (size_t)(buf + sizeof buf - p));
}

static int
canon_keycmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Is s[0, n) a number as RFC 8259 spells it? */
static int
number_text_ok(const char *s, size_t n)
{
	const char *p = s, *end = s + n;

	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if (p < end && *p >= '1' && *p <= '9')
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	else
		return 0;
	if (p < end && *p == '.') {
		if (++p >= end || *p < '0' || *p > '9')
			return 0;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return 0;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	return p == end && n > 0;
}

/* v's spelling when it is a JSON number, else its value as json-c
 * prints it, else NULL. */
const char *
json_double_text(json_object *v, char *buf, size_t len)
{
	const char *s;
	double d = json_object_get_double(v);

	s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
	if (number_text_ok(s, strlen(s)))
		return s;
	if (!isfinite(d))
		return NULL;
	/* As json-c prints a double it made: %.17g, ".0" when integral. */
	snprintf(buf, len, "%.17g", d);
	if (strspn(buf, "-0123456789") == strlen(buf) &&
	    strlen(buf) + 2 < len)
		strcat(buf, ".0");
	return buf;
}

/* The first double in v that json_double_text() refuses. */
const char *
json_bad_number(json_object *v)
{
	char buf[JSON_DOUBLE_TEXT];
	const char *s;
	size_t i;

	switch (json_object_get_type(v)) {
	case json_type_double:
		if (json_double_text(v, buf, sizeof buf) == NULL)
			return json_object_to_json_string_ext(v,
			    JSON_C_TO_STRING_PLAIN);
		return NULL;
	case json_type_array:
		for (i = 0; i < json_object_array_length(v); i++)
			if ((s = json_bad_number(json_object_array_get_idx(v,
			    i))) != NULL)
				return s;
		return NULL;
	case json_type_object: {
		json_object_object_foreach(v, key, val) {
			(void)key;
			if ((s = json_bad_number(val)) != NULL)
				return s;
		}
		return NULL;
	}
	default:
		return NULL;
	}
}

/* Respell v's doubles in place; those without JSON spelling become null. */
int
json_strict_numbers(json_object *v)
{
	char buf[JSON_DOUBLE_TEXT];
	const char *s;
	json_object *e;
	size_t i;
	int n = 0;

	switch (json_object_get_type(v)) {
	case json_type_double:
		if ((s = json_double_text(v, buf, sizeof buf)) == NULL)
			return 1;
		if (strcmp(s, json_object_to_json_string_ext(v,
		    JSON_C_TO_STRING_PLAIN)) != 0)
			json_object_set_double(v, json_object_get_double(v));
		return 0;
	case json_type_array:
		for (i = 0; i < json_object_array_length(v); i++) {
			e = json_object_array_get_idx(v, i);
			if (json_object_get_type(e) == json_type_double &&
			    json_double_text(e, buf, sizeof buf) == NULL) {
				json_object_array_put_idx(v, i, NULL);
				n++;
			} else
				n += json_strict_numbers(e);
		}
		return n;
	case json_type_object: {
		json_object_object_foreach(v, key, val) {
			if (json_object_get_type(val) == json_type_double &&
			    json_double_text(val, buf, sizeof buf) == NULL) {
				json_object_object_add(v, key, NULL);
				n++;
			} else
				n += json_strict_numbers(val);
		}
		return n;
	}
	default:
		return 0;
	}
}

static void
canon_value(struct canon *c, json_object *v)
{
	char buf[JSON_DOUBLE_TEXT];
	const char **keys;
	const char *s;
	size_t i, n;

	switch (json_object_get_type(v)) {
	case json_type_null:
		canon_put(c, "null", 4);
		break;
	case json_type_boolean:
		if (json_object_get_boolean(v))
			canon_put(c, "true", 4);
		else
			canon_put(c, "false", 5);
		break;
	case json_type_int:
		canon_int(c, v);
		break;
	case json_type_double:
		/* Strict JSON: NaN and the infinities are null. */
		if ((s = json_double_text(v, buf, sizeof buf)) == NULL)
			s = "null";
		canon_put(c, s, strlen(s));
		break;
	case json_type_string:
		canon_string(c, json_object_get_string(v),
		    (size_t)json_object_get_string_len(v));
		break;
	case json_type_array:
		canon_put(c, "[", 1);
		n = json_object_array_length(v);
		for (i = 0; i < n; i++) {
			if (i > 0)
				canon_put(c, ",", 1);
			canon_value(c, json_object_array_get_idx(v, i));
		}
		canon_put(c, "]", 1);
		break;
	case json_type_object:
		n = (size_t)json_object_object_length(v);
		if (n == 0) {
			canon_put(c, "{}", 2);
			break;
		}
		if ((keys = calloc(n, sizeof *keys)) == NULL) {
			c->failed = 1;
			return;
		}
		i = 0;
		json_object_object_foreach(v, key, val) {
			(void)val;
			keys[i++] = key;
		}
		qsort(keys, n, sizeof *keys, canon_keycmp);
		canon_put(c, "{", 1);
		for (i = 0; i < n; i++) {
			if (i > 0)
				canon_put(c, ",", 1);
			canon_string(c, keys[i], strlen(keys[i]));
			canon_put(c, ":", 1);
			canon_value(c, json_object_object_get(v, keys[i]));
		}
		canon_put(c, "}", 1);
		free(keys);
		break;
	}
}

char *
json_canonical(json_object *v)
{
	struct canon c = { NULL, 0, 0, 0 };

	canon_value(&c, v);
	canon_put(&c, "", 1);
	if (c.failed) {
		free(c.buf);
		return NULL;
	}
	return c.buf;
}

/* SipHash-1-3, written from Aumasson and Bernstein's specification. */
static uint64_t hash_k0 = 0x736f6d6570736575ULL, hash_k1 = 0x646f72616e646f6dULL;

void
hash_init(void)
{
	uint64_t k[2];

	if (getrandom(k, sizeof k, GRND_NONBLOCK) == (ssize_t)sizeof k) {
		hash_k0 = k[0];
		hash_k1 = k[1];
	}
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                  \
	do {                                                      \
		v0 += v1;                                         \
		v1 = ROTL(v1, 13);                                \
		v1 ^= v0;                                         \
		v0 = ROTL(v0, 32);                                \
		v2 += v3;                                         \
		v3 = ROTL(v3, 16);                                \
		v3 ^= v2;                                         \
		v0 += v3;                                         \
		v3 = ROTL(v3, 21);                                \
		v3 ^= v0;                                         \
		v2 += v1;                                         \
		v1 = ROTL(v1, 17);                                \
		v1 ^= v2;                                         \
		v2 = ROTL(v2, 32);                                \
	} while (0)

uint64_t
hash_bytes(const void *p, size_t n)
{
	const unsigned char *in = p;
	uint64_t v0 = hash_k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = hash_k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = hash_k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = hash_k1 ^ 0x7465646279746573ULL;
	uint64_t m, b = (uint64_t)n << 56;
	size_t i, left = n & 7;

	for (i = 0; i + 8 <= n; i += 8) {
		memcpy(&m, in + i, 8);
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	for (m = 0; left > 0; left--)
		m |= (uint64_t)in[i + left - 1] << (8 * (left - 1));
	b |= m;
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}
