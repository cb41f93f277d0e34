/*  storage/data.c — the tenant's business data and its bookkeeping: module
    records (contacts, deals, ...), in-app notifications, schedules and
    per-workflow run statistics (layout: store.h).
*/
#include "storage/rec_int.h"

#include <assert.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define S_NOTIFY_PART "\x01n"  // notifications' part after the tenant (never a module name)

/* ---- paging scans ----------------------------------------------------------- */

//  Collects a page of decoded objects while counting every entry.
typedef struct {
    zf_cf_t cf;     // column family scanned
    size_t offset;  // entries to skip
    size_t limit;   // entries to keep
    size_t total;   // entries seen
    json_t *items;  // kept, decoded
} s_page_t;

static int
s_page_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)key, (void)klen;
    s_page_t *pg = arg;
    if (pg->total >= pg->offset && json_array_size(pg->items) < pg->limit) {
        json_t *v = zf_rk_decode(pg->cf, val, vlen, JSON_OBJECT);
        if (v) json_array_append_new(pg->items, v);
    }
    pg->total++;
    return 0;
}

static json_t *
s_page(zf_store_t *s, zf_cf_t cf, zf_rkey_t prefix, size_t offset, size_t limit, size_t *total)
{
    s_page_t pg = {.cf = cf, .offset = offset, .limit = limit, .items = json_array()};
    zf_store_scan(s, cf, prefix.p, prefix.len, true, s_page_visit, &pg);
    free(prefix.p);
    if (total) *total = pg.total;
    return pg.items;
}

/* ---- module records --------------------------------------------------------- */

void
zf_rec_data_put(zf_batch_t *b, const char *tenant, const char *module, const json_t *rec)
{
    const char *id = zf_rk_field(rec, "id");
    assert(b && tenant && module && id);
    zf_rk_put_json(b, ZF_CF_RECORDS, zf_rkey(tenant, module, id), rec);
}

void
zf_rec_data_del(zf_batch_t *b, const char *tenant, const char *module, const char *id)
{
    zf_rk_del(b, ZF_CF_RECORDS, zf_rkey(tenant, module, id));
}

json_t *
zf_rec_data_get(zf_store_t *s, const char *tenant, const char *module, const char *id)
{
    return zf_rk_get(s, ZF_CF_RECORDS, zf_rkey(tenant, module, id), JSON_OBJECT);
}

json_t *
zf_rec_data_list(zf_store_t *s, const char *tenant, const char *module, size_t offset, size_t limit,
                 size_t *total)
{
    return s_page(s, ZF_CF_RECORDS, zf_rkey(tenant, module, ""), offset, limit, total);
}

/* ---- notifications ------------------------------------------------------------ */

static zf_rkey_t
s_notify_key(const char *tenant, const char *user, const char *id)
{
    //  tenant \0 \x01n \0 user \0 id: built from two joins.
    zf_rkey_t head = zf_rkey(tenant, S_NOTIFY_PART, user);
    size_t idlen = strlen(id);
    unsigned char *p = malloc(head.len + 1 + idlen + 8);
    if (!p) abort();
    memcpy(p, head.p, head.len);
    p[head.len] = '\0';
    memcpy(p + head.len + 1, id, idlen);
    zf_rkey_t k = {.p = p, .len = head.len + 1 + idlen};
    free(head.p);
    return k;
}

void
zf_rec_notify_put(zf_batch_t *b, const char *tenant, const json_t *n)
{
    const char *id = zf_rk_field(n, "id"), *user = zf_rk_field(n, "user_id");
    assert(b && tenant && id && user);
    zf_rk_put_json(b, ZF_CF_RECORDS, s_notify_key(tenant, user, id), n);
}

json_t *
zf_rec_notify_get(zf_store_t *s, const char *tenant, const char *user, const char *id)
{
    return zf_rk_get(s, ZF_CF_RECORDS, s_notify_key(tenant, user, id), JSON_OBJECT);
}

json_t *
zf_rec_notify_list(zf_store_t *s, const char *tenant, const char *user, size_t offset, size_t limit,
                   size_t *total)
{
    return s_page(s, ZF_CF_RECORDS, s_notify_key(tenant, user, ""), offset, limit, total);
}

/* ---- schedules ------------------------------------------------------------------ */

void
zf_rec_sched_put(zf_batch_t *b, const char *tenant, const json_t *sched)
{
    const char *id = zf_rk_field(sched, "id");
    assert(b && tenant && id && zf_rk_field(sched, "workflow_id"));
    zf_rk_put_json(b, ZF_CF_SCHEDULES, zf_rkey(tenant, id, NULL), sched);
}

void
zf_rec_sched_del(zf_batch_t *b, const char *tenant, const char *id)
{
    zf_rk_del(b, ZF_CF_SCHEDULES, zf_rkey(tenant, id, NULL));
}

json_t *
zf_rec_sched_get(zf_store_t *s, const char *tenant, const char *id)
{
    return zf_rk_get(s, ZF_CF_SCHEDULES, zf_rkey(tenant, id, NULL), JSON_OBJECT);
}

