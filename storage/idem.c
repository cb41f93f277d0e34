/*  storage/idem.c — idempotency records over the raw store (layout: idem.h).

    Values are msgpack (zf_codec_encode / zf_codec_decode with the default
    limits). A stored value that does not decode to a record is treated as
    absent, like the typed records of records.c.
*/
#include "storage/idem.h"
#include "broker/codec.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char *p;  // malloc'd key bytes
    size_t len;        // key length
} s_key_t;

//  "tenant\0scope\0key" after `skip` reserved leading bytes (left for the
//  index prefix).
static s_key_t
s_key(size_t skip, const char *tenant, const char *scope, const char *key)
{
    assert(tenant && tenant[0] && scope && key);
    size_t tl = strlen(tenant), sl = strlen(scope), kl = strlen(key);
    s_key_t k = {.p = malloc(skip + tl + sl + kl + 2), .len = skip + tl + sl + kl + 2};
    if (!k.p) abort();
    unsigned char *w = k.p + skip;
    memcpy(w, tenant, tl);
    w[tl] = '\0';
    memcpy(w + tl + 1, scope, sl);
    w[tl + 1 + sl] = '\0';
    memcpy(w + tl + sl + 2, key, kl);
    return k;
}

//  "\0" expires_at(u64 BE) "tenant\0scope\0key"; times before the epoch
//  sort as 0.
static s_key_t
s_index_key(int64_t expires_at, const char *tenant, const char *scope, const char *key)
{
    s_key_t k = s_key(9, tenant, scope, key);
    uint64_t v = expires_at < 0 ? 0 : (uint64_t)expires_at;
    k.p[0] = '\0';
    for (int i = 8; i >= 1; i--, v >>= 8)
        k.p[i] = (unsigned char)(v & 0xFF);
    return k;
}

void
zf_idem_index_del(zf_batch_t *b, int64_t expires_at, const char *tenant, const char *scope,
                  const char *key)
{
    s_key_t k = s_index_key(expires_at, tenant, scope, key);
    zf_batch_del(b, ZF_CF_IDEM, k.p, k.len);
    free(k.p);
}

void
zf_idem_put(zf_batch_t *b, const char *tenant, const char *scope, const char *key,
            const json_t *rec, int64_t prev_expires_at)
{
    json_t *exp = json_object_get(rec, "expires_at");
    assert(b && json_is_integer(exp));
    int64_t expires_at = json_integer_value(exp);
    if (prev_expires_at > 0 && prev_expires_at != expires_at)
        zf_idem_index_del(b, prev_expires_at, tenant, scope, key);
    size_t len = 0;
    void *val = zf_codec_encode(rec, &len);
    s_key_t k = s_key(0, tenant, scope, key);
    zf_batch_put(b, ZF_CF_IDEM, k.p, k.len, val, len);
    free(k.p);
    free(val);
    k = s_index_key(expires_at, tenant, scope, key);
    zf_batch_put(b, ZF_CF_IDEM, k.p, k.len, "", 0);
    free(k.p);
}

void
zf_idem_del(zf_batch_t *b, const char *tenant, const char *scope, const char *key,
            int64_t expires_at)
{
    s_key_t k = s_key(0, tenant, scope, key);
    zf_batch_del(b, ZF_CF_IDEM, k.p, k.len);
    free(k.p);
    zf_idem_index_del(b, expires_at, tenant, scope, key);
}

json_t *
zf_idem_get(zf_store_t *s, const char *tenant, const char *scope, const char *key)
{
    s_key_t k = s_key(0, tenant, scope, key);
    size_t vlen = 0;
    void *val = zf_store_get(s, ZF_CF_IDEM, k.p, k.len, &vlen);
    free(k.p);
    if (!val) return NULL;
    json_t *rec = zf_codec_decode(val, vlen, NULL, NULL);
    free(val);
    if (!json_is_object(rec) || !json_is_string(json_object_get(rec, "fingerprint")) ||
        !json_is_string(json_object_get(rec, "state")) ||
        !json_is_integer(json_object_get(rec, "expires_at"))) {
        if (rec) fprintf(stderr, "zf_store: corrupt value in idem; treated as absent\n");
        json_decref(rec);
        return NULL;
    }
    return rec;
}

typedef struct {
    int64_t now;             // expiry limit
    size_t max;              // entries to report at most
    size_t count;            // reported so far
    zf_idem_expired_fn *fn;  // user callback
    void *arg;               // its argument
} s_expired_t;

//  Reports one index entry: "\0" expires(8) tenant "\0" scope "\0" key.
//  Stops the scan at the first entry not yet expired.
static int
s_expired_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val, (void)vlen;
    s_expired_t *x = arg;
    const unsigned char *p = key;
    if (klen < 9) return 0;  // not an index entry we wrote; skip it
    uint64_t v = 0;
    for (int i = 1; i <= 8; i++)
        v = (v << 8) | p[i];
    int64_t exp = v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
    if (exp > x->now || x->count >= x->max) return 1;
    const char *tail = (const char *)p + 9, *end = (const char *)p + klen;
    const char *s1 = memchr(tail, '\0', (size_t)(end - tail));
    const char *s2 = s1 ? memchr(s1 + 1, '\0', (size_t)(end - s1 - 1)) : NULL;
    if (!s2 || s1 == tail) return 0;
    char *tenant = strndup(tail, (size_t)(s1 - tail));
    char *scope = strndup(s1 + 1, (size_t)(s2 - s1 - 1));
    char *k = strndup(s2 + 1, (size_t)(end - s2 - 1));
    if (!tenant || !scope || !k) abort();
    x->count++;
    x->fn(exp, tenant, scope, k, x->arg);
    free(tenant);
    free(scope);
    free(k);
    return 0;
}

size_t
zf_idem_expired(zf_store_t *s, int64_t now_ms, size_t max, zf_idem_expired_fn *fn, void *arg)
{
    s_expired_t x = {.now = now_ms, .max = max, .fn = fn, .arg = arg};
    zf_store_scan(s, ZF_CF_IDEM, "", 1, false, s_expired_visit, &x);
    return x.count;
}
