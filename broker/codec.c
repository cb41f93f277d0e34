/*  broker/codec.c — msgpack <-> jansson, with a bounded decoder.

    Encoding goes through msgpack-c's packer. Decoding is a hand-written
    recursive-descent reader over the raw bytes (msgpack_unpack allocates
    from declared counts, which a hostile 5-byte input can set to 4 billion).
    One reader serves both zf_codec_decode (out != NULL: build json_t) and
    zf_codec_check (out == NULL: validate only), so the two always agree.
*/
#include "broker/codec.h"
#include "broker/errors.h"
#include "broker/ids.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const zf_codec_limits_t zf_codec_default_limits = {
    .max_bytes = 16u * 1024u * 1024u,
    .max_depth = 64,
    .max_items = 1000000,
    .max_str = 16u * 1024u * 1024u,
};

typedef struct {
    const uint8_t *p;              // next unread byte
    const uint8_t *end;            // one past the last byte
    const zf_codec_limits_t *lim;  // limits in force
    size_t items;                  // elements + map entries seen so far
    const char *why;               // static reason of the first failure
} s_reader_t;

typedef struct {
    const uint8_t *p;  // key bytes (inside the input)
    size_t len;        // key length
} s_span_t;

#define S_KEYSET_LINEAR 8  // maps up to this size are checked pairwise

//  Duplicate-key detector for check mode (decode mode asks the json_t).
//  Small maps compare pairwise; larger ones use a seeded open-addressing
//  set that grows with the keys actually seen, not with the declared count.
typedef struct {
    s_span_t small[S_KEYSET_LINEAR];  // the first keys, pairwise-compared
    s_span_t *slots;                  // hash set once past S_KEYSET_LINEAR, or NULL
    size_t mask;                      // slot count - 1 (power of two)
    size_t count;                     // keys stored
} s_keyset_t;

static uint64_t s_hash_seed;
static pthread_once_t s_seed_once = PTHREAD_ONCE_INIT;

static void
s_seed_init(void)
{
    zf_random_bytes(&s_hash_seed, sizeof s_hash_seed);
}

//  ---------------------------------------------------------------------
//  Small readers

static int
s_fail(s_reader_t *r, int err, const char *why)
{
    if (!r->why) r->why = why;
    return err;
}

static inline size_t
s_left(const s_reader_t *r)
{
    return (size_t)(r->end - r->p);
}

static inline uint64_t
s_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

//  Reads an n-byte big-endian unsigned integer (n = 1, 2, 4 or 8).
static int
s_read_uint(s_reader_t *r, int n, uint64_t *out)
{
    if (s_left(r) < (size_t)n) return s_fail(r, ZF_EINVAL, "truncated");
    *out = s_be(r->p, n);
    r->p += n;
    return 0;
}

//  Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF):
//  exactly what jansson accepts. ASCII runs are skipped 8 bytes at a time.
static bool
s_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint64_t w;
        if (n - i >= 8 && (memcpy(&w, s + i, 8), (w & 0x8080808080808080ull) == 0)) {
            i += 8;
            continue;
        }
        uint8_t c = s[i];
        size_t more;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF)
            more = 1, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            more = 2, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            more = 3, cp = c & 0x07;
        else
            return false;
        if (n - i - 1 < more) return false;
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((more == 2 && cp < 0x800) || (more == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += more + 1;
    }
    return true;
}

//  Consumes a string/bin body of len bytes, checking length and UTF-8.
static int
s_read_text(s_reader_t *r, uint64_t len, const uint8_t **text)
{
    if (len > s_left(r)) return s_fail(r, ZF_EINVAL, "truncated");
    if (len > r->lim->max_str) return s_fail(r, ZF_ELIMIT, "string too long");
    if (!s_utf8_valid(r->p, (size_t)len)) return s_fail(r, ZF_EINVAL, "invalid utf-8");
    if (r->lim->no_nul && memchr(r->p, '\0', (size_t)len))
        return s_fail(r, ZF_EINVAL, "string contains NUL (\\u0000)");
    *text = r->p;
    r->p += len;
    return 0;
}

