/*  http/json.h — strict parsing of request bodies.

    jansson with JSON_REJECT_DUPLICATES (it already rejects invalid UTF-8,
    NUL in strings, NaN and trailing garbage) plus a nesting limit checked
    on the raw bytes before jansson sees them, so 10,000 nested brackets
    cost one linear scan and no recursion. Error messages are fixed phrases
    with a position: they never echo bytes of the input.
*/
#ifndef ZF_HTTP_JSON_H
#define ZF_HTTP_JSON_H

#include <jansson.h>
#include <stddef.h>

#define ZF_HTTP_JSON_MAX_DEPTH 64  // arrays/objects nested in a request body

//  Parses buf[0..len) as one JSON object or array. Returns a new reference,
//  or NULL with a human message in msg (never NULL-terminated garbage).
json_t *zf_http_json_parse(const char *buf, size_t len, size_t max_depth, char *msg, size_t msglen);

//  Nesting depth of the JSON text (top-level container = 1), scanning no
//  further than limit + 1 levels. Strings and escapes are skipped.
size_t zf_http_json_depth(const char *buf, size_t len, size_t limit);

#endif