typedef struct {
    const char *wf_id;  // filter (NULL = all)
    json_t *items;      // matching schedules
} s_sched_scan_t;

static int
s_sched_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)key, (void)klen;
    s_sched_scan_t *sc = arg;
    json_t *v = zf_rk_decode(ZF_CF_SCHEDULES, val, vlen, JSON_OBJECT);
    const char *wf = v ? zf_rk_field(v, "workflow_id") : NULL;
    if (v && (!sc->wf_id || (wf && strcmp(wf, sc->wf_id) == 0)))
        json_array_append_new(sc->items, v);
    else
        json_decref(v);
    return 0;
}

//  A tenant has few schedules, so listing one workflow's scans the tenant.
json_t *
zf_rec_sched_list(zf_store_t *s, const char *tenant, const char *wf_id)
{
    s_sched_scan_t sc = {.wf_id = wf_id, .items = json_array()};
    zf_rkey_t prefix = zf_rkey(tenant, "", NULL);
    zf_store_scan(s, ZF_CF_SCHEDULES, prefix.p, prefix.len, false, s_sched_visit, &sc);
    free(prefix.p);
    return sc.items;
}

/* ---- workflow statistics ----------------------------------------------------- */

void
zf_rec_stats_put(zf_batch_t *b, const char *tenant, const char *wf_id, const json_t *stats)
{
    zf_rk_put_json(b, ZF_CF_INDEXES, zf_rkey(tenant, "stats", wf_id), stats);
}

json_t *
zf_rec_stats_get(zf_store_t *s, const char *tenant, const char *wf_id)
{
    return zf_rk_get(s, ZF_CF_INDEXES, zf_rkey(tenant, "stats", wf_id), JSON_OBJECT);
}

void
zf_rec_stats_del(zf_batch_t *b, const char *tenant, const char *wf_id)
{
    zf_rk_del(b, ZF_CF_INDEXES, zf_rkey(tenant, "stats", wf_id));
}

/* ---- every workflow (start-up) ------------------------------------------------- */

typedef struct {
    zf_rec_wf_fn *fn;  // callback
    void *arg;         // its argument
} s_wf_each_t;

static int
s_wf_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    s_wf_each_t *w = arg;
    const char *sep = memchr(key, '\0', klen);
    json_t *wf = sep ? zf_rk_decode(ZF_CF_WORKFLOWS, val, vlen, JSON_OBJECT) : NULL;
    if (wf) {
        char tenant[128];
        size_t tlen = (size_t)(sep - (const char *)key);
        if (tlen < sizeof tenant) {
            memcpy(tenant, key, tlen);
            tenant[tlen] = '\0';
            w->fn(tenant, wf, w->arg);
        }
        json_decref(wf);
    }
    return 0;
}

size_t
zf_rec_wf_each(zf_store_t *s, zf_rec_wf_fn *fn, void *arg)
{
    s_wf_each_t w = {.fn = fn, .arg = arg};
    return zf_store_scan(s, ZF_CF_WORKFLOWS, "", 0, false, s_wf_visit, &w);
}

typedef struct {
    zf_rec_sched_fn *fn;  // callback
    void *arg;            // its argument
} s_sched_each_t;

static int
s_sched_each_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    s_sched_each_t *w = arg;
    const char *sep = memchr(key, '\0', klen);
    json_t *sc = sep ? zf_rk_decode(ZF_CF_SCHEDULES, val, vlen, JSON_OBJECT) : NULL;
    size_t tlen = sep ? (size_t)(sep - (const char *)key) : 0;
    if (sc && tlen < 128) {
        char tenant[128];
        memcpy(tenant, key, tlen);
        tenant[tlen] = '\0';
        w->fn(tenant, sc, w->arg);
    }
    json_decref(sc);
    return 0;
}

size_t
zf_rec_sched_each(zf_store_t *s, zf_rec_sched_fn *fn, void *arg)
{
    s_sched_each_t w = {.fn = fn, .arg = arg};
    return zf_store_scan(s, ZF_CF_SCHEDULES, "", 0, false, s_sched_each_visit, &w);
}

/* ---- callback tokens and child runs ----------------------------------------- */

void
zf_rec_token_put(zf_batch_t *b, const char *hash_hex, const json_t *entry)
{
    zf_rk_put_json(b, ZF_CF_META, zf_rkey("token", hash_hex, NULL), entry);
}

json_t *
zf_rec_token_get(zf_store_t *s, const char *hash_hex)
{
    return zf_rk_get(s, ZF_CF_META, zf_rkey("token", hash_hex, NULL), JSON_OBJECT);
}