//  ---------------------------------------------------------------------
//  Duplicate keys in check mode

static uint64_t
s_hash(const uint8_t *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull ^ s_hash_seed;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    h ^= h >> 29;
    return h * 0xbf58476d1ce4e5b9ull;
}

static bool
s_span_eq(s_span_t a, const uint8_t *p, size_t len)
{
    return a.len == len && memcmp(a.p, p, len) == 0;
}

//  Inserts without checking; the set has room (load <= 1/2).
static void
s_keyset_put(s_keyset_t *ks, s_span_t key)
{
    size_t i = (size_t)s_hash(key.p, key.len) & ks->mask;
    while (ks->slots[i].p)
        i = (i + 1) & ks->mask;
    ks->slots[i] = key;
}

static void
s_keyset_grow(s_keyset_t *ks)
{
    size_t old_cap = ks->slots ? ks->mask + 1 : 0;
    s_span_t *old = ks->slots;
    size_t cap = old_cap ? old_cap * 2 : 4 * S_KEYSET_LINEAR;
    ks->slots = calloc(cap, sizeof *ks->slots);
    if (!ks->slots) abort();
    ks->mask = cap - 1;
    if (old) {
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].p) s_keyset_put(ks, old[i]);
        free(old);
    } else {
        pthread_once(&s_seed_once, s_seed_init);
        for (size_t i = 0; i < S_KEYSET_LINEAR; i++)
            s_keyset_put(ks, ks->small[i]);
    }
}

//  Returns true if the key was already present, else records it.
//  Key pointers are never NULL: they point into the input buffer.
static bool
s_keyset_seen(s_keyset_t *ks, const uint8_t *p, size_t len)
{
    s_span_t key = {p, len};
    if (ks->count < S_KEYSET_LINEAR) {
        for (size_t i = 0; i < ks->count; i++)
            if (s_span_eq(ks->small[i], p, len)) return true;
        ks->small[ks->count++] = key;
        return false;
    }
    if (!ks->slots || (ks->count + 1) * 2 > ks->mask + 1) s_keyset_grow(ks);
    size_t i = (size_t)s_hash(p, len) & ks->mask;
    for (; ks->slots[i].p; i = (i + 1) & ks->mask)
        if (s_span_eq(ks->slots[i], p, len)) return true;
    ks->slots[i] = key;
    ks->count++;
    return false;
}

//  ---------------------------------------------------------------------
//  The reader

static int s_read_value(s_reader_t *r, size_t depth, json_t **out);

//  Enters a container of n declared children needing >= per bytes each:
//  checks depth, remaining bytes and the item budget before any allocation.
static int
s_enter(s_reader_t *r, size_t depth, uint64_t n, size_t per)
{
    if (depth + 1 > r->lim->max_depth) return s_fail(r, ZF_ELIMIT, "nesting too deep");
    if (n > s_left(r) / per) return s_fail(r, ZF_EINVAL, "truncated");
    r->items += (size_t)n;
    if (r->items > r->lim->max_items) return s_fail(r, ZF_ELIMIT, "too many items");
    return 0;
}

static int
s_read_array(s_reader_t *r, uint64_t n, size_t depth, json_t **out)
{
    int rc = s_enter(r, depth, n, 1);
    if (rc) return rc;
    json_t *arr = out ? json_array() : NULL;
    for (uint64_t i = 0; i < n; i++) {
        json_t *child = NULL;
        rc = s_read_value(r, depth + 1, out ? &child : NULL);
        if (rc) {
            json_decref(arr);
            return rc;
        }
        if (arr) json_array_append_new(arr, child);
    }
    if (out) *out = arr;
    return 0;
}

