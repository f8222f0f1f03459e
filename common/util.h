/* util.h: clocks, durations, canonical JSON, hashing. */
#ifndef POLLEX_UTIL_H
#define POLLEX_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* Milliseconds / microseconds of CLOCK_MONOTONIC. */
uint64_t mono_ms(void);
uint64_t mono_us(void);
/* Seconds since the Unix epoch, with sub-second precision. */
double real_now(void);

/*
 * parse_duration: "250ms", "1.5s", "2m", "1h", "1d", or a bare number of
 * seconds, into milliseconds.  Returns -1 for anything else, for negative,
 * NaN or infinite values and for values past ten years.
 */
int parse_duration(const char *s, uint64_t *ms);
/* The same for a JSON number (seconds) or string. */
int parse_duration_json(json_object *v, uint64_t *ms);
/* A short human form of a duration: "250ms", "1.5s", "2m", "1h30m". */
const char *fmt_duration(uint64_t ms, char *buf, size_t len);

/*
 * json_canonical: compact JSON text of v with object keys sorted, so equal
 * values give equal strings.  Returns a malloc'd string or NULL when out of
 * memory.
 */
char *json_canonical(json_object *v);

/*
 * json_string_escape: append the JSON string literal of s (n bytes) to out,
 * which must have room for 6 * n + 3 bytes; returns the bytes written.
 */
size_t json_string_escape(char *out, const char *s, size_t n);

/* Keyed hash (SipHash-1-3) with a per-process random key. */
void hash_init(void);
uint64_t hash_bytes(const void *p, size_t n);
static inline uint64_t
hash_str(const char *s)
{
	size_t n = 0;
	while (s[n] != '\0')
		n++;
	return hash_bytes(s, n);
}

#endif