//  Keys of the indexes CF: tenant \0 "<kind>:<owner>" \0 name.
//  Child links: "child:<parent run id>" \0 node id -> {child run id,
//  workflow id}: the parent's node finds its child again after a crash.
//  Idempotent creates: "created:<module>" \0 key -> record id.
static zf_rkey_t
s_index_key(const char *tenant, const char *kind, const char *owner, const char *name)
{
    char mid[112];
    snprintf(mid, sizeof mid, "%s:%s", kind, owner);
    return zf_rkey(tenant, mid, name);
}

static zf_rkey_t
s_child_key(const char *tenant, const char *parent, const char *node_id)
{
    return s_index_key(tenant, "child", parent, node_id);
}

void
zf_rec_child_put(zf_batch_t *b, const char *tenant, const char *parent, const char *node_id,
                 const json_t *link)
{
    zf_rk_put_json(b, ZF_CF_INDEXES, s_child_key(tenant, parent, node_id), link);
}

json_t *
zf_rec_child_get(zf_store_t *s, const char *tenant, const char *parent, const char *node_id)
{
    return zf_rk_get(s, ZF_CF_INDEXES, s_child_key(tenant, parent, node_id), JSON_OBJECT);
}

//  The reverse entry "createdkey:<module>" \0 record id -> key lets the
//  record's deletion remove both: a key lives as long as its record.
void
zf_rec_created_put(zf_batch_t *b, const char *tenant, const char *module, const char *key,
                   const char *id)
{
    zf_rk_put_str(b, ZF_CF_INDEXES, s_index_key(tenant, "created", module, key), id);
    zf_rk_put_str(b, ZF_CF_INDEXES, s_index_key(tenant, "createdkey", module, id), key);
}

void
zf_rec_created_del(zf_store_t *s, zf_batch_t *b, const char *tenant, const char *module,
                   const char *id)
{
    json_t *key =
        zf_rk_get(s, ZF_CF_INDEXES, s_index_key(tenant, "createdkey", module, id), JSON_STRING);
    if (!key) return;
    char *owner = zf_rec_created_get(s, tenant, module, json_string_value(key));
    if (owner && strcmp(owner, id) == 0)  // the key was not taken by a later record
        zf_rk_del(b, ZF_CF_INDEXES, s_index_key(tenant, "created", module, json_string_value(key)));
    free(owner);
    zf_rk_del(b, ZF_CF_INDEXES, s_index_key(tenant, "createdkey", module, id));
    json_decref(key);
}

char *
zf_rec_created_get(zf_store_t *s, const char *tenant, const char *module, const char *key)
{
    json_t *v =
        zf_rk_get(s, ZF_CF_INDEXES, s_index_key(tenant, "created", module, key), JSON_STRING);
    char *id = v ? strdup(json_string_value(v)) : NULL;
    json_decref(v);
    return id;
}

json_t *
zf_rec_children_list(zf_store_t *s, const char *tenant, const char *parent)
{
    zf_rk_collect_t c = {.cf = ZF_CF_INDEXES, .items = json_array()};
    zf_rkey_t prefix = s_child_key(tenant, parent, "");
    zf_store_scan(s, ZF_CF_INDEXES, prefix.p, prefix.len, false, zf_rk_collect, &c);
    free(prefix.p);
    return c.items;
}

//  Counts the tenant's unfinished runs by status, reading at most max.
typedef struct {
    zf_store_t *s;         // store
    json_t *counts;        // status -> count
    size_t left;           // runs still to read
    zf_rec_skip_fn *skip;  // runs left out (NULL = none)
    void *arg;             // its argument
} s_active_count_t;

static int
s_active_count_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val, (void)vlen;
    s_active_count_t *a = arg;
    if (a->left == 0) return 1;
    a->left--;
    const char *sep = a->skip ? memchr(key, '\0', klen) : NULL;  // tenant\0run_id
    size_t idlen = sep ? klen - (size_t)(sep + 1 - (const char *)key) : 0;
    char run_id[64];
    if (sep && idlen < sizeof run_id) {
        memcpy(run_id, sep + 1, idlen);
        run_id[idlen] = '\0';
        if (a->skip(run_id, a->arg)) return 0;
    }
    void *rec = zf_store_get(a->s, ZF_CF_RUNS, key, klen, &vlen);
    json_t *run = rec ? zf_rk_decode(ZF_CF_RUNS, rec, vlen, JSON_OBJECT) : NULL;
    free(rec);
    const char *st = json_string_value(json_object_get(run, "status"));
    if (st) {
        json_t *n = json_object_get(a->counts, st);
        json_object_set_new(a->counts, st, json_integer(json_integer_value(n) + 1));
    }
    json_decref(run);
    return 0;
}

json_t *
zf_rec_active_counts(zf_store_t *s, const char *tenant, size_t max, zf_rec_skip_fn *skip, void *arg)
{
    s_active_count_t a = {.s = s, .counts = json_object(), .left = max, .skip = skip, .arg = arg};
    zf_rkey_t prefix = zf_rkey(tenant, "", NULL);
    zf_store_scan(s, ZF_CF_ACTIVE, prefix.p, prefix.len, false, s_active_count_visit, &a);
    free(prefix.p);
    return a.counts;
}