//  Reads one map key: must be a str (not bin), valid UTF-8, without NUL.
static int
s_read_key(s_reader_t *r, const uint8_t **key, size_t *len)
{
    if (!s_left(r)) return s_fail(r, ZF_EINVAL, "truncated");
    uint8_t t = *r->p++;
    uint64_t n = 0;
    int rc = 0;
    if (t >= 0xa0 && t <= 0xbf)
        n = t & 0x1f;
    else if (t >= 0xd9 && t <= 0xdb)
        rc = s_read_uint(r, 1 << (t - 0xd9), &n);
    else
        return s_fail(r, ZF_EINVAL, "map key is not a string");
    if (rc == 0) rc = s_read_text(r, n, key);
    *len = (size_t)n;
    //  jansson's C-string key APIs (json_object_get, json_equal, foreach)
    //  would see "a\0b" as "a": reject rather than risk key confusion.
    if (rc == 0 && memchr(*key, '\0', *len)) rc = s_fail(r, ZF_EINVAL, "map key contains NUL");
    return rc;
}

//  Reads one map entry into obj (decode) or ks (check).
static int
s_read_entry(s_reader_t *r, size_t depth, json_t *obj, s_keyset_t *ks)
{
    const uint8_t *key;
    size_t klen;
    int rc = s_read_key(r, &key, &klen);
    if (rc) return rc;
    bool dup =
        obj ? json_object_getn(obj, (const char *)key, klen) != NULL : s_keyset_seen(ks, key, klen);
    if (dup) return s_fail(r, ZF_EINVAL, "duplicate map key");
    json_t *child = NULL;
    rc = s_read_value(r, depth + 1, obj ? &child : NULL);
    if (rc == 0 && obj) json_object_setn_new_nocheck(obj, (const char *)key, klen, child);
    return rc;
}

static int
s_read_map(s_reader_t *r, uint64_t n, size_t depth, json_t **out)
{
    int rc = s_enter(r, depth, n, 2);
    if (rc) return rc;
    json_t *obj = out ? json_object() : NULL;
    s_keyset_t ks;
    ks.count = 0;
    ks.slots = NULL;
    ks.mask = 0;
    for (uint64_t i = 0; i < n && rc == 0; i++)
        rc = s_read_entry(r, depth, obj, &ks);
    free(ks.slots);
    if (rc)
        json_decref(obj);
    else if (out)
        *out = obj;
    return rc;
}

static int
s_read_string(s_reader_t *r, uint64_t n, json_t **out)
{
    const uint8_t *text;
    int rc = s_read_text(r, n, &text);
    if (rc || !out) return rc;
    *out = json_stringn((const char *)text, (size_t)n);
    return *out ? 0 : s_fail(r, ZF_EINVAL, "invalid utf-8");
}

static int
s_make_real(s_reader_t *r, double d, json_t **out)
{
    if (!isfinite(d)) return s_fail(r, ZF_EINVAL, "non-finite float");
    if (out) *out = json_real(d);
    return 0;
}

static int
s_make_int(int64_t i, json_t **out)
{
    if (out) *out = json_integer(i);
    return 0;
}

static int
s_make_const(json_t *v, json_t **out)
{
    if (out) *out = v;
    return 0;
}

//  Numbers in fixed-width encodings: 0xca..0xd3.
static int
s_read_number(s_reader_t *r, uint8_t t, json_t **out)
{
    static const uint8_t width[] = {4, 8, 1, 2, 4, 8, 1, 2, 4, 8};
    uint64_t u;
    int rc = s_read_uint(r, width[t - 0xca], &u);
    if (rc) return rc;
    if (t == 0xca) {
        uint32_t bits = (uint32_t)u;
        float f;
        memcpy(&f, &bits, sizeof f);
        return s_make_real(r, (double)f, out);
    }
    if (t == 0xcb) {
        double d;
        memcpy(&d, &u, sizeof d);
        return s_make_real(r, d, out);
    }
    if (t <= 0xcf) {
        if (u > (uint64_t)INT64_MAX) return s_fail(r, ZF_EINVAL, "integer above int64 range");
        return s_make_int((int64_t)u, out);
    }
    int bits = 8 * width[t - 0xca];
    if (bits < 64 && (u >> (bits - 1)) & 1) u |= ~0ull << bits;  // sign-extend
    return s_make_int((int64_t)u, out);
}

