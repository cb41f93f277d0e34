/*  storage/security.c — durable security events of a tenant (failed
    authentications, denied actions), in the indexes column family:

      tenant\0 "sec:" \0 at(u64 BE) id   -> event (msgpack map)

    `at` is the event's Unix ms (times before the epoch sort as 0) and `id`
    its UUIDv7, so a tenant's events sit in time order: a reverse scan reads
    the newest first and stops at `since`, a forward scan meets the oldest
    first, which is what retention deletes. The "sec:" part cannot collide
    with the other kinds of the indexes CF ("stats", "child:<run>",
    "created:<module>"). Retention limits are the caller's (the engine):
    these functions only count, list and delete the oldest.
*/
#include "storage/rec_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define S_KIND "sec:"  // the kind part of every key

//  "tenant\0sec:\0": the prefix of all of a tenant's events.
static zf_rkey_t
s_prefix(const char *tenant)
{
    assert(tenant && tenant[0]);
    return zf_rkey(tenant, S_KIND, "");
}

//  prefix + at(8 bytes BE) + id.
static zf_rkey_t
s_key(const char *tenant, int64_t at, const char *id)
{
    zf_rkey_t p = s_prefix(tenant);
    size_t idlen = strlen(id);
    zf_rkey_t k = {.p = malloc(p.len + 8 + idlen + 1), .len = p.len + 8 + idlen};
    if (!k.p) abort();
    memcpy(k.p, p.p, p.len);
    zf_rk_be_put(k.p + p.len, at < 0 ? 0 : (uint64_t)at, 8);
    memcpy(k.p + p.len + 8, id, idlen);
    free(p.p);
    return k;
}

//  The time part of an event key (plen = prefix length); -1 if too short.
static int64_t
s_key_at(const void *key, size_t klen, size_t plen)
{
    if (klen < plen + 8) return -1;
    uint64_t v = zf_rk_be_get((const unsigned char *)key + plen, 8);
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

void
zf_rec_sec_put(zf_batch_t *b, const char *tenant, const json_t *ev)
{
    const char *id = zf_rk_field(ev, "id");
    json_t *at = json_object_get(ev, "at");
    assert(b && id && json_is_integer(at));
    zf_rk_put_json(b, ZF_CF_INDEXES, s_key(tenant, json_integer_value(at), id), ev);
}

/* ---- newest first ---------------------------------------------------------------- */

typedef struct {
    size_t plen;    // prefix length
    int64_t since;  // stop at the first event older than this
    size_t max;     // events to return at most
    json_t *items;  // decoded events
    bool more;      // stopped by max while more remained
} s_list_t;

static int
s_list_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    s_list_t *l = arg;
    int64_t at = s_key_at(key, klen, l->plen);
    if (at < 0) return 0;  // not an event key: skip it
    if (at < l->since) return 1;
    if (json_array_size(l->items) >= l->max) {
        l->more = true;
        return 1;
    }
    json_t *ev = zf_rk_decode(ZF_CF_INDEXES, val, vlen, JSON_OBJECT);
    if (ev) json_array_append_new(l->items, ev);
    return 0;
}

json_t *
zf_rec_sec_list(zf_store_t *s, const char *tenant, int64_t since_ms, size_t max, bool *more)
{
    zf_rkey_t p = s_prefix(tenant);
    s_list_t l = {.plen = p.len, .since = since_ms, .max = max, .items = json_array()};
    zf_store_scan(s, ZF_CF_INDEXES, p.p, p.len, true, s_list_visit, &l);
    free(p.p);
    if (more) *more = l.more;
    return l.items;
}

/* ---- counting and retention --------------------------------------------------------- */

static int
s_count_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)key, (void)klen, (void)val, (void)vlen, (void)arg;
    return 0;
}

size_t
zf_rec_sec_count(zf_store_t *s, const char *tenant)
{
    zf_rkey_t p = s_prefix(tenant);
    size_t n = zf_store_scan(s, ZF_CF_INDEXES, p.p, p.len, false, s_count_visit, NULL);
    free(p.p);
    return n;
}

typedef struct {
    zf_batch_t *b;   // deletions go here
    size_t plen;     // prefix length
    int64_t before;  // events older than this go
    size_t excess;   // so many of the oldest go anyway
    size_t max;      // deletions at most
    size_t deleted;  // staged so far
} s_prune_t;

//  Oldest first: deletes while an event is too old or over the count, and
//  stops at the first one that may stay (the rest are newer).
static int
s_prune_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val, (void)vlen;
    s_prune_t *p = arg;
    int64_t at = s_key_at(key, klen, p->plen);
    if (p->deleted >= p->max) return 1;
    if (at >= 0 && p->excess == 0 && at >= p->before) return 1;
    zf_batch_del(p->b, ZF_CF_INDEXES, key, klen);
    p->deleted++;
    if (p->excess > 0) p->excess--;
    return 0;
}

size_t
zf_rec_sec_prune(zf_store_t *s, zf_batch_t *b, const char *tenant, int64_t before_ms, size_t excess,
                 size_t max)
{
    zf_rkey_t k = s_prefix(tenant);
    s_prune_t p = {.b = b, .plen = k.len, .before = before_ms, .excess = excess, .max = max};
    if (max > 0) zf_store_scan(s, ZF_CF_INDEXES, k.p, k.len, false, s_prune_visit, &p);
    free(k.p);
    return p.deleted;
}
