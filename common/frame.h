/* frame.h: varlink message framing (NUL-terminated JSON objects). */
#ifndef POLLEX_FRAME_H
#define POLLEX_FRAME_H

#include <stddef.h>
#include <sys/types.h>

#include <json-c/json.h>

/*
 * frame_find: the length of the first complete message in buf (the offset of
 * its terminating NUL), or -1 when no NUL has arrived yet.
 */
ssize_t frame_find(const char *buf, size_t len);

/*
 * frame_parse: parse one message (len bytes, without its NUL): strict JSON,
 * valid UTF-8, nesting at most PX_JSON_MAX_DEPTH, a single top-level object
 * with nothing but white space after it.  Returns a new reference, or NULL
 * with *why pointing to a static description of what is wrong.
 */
json_object *frame_parse(const char *msg, size_t len, const char **why);

/* Free what frame_parse() keeps between calls (the calling thread's). */
void frame_cleanup(void);

/*
 * frame_serialize: the compact text of obj, for sending; the caller appends
 * the NUL.  The string belongs to obj and lives until obj is changed or freed.
 */
const char *frame_serialize(json_object *obj, size_t *len);

#endif