//  Variable-length types: str/bin/array/map with 8/16/32-bit lengths.
static int
s_read_sized(s_reader_t *r, uint8_t t, size_t depth, json_t **out)
{
    int width;
    if (t >= 0xc4 && t <= 0xc6)
        width = 1 << (t - 0xc4);
    else if (t >= 0xd9 && t <= 0xdb)
        width = 1 << (t - 0xd9);
    else
        width = (t & 1) ? 4 : 2;  // 0xdc..0xdf
    uint64_t n;
    int rc = s_read_uint(r, width, &n);
    if (rc) return rc;
    if (t <= 0xc6 || (t >= 0xd9 && t <= 0xdb)) return s_read_string(r, n, out);
    if (t <= 0xdd) return s_read_array(r, n, depth, out);
    return s_read_map(r, n, depth, out);
}

//  Reads exactly one value. depth = containers already entered.
static int
s_read_value(s_reader_t *r, size_t depth, json_t **out)
{
    if (!s_left(r)) return s_fail(r, ZF_EINVAL, "truncated");
    uint8_t t = *r->p++;
    if (t <= 0x7f) return s_make_int(t, out);
    if (t >= 0xe0) return s_make_int((int8_t)t, out);
    if (t <= 0x8f) return s_read_map(r, t & 0x0f, depth, out);
    if (t <= 0x9f) return s_read_array(r, t & 0x0f, depth, out);
    if (t <= 0xbf) return s_read_string(r, t & 0x1f, out);
    if (t == 0xc0) return s_make_const(out ? json_null() : NULL, out);
    if (t == 0xc2 || t == 0xc3) return s_make_const(out ? json_boolean(t == 0xc3) : NULL, out);
    if ((t >= 0xc4 && t <= 0xc6) || t >= 0xd9) return s_read_sized(r, t, depth, out);
    if (t >= 0xca && t <= 0xd3) return s_read_number(r, t, out);
    if (t == 0xc1) return s_fail(r, ZF_EINVAL, "invalid type byte 0xc1");
    return s_fail(r, ZF_EINVAL, "ext types are not supported");
}

//  Shared entry point of decode and check.
static int
s_run(const void *data, size_t len, const zf_codec_limits_t *lim, json_t **out, const char **why)
{
    s_reader_t r = {data, (const uint8_t *)data + len, lim ? lim : &zf_codec_default_limits, 0,
                    NULL};
    int rc;
    if (!data && len)
        rc = s_fail(&r, ZF_EINVAL, "no data");
    else if (len > r.lim->max_bytes)
        rc = s_fail(&r, ZF_ELIMIT, "value too large");
    else if (len == 0)
        rc = s_fail(&r, ZF_EINVAL, "empty input");
    else {
        rc = s_read_value(&r, 0, out);
        if (rc == 0 && r.p != r.end) {
            if (out) json_decref(*out);
            rc = s_fail(&r, ZF_EINVAL, "trailing bytes");
        }
    }
    if (why) *why = rc ? r.why : NULL;
    return rc;
}

json_t *
zf_codec_decode(const void *data, size_t len, const zf_codec_limits_t *lim, const char **why)
{
    json_t *out = NULL;
    if (s_run(data, len, lim, &out, why)) return NULL;
    return out;
}

int
zf_codec_check(const void *data, size_t len, const zf_codec_limits_t *lim, const char **why)
{
    return s_run(data, len, lim, NULL, why);
}

//  ---------------------------------------------------------------------
//  Encoding

static size_t
s_hdr_size(size_t n)
{
    return n < 16 ? 1 : n < 65536 ? 3 : 5;
}

static size_t
s_str_size(size_t l)
{
    return l + (l < 32 ? 1 : l < 256 ? 2 : l < 65536 ? 3 : 5);
}

