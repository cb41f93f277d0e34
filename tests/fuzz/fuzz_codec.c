/*  tests/fuzz/fuzz_codec.c — libFuzzer target for the msgpack decoder.

    Arbitrary bytes go through zf_codec_decode and zf_codec_check, which
    must agree; every successful decode is re-encoded, and the encoding must
    pass the check and decode to an equal value. Strings that decoded must
    also be acceptable to jansson's own dumper (same UTF-8 rules).
*/
#include "broker/codec.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

//  Small limits so depth/items/string limits are hit often.
static const zf_codec_limits_t s_small = {
    .max_bytes = 1 << 16,
    .max_depth = 8,
    .max_items = 256,
    .max_str = 64,
};

static void
s_one(const uint8_t *data, size_t size, const zf_codec_limits_t *lim)
{
    const char *why1 = NULL, *why2 = NULL;
    json_t *v = zf_codec_decode(data, size, lim, &why1);
    int rc = zf_codec_check(data, size, lim, &why2);
    if ((v != NULL) != (rc == 0)) abort();
    if (!v) {
        if (!why1 || !why2) abort();
        return;
    }
    size_t len;
    void *enc = zf_codec_encode(v, &len);
    if (len != zf_codec_size(v) || zf_codec_check(enc, len, NULL, NULL) != 0) abort();
    json_t *back = zf_codec_decode(enc, len, NULL, NULL);
    if (!back || !json_equal(v, back)) abort();
    char *text = json_dumps(v, JSON_ENCODE_ANY);
    if (!text) abort();
    free(text);
    json_decref(back);
    free(enc);
    json_decref(v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_one(data, size, NULL);
    s_one(data, size, &s_small);
    return 0;
}
