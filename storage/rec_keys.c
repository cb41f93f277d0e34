/*  storage/rec_keys.c — key building and value coding for typed records
    (rec_int.h).
*/
#include "storage/rec_int.h"
#include "broker/codec.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZF_CORRUPT_LOG_MAX 32  // corrupt values reported before going quiet

/* ---- keys and values ------------------------------------------------------ */

//  Joins parts with \0 separators: a\0b, a\0b\0c. A NULL part ends the
//  list; an empty last part gives a trailing separator (a prefix).
zf_rkey_t
zf_rkey(const char *a, const char *b, const char *c)
{
    const char *parts[3] = {a, b, c};
    size_t n = 0, len = 0;
    while (n < 3 && parts[n])
        len += strlen(parts[n++]) + 1;
    zf_rkey_t k = {.p = malloc(len + 8), .len = 0};  // + room for a binary suffix
    if (!k.p) abort();
    for (size_t i = 0; i < n; i++) {
        size_t plen = strlen(parts[i]);
        memcpy(k.p + k.len, parts[i], plen);
        k.len += plen;
        if (i + 1 < n) k.p[k.len++] = '\0';
    }
    return k;
}

void
zf_rk_be_put(unsigned char *out, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        out[i] = (unsigned char)(v & 0xFF);
        v >>= 8;
    }
}

uint64_t
zf_rk_be_get(const unsigned char *in, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = (v << 8) | in[i];
    return v;
}

//  Reports a bad stored value (rate-limited so a scan over garbage cannot
//  flood the log).
void
zf_rk_corrupt(zf_cf_t cf, const char *why)
{
    static atomic_uint reported;
    unsigned n = atomic_fetch_add(&reported, 1);
    if (n < ZF_CORRUPT_LOG_MAX)
        fprintf(stderr, "zf_store: corrupt value in %s (%s); treated as absent\n",
                zf_store_cf_name(cf), why ? why : "wrong type");
    else if (n == ZF_CORRUPT_LOG_MAX)
        fprintf(stderr, "zf_store: more corrupt values; no longer reporting them\n");
}

//  Decodes a stored value; NULL (and one report) if it is not valid msgpack
//  of the wanted json type.
json_t *
zf_rk_decode(zf_cf_t cf, const void *val, size_t vlen, json_type want)
{
    const char *why = NULL;
    json_t *v = zf_codec_decode(val, vlen, NULL, &why);
    if (v && json_typeof(v) != want) {
        json_decref(v);
        v = NULL;
        why = "unexpected type";
    }
    if (!v) zf_rk_corrupt(cf, why);
    return v;
}

json_t *
zf_rk_get(zf_store_t *s, zf_cf_t cf, zf_rkey_t k, json_type want)
{
    size_t vlen = 0;
    void *val = zf_store_get(s, cf, k.p, k.len, &vlen);
    free(k.p);
    if (!val) return NULL;
    json_t *v = zf_rk_decode(cf, val, vlen, want);
    free(val);
    return v;
}

void
zf_rk_put_json(zf_batch_t *b, zf_cf_t cf, zf_rkey_t k, const json_t *v)
{
    size_t len = 0;
    void *bytes = zf_codec_encode(v, &len);
    zf_batch_put(b, cf, k.p, k.len, bytes, len);
    free(bytes);
    free(k.p);
}

void
zf_rk_put_str(zf_batch_t *b, zf_cf_t cf, zf_rkey_t k, const char *str)
{
    json_t *v = json_string(str);
    assert(v);  // programmer error: not UTF-8
    zf_rk_put_json(b, cf, k, v);
    json_decref(v);
}

void
zf_rk_del(zf_batch_t *b, zf_cf_t cf, zf_rkey_t k)
{
    zf_batch_del(b, cf, k.p, k.len);
    free(k.p);
}

const char *
zf_rk_field(const json_t *obj, const char *name)
{
    return json_string_value(json_object_get(obj, name));
}

int
zf_rk_collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)key, (void)klen;
    zf_rk_collect_t *c = arg;
    json_t *v = zf_rk_decode(c->cf, val, vlen, JSON_OBJECT);
    if (v) json_array_append_new(c->items, v);
    return 0;
}