//  Mirrors msgpack-c's choice of the smallest integer encoding.
static size_t
s_int_size(int64_t d)
{
    if (d < -(1LL << 5))
        return d < -(1LL << 31) ? 9 : d < -(1LL << 15) ? 5 : d < -(1LL << 7) ? 3 : 2;
    if (d < (1 << 7)) return 1;
    return d < (1 << 8) ? 2 : d < (1LL << 16) ? 3 : d < (1LL << 32) ? 5 : 9;
}

size_t
zf_codec_size(const json_t *v)
{
    const char *key;
    size_t klen, i, size;
    json_t *child;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        size = s_hdr_size(json_object_size(v));
        json_object_keylen_foreach((json_t *)v, key, klen, child) size +=
            s_str_size(klen) + zf_codec_size(child);
        return size;
    case JSON_ARRAY:
        size = s_hdr_size(json_array_size(v));
        json_array_foreach (v, i, child)
            size += zf_codec_size(child);
        return size;
    case JSON_STRING:
        return s_str_size(json_string_length(v));
    case JSON_INTEGER:
        return s_int_size(json_integer_value(v));
    case JSON_REAL:
        return 9;
    default:
        return 1;
    }
}

int
zf_codec_pack_entries(msgpack_packer *pk, const json_t *obj, zf_codec_keep_fn *keep,
                      zf_codec_entry_fn *pack, void *arg)
{
    const char *key;
    size_t klen, n = json_object_size(obj);
    json_t *child;
    if (keep) {
        n = 0;
        json_object_foreach ((json_t *)obj, key, child)
            n += keep(key, arg);
    }
    int rc = msgpack_pack_map(pk, n);
    json_object_keylen_foreach((json_t *)obj, key, klen, child)
    {
        if (keep && !keep(key, arg)) continue;
        rc |= msgpack_pack_str_with_body(pk, key, klen);
        rc |= pack ? pack(pk, key, child, arg) : zf_codec_pack(pk, child);
    }
    return rc;
}

int
zf_codec_pack(msgpack_packer *pk, const json_t *v)
{
    size_t i;
    json_t *child;
    int rc;
    if (!v) return ZF_EINVAL;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        rc = zf_codec_pack_entries(pk, v, NULL, NULL, NULL);
        break;
    case JSON_ARRAY:
        rc = msgpack_pack_array(pk, json_array_size(v));
        json_array_foreach (v, i, child)
            rc |= zf_codec_pack(pk, child);
        break;
    case JSON_STRING:
        rc = msgpack_pack_str_with_body(pk, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        rc = msgpack_pack_int64(pk, json_integer_value(v));
        break;
    case JSON_REAL:
        rc = msgpack_pack_double(pk, json_real_value(v));
        break;
    case JSON_TRUE:
        rc = msgpack_pack_true(pk);
        break;
    case JSON_FALSE:
        rc = msgpack_pack_false(pk);
        break;
    default:
        rc = msgpack_pack_nil(pk);
        break;
    }
    return rc ? ZF_EIO : 0;
}

typedef struct {
    char *buf;   // destination, sized exactly by zf_codec_size
    size_t cap;  // bytes available
    size_t len;  // bytes written
} s_fixed_t;

static int
s_fixed_write(void *data, const char *buf, size_t len)
{
    s_fixed_t *f = data;
    assert(f->cap - f->len >= len);
    memcpy(f->buf + f->len, buf, len);
    f->len += len;
    return 0;
}

void
zf_codec_pack_into(const json_t *v, void *buf, size_t size)
{
    s_fixed_t f = {buf, size, 0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &f, s_fixed_write);
    zf_codec_pack(&pk, v);
    assert(f.len == size);
}

void *
zf_codec_encode(const json_t *v, size_t *len)
{
    *len = 0;
    if (!v) return NULL;
    size_t size = zf_codec_size(v);
    void *buf = malloc(size);
    if (!buf) abort();
    zf_codec_pack_into(v, buf, size);
    *len = size;
    return buf;
}
