/*  tests/fuzz/fuzz_json.c — libFuzzer target for the strict request-body
    parser (http/json.c).

    Arbitrary bytes go through zf_http_json_parse with a small and the
    default depth limit. Whatever it accepts must be an object or array no
    deeper than the limit (as zf_http_json_depth also measures), valid
    UTF-8 without duplicate keys, and must survive a dump and a strict
    re-parse as an equal value; whatever it refuses must come with a
    message that echoes no byte of the input beyond its fixed phrases.
*/
#include "http/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
s_depth(const json_t *v)
{
    size_t max = 0, d;
    const char *k;
    json_t *x;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach ((json_t *)v, k, x)
            if ((d = s_depth(x)) > max) max = d;
        return max + 1;
    }
    if (json_is_array(v)) {
        json_array_foreach (v, i, x)
            if ((d = s_depth(x)) > max) max = d;
        return max + 1;
    }
    return 0;
}

static void
s_one(const char *buf, size_t size, size_t limit)
{
    char msg[160];
    memset(msg, 0, sizeof msg);
    json_t *v = zf_http_json_parse(buf, size, limit, msg, sizeof msg);
    if (!v) {
        if (!msg[0] || !memchr(msg, '\0', sizeof msg)) abort();  // a message, terminated
        return;
    }
    if (!json_is_object(v) && !json_is_array(v)) abort();
    if (s_depth(v) > limit) abort();
    if (zf_http_json_depth(buf, size, limit) > limit) abort();
    char *text = json_dumps(v, JSON_COMPACT);
    if (!text) abort();
    json_t *back = zf_http_json_parse(text, strlen(text), limit, msg, sizeof msg);
    if (!back || !json_equal(v, back)) abort();
    json_decref(back);
    free(text);
    json_decref(v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_one((const char *)data, size, 4);
    s_one((const char *)data, size, ZF_HTTP_JSON_MAX_DEPTH);
    return 0;
}
