/*  storage/records.c — typed records over the raw store (layout: store.h).

    Every typed put stages its record AND the index entries that point at it
    into the same zf_batch_t, so a record and its indexes commit together.
    Values are msgpack, written with zf_codec_encode and read back with
    zf_codec_decode under the default limits: stored bytes are external input
    like any other. A value that does not decode (or is not the expected
    shape) is reported on stderr and treated as absent; it never crashes a
    reader and never aborts a scan.
*/
#include "storage/rec_int.h"
#include "broker/codec.h"

#include <msgpack.h>

#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- workflows ------------------------------------------------------------ */

void
zf_rec_wf_put(zf_batch_t *b, const char *tenant, const json_t *wf, const char *old_name)
{
    const char *id = zf_rk_field(wf, "id");
    const char *name = zf_rk_field(wf, "name");
    assert(b && tenant && id && name);
    zf_rk_put_json(b, ZF_CF_WORKFLOWS, zf_rkey(tenant, id, NULL), wf);
    if (old_name && strcmp(old_name, name) != 0)
        zf_rk_del(b, ZF_CF_WF_NAMES, zf_rkey(tenant, old_name, NULL));
    zf_rk_put_str(b, ZF_CF_WF_NAMES, zf_rkey(tenant, name, NULL), id);
}

json_t *
zf_rec_wf_get(zf_store_t *s, const char *tenant, const char *wf_id)
{
    return zf_rk_get(s, ZF_CF_WORKFLOWS, zf_rkey(tenant, wf_id, NULL), JSON_OBJECT);
}

char *
zf_rec_wf_by_name(zf_store_t *s, const char *tenant, const char *name)
{
    json_t *v = zf_rk_get(s, ZF_CF_WF_NAMES, zf_rkey(tenant, name, NULL), JSON_STRING);
    char *id = v ? strdup(json_string_value(v)) : NULL;
    json_decref(v);
    return id;
}

//  UUIDv7 ids sort by creation time, so a reverse scan of the tenant's
//  prefix is newest first.
json_t *
zf_rec_wf_list(zf_store_t *s, const char *tenant)
{
    zf_rkey_t prefix = zf_rkey(tenant, "", NULL);
    zf_rk_collect_t c = {.cf = ZF_CF_WORKFLOWS, .items = json_array()};
    zf_store_scan(s, ZF_CF_WORKFLOWS, prefix.p, prefix.len, true, zf_rk_collect, &c);
    free(prefix.p);
    return c.items;
}

//  Collects the last \0-separated part of each key after a prefix (run ids
//  of run_index) so deletions can be staged after the scan.
static int
s_collect_suffix(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val, (void)vlen;
    json_t *ids = ((zf_rk_collect_t *)arg)->items;
    const char *k = key;
    const char *sep = memrchr(k, '\0', klen);
    if (sep) json_array_append_new(ids, json_stringn(sep + 1, klen - (size_t)(sep + 1 - k)));
    return 0;
}

typedef struct {
    zf_batch_t *b;  // where the deletions go
    zf_cf_t cf;     // of the scanned family
} s_del_t;

static int
s_del_key(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val, (void)vlen;
    s_del_t *d = arg;
    zf_batch_del(d->b, d->cf, key, klen);
    return 0;
}

//  Stages deletion of one run: record, state, logs, index, active, timer.
void
zf_rec_run_del(zf_store_t *s, zf_batch_t *b, const char *tenant, const char *wf_id,
               const char *run_id)
{
    json_t *run = zf_rec_run_get(s, tenant, run_id);
    json_t *wake = json_object_get(run, "wake_at");
    if (json_is_integer(wake)) zf_rec_timer_del(b, json_integer_value(wake), tenant, run_id);
    json_decref(run);
    zf_rkey_t under = zf_rkey(tenant, run_id, "");  // log entries; outputs stored apart
    zf_store_scan(s, ZF_CF_RUN_LOGS, under.p, under.len, false, s_del_key,
                  &(s_del_t){b, ZF_CF_RUN_LOGS});
    zf_store_scan(s, ZF_CF_RUN_STATE, under.p, under.len, false, s_del_key,
                  &(s_del_t){b, ZF_CF_RUN_STATE});
    free(under.p);
    zf_rk_del(b, ZF_CF_RUNS, zf_rkey(tenant, run_id, NULL));
    zf_rk_del(b, ZF_CF_RUN_STATE, zf_rkey(tenant, run_id, NULL));
    zf_rk_del(b, ZF_CF_ACTIVE, zf_rkey(tenant, run_id, NULL));
    zf_rk_del(b, ZF_CF_RUN_INDEX, zf_rkey(tenant, wf_id, run_id));
}

void
zf_rec_wf_del(zf_store_t *s, zf_batch_t *b, const char *tenant, const json_t *wf)
{
    const char *id = zf_rk_field(wf, "id");
    const char *name = zf_rk_field(wf, "name");
    assert(s && b && tenant && id);
    zf_rk_del(b, ZF_CF_WORKFLOWS, zf_rkey(tenant, id, NULL));
    if (name) {  // only if the name still points at this workflow
        char *owner = zf_rec_wf_by_name(s, tenant, name);
        if (owner && strcmp(owner, id) == 0)
            zf_rk_del(b, ZF_CF_WF_NAMES, zf_rkey(tenant, name, NULL));
        free(owner);
    }
    zf_rkey_t prefix = zf_rkey(tenant, id, "");
    zf_rk_collect_t c = {.cf = ZF_CF_RUN_INDEX, .items = json_array()};
    zf_store_scan(s, ZF_CF_RUN_INDEX, prefix.p, prefix.len, false, s_collect_suffix, &c);
    free(prefix.p);
    size_t i;
    json_t *run_id;
    json_array_foreach (c.items, i, run_id)
        zf_rec_run_del(s, b, tenant, id, json_string_value(run_id));
    json_decref(c.items);
}

/* ---- runs ----------------------------------------------------------------- */

static bool
s_terminal(const char *status)
{
    return strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
           strcmp(status, "cancelled") == 0;
}

//  The index entries of a run record staged under k (freed here). The
//  run_index value is the status, so listing with a status filter reads
//  no records; `active` holds exactly the unfinished runs, for recovery.
//  prev_status (or NULL = unknown) is the status the stored record has;
//  when it equals status the entries are already right.
static void
s_run_indexes(zf_batch_t *b, zf_rkey_t k, const char *tenant, const char *run_id, const char *wf_id,
              const char *status, const char *prev_status)
{
    if (prev_status && strcmp(prev_status, status) == 0) {
        free(k.p);
        return;
    }
    if (s_terminal(status))
        zf_batch_del(b, ZF_CF_ACTIVE, k.p, k.len);
    else
        zf_batch_put(b, ZF_CF_ACTIVE, k.p, k.len, "", 0);
    free(k.p);
    zf_rk_put_str(b, ZF_CF_RUN_INDEX, zf_rkey(tenant, wf_id, run_id), status);
}

void
zf_rec_run_put(zf_batch_t *b, const char *tenant, const json_t *run)
{
    const char *id = zf_rk_field(run, "id");
    const char *wf_id = zf_rk_field(run, "workflow_id");
    const char *status = zf_rk_field(run, "status");
    assert(b && tenant && id && wf_id && status);
    zf_rkey_t k = zf_rkey(tenant, id, NULL);
    zf_batch_put_json(b, ZF_CF_RUNS, k.p, k.len, run);
    s_run_indexes(b, k, tenant, id, wf_id, status, NULL);
}

json_t *
zf_rec_run_get(zf_store_t *s, const char *tenant, const char *run_id)
{
    return zf_rk_get(s, ZF_CF_RUNS, zf_rkey(tenant, run_id, NULL), JSON_OBJECT);
}

/* ---- run state: large values stored apart (ZF_REC_APART_BYTES) ------------- */

//  The maps of a state whose large values are stored apart: the map, the
//  state field naming what is apart, and the key suffix's prefix (node ids
//  are [A-Za-z0-9_-], so "$" + a variable name never meets one).
typedef struct {
    const char *map;    // "stepOutputs"
    const char *apart;  // "outputsApart"
    const char *tag;    // "" or "$"
} s_kind_t;

static const s_kind_t s_kinds[] = {{"stepOutputs", "outputsApart", ""},
                                   {"variables", "variablesApart", "$"}};
#define S_KINDS (sizeof s_kinds / sizeof s_kinds[0])

static const s_kind_t *
s_kind_of_map(const char *map)
{
    for (size_t i = 0; i < S_KINDS; i++)
        if (strcmp(s_kinds[i].map, map) == 0) return &s_kinds[i];
    return NULL;
}

//  Key of one value stored apart: tenant\0run_id\0<tag><name>.
static zf_rkey_t
s_apart_key(const char *tenant, const char *run_id, const s_kind_t *kind, const char *name)
{
    if (!*kind->tag) return zf_rkey(tenant, run_id, name);
    size_t n = strlen(kind->tag) + strlen(name) + 1;
    char *suffix = malloc(n);
    if (!suffix) abort();
    snprintf(suffix, n, "%s%s", kind->tag, name);
    zf_rkey_t k = zf_rkey(tenant, run_id, suffix);
    free(suffix);
    return k;
}

//  True if map[name] of this state is stored apart and unchanged since
//  (a changed one is marked 0 until the next snapshot stores or drops it).
static bool
s_apart(const json_t *apart, const char *name)
{
    return apart && json_integer_value(json_object_get(apart, name)) > 0;
}

//  zf_codec_keep_fn over a map: the entries not stored apart (arg: apart).
static bool
s_inline(const char *name, void *apart)
{
    return !s_apart(apart, name);
}

//  zf_codec_entry_fn over the state: a map with values stored apart is
//  packed without them (arg: the state).
static int
s_pack_state_entry(msgpack_packer *pk, const char *key, const json_t *v, void *state)
{
    const s_kind_t *kind = json_is_object(v) ? s_kind_of_map(key) : NULL;
    json_t *apart = kind ? json_object_get(state, kind->apart) : NULL;
    return apart ? zf_codec_pack_entries(pk, v, s_inline, NULL, apart) : zf_codec_pack(pk, v);
}

//  Packs the state with the values stored apart left out of their maps.
static int
s_pack_state(msgpack_packer *pk, void *arg)
{
    return zf_codec_pack_entries(pk, arg, NULL, s_pack_state_entry, arg);
}

//  Stages the state snapshot under k (borrowed): first each large value
//  not yet stored apart, in its own entry, then the state without the
//  values stored apart.
static void
s_state_stage(zf_batch_t *b, zf_rkey_t k, const char *tenant, const char *run_id, json_t *state)
{
    for (size_t i = 0; i < S_KINDS; i++) {
        const s_kind_t *kind = &s_kinds[i];
        json_t *map = json_object_get(state, kind->map);
        json_t *apart = json_object_get(state, kind->apart);
        const char *name;
        json_t *v;
        json_object_foreach (json_is_object(map) ? map : NULL, name, v) {
            if (s_apart(apart, name)) continue;
            size_t bytes = zf_codec_size(v);
            if (bytes < ZF_REC_APART_BYTES) continue;
            if (!json_is_object(apart)) {
                apart = json_object();
                json_object_set_new(state, kind->apart, apart);
            }
            zf_rk_put_json(b, ZF_CF_RUN_STATE, s_apart_key(tenant, run_id, kind, name), v);
            json_object_set_new(apart, name, json_integer((json_int_t)bytes));
        }
        //  Changed values now inline (or gone): their old entries go.
        void *tmp;
        json_object_foreach_safe (json_is_object(apart) ? apart : NULL, tmp, name, v) {
            if (json_integer_value(v) > 0) continue;
            zf_rk_del(b, ZF_CF_RUN_STATE, s_apart_key(tenant, run_id, kind, name));
            json_object_del(apart, name);
        }
    }
    zf_batch_put_packed(b, ZF_CF_RUN_STATE, k.p, k.len, s_pack_state, state);
}

void
zf_rec_state_put(zf_batch_t *b, const char *tenant, const char *run_id, json_t *state)
{
    assert(b && tenant && run_id && state);
    zf_rkey_t k = zf_rkey(tenant, run_id, NULL);
    s_state_stage(b, k, tenant, run_id, state);
    free(k.p);
}

void
zf_rec_state_changed(json_t *state, const char *map, const char *name)
{
    const s_kind_t *kind = s_kind_of_map(map);
    assert(kind);
    json_t *apart = json_object_get(state, kind->apart);
    if (json_object_get(apart, name)) json_object_set_new(apart, name, json_integer(0));
}

void
zf_rec_state_view(json_t *state)
{
    for (size_t i = 0; i < S_KINDS; i++)
        json_object_del(state, s_kinds[i].apart);
}

json_t *
zf_rec_state_get(zf_store_t *s, const char *tenant, const char *run_id)
{
    json_t *state = zf_rk_get(s, ZF_CF_RUN_STATE, zf_rkey(tenant, run_id, NULL), JSON_OBJECT);
    for (size_t i = 0; state && i < S_KINDS; i++) {
        const s_kind_t *kind = &s_kinds[i];
        json_t *apart = json_object_get(state, kind->apart);
        if (!json_is_object(apart) || json_object_size(apart) == 0) continue;
        json_t *map = json_object_get(state, kind->map);
        if (!json_is_object(map)) {
            map = json_object();
            json_object_set_new(state, kind->map, map);
        }
        const char *name;
        json_t *bytes;
        json_object_foreach (apart, name, bytes) {
            if (json_integer_value(bytes) <= 0) continue;  // never stored so
            size_t vlen = 0;
            zf_rkey_t k = s_apart_key(tenant, run_id, kind, name);
            void *val = zf_store_get(s, ZF_CF_RUN_STATE, k.p, k.len, &vlen);
            free(k.p);
            const char *why = "missing";
            json_t *v = val ? zf_codec_decode(val, vlen, NULL, &why) : NULL;
            free(val);
            if (!v) zf_rk_corrupt(ZF_CF_RUN_STATE, why);  // the value reads as null
            json_object_set_new(map, name, v ? v : json_null());
        }
    }
    return state;
}

void
zf_rec_log_put_raw(zf_batch_t *b, const char *tenant, const char *run_id, uint32_t seq,
                   const void *entry, size_t len)
{
    assert(b && tenant && run_id && entry);
    zf_rkey_t k = zf_rkey(tenant, run_id, "");
    zf_rk_be_put(k.p + k.len, seq, 4);
    zf_batch_put(b, ZF_CF_RUN_LOGS, k.p, k.len + 4, entry, len);
    free(k.p);
}

void
zf_rec_snapshot_put(zf_batch_t *b, const zf_rec_snapshot_t *snap)
{
    assert(b && snap && snap->tenant && snap->run_id && snap->state);
    zf_rkey_t k = zf_rkey(snap->tenant, snap->run_id, NULL);
    s_state_stage(b, k, snap->tenant, snap->run_id, snap->state);
    if (snap->rec) {
        zf_batch_put_json(b, ZF_CF_RUNS, k.p, k.len, snap->rec);
        s_run_indexes(b, k, snap->tenant, snap->run_id, snap->wf_id, snap->status,
                      snap->prev_status);
    } else
        free(k.p);
    if (snap->log)
        zf_rec_log_put_raw(b, snap->tenant, snap->run_id, snap->log_seq, snap->log, snap->log_len);
    if (snap->timer_clear > 0) zf_rec_timer_del(b, snap->timer_clear, snap->tenant, snap->run_id);
    if (snap->timer_due > 0)
        zf_rec_timer_put(b, snap->timer_due, snap->tenant, snap->run_id, snap->timer_kind);
    if (snap->token) {
        json_t *entry = json_deep_copy(snap->token);
        json_object_del(entry, "hash");
        json_object_set_new(entry, "tenant", json_string(snap->tenant));
        json_object_set_new(entry, "run_id", json_string(snap->run_id));
        zf_rec_token_put(b, json_string_value(json_object_get(snap->token, "hash")), entry);
        json_decref(entry);
    }
}

json_t *
zf_rec_logs_get(zf_store_t *s, const char *tenant, const char *run_id)
{
    zf_rkey_t prefix = zf_rkey(tenant, run_id, "");
    zf_rk_collect_t c = {.cf = ZF_CF_RUN_LOGS, .items = json_array()};
    zf_store_scan(s, ZF_CF_RUN_LOGS, prefix.p, prefix.len, false, zf_rk_collect, &c);
    free(prefix.p);
    return c.items;
}

typedef struct {
    const void *want;  // encoded status to match, or NULL for any
    size_t want_len;   // its length
    size_t offset;     // first match to return
    size_t limit;      // matches to return
    size_t total;      // matches seen
    json_t *ids;       // run ids of the page
    int64_t since_ms;  // stop at runs created before this (0 = no limit)
} s_page_t;

int64_t
zf_rec_uuid7_ms(const char *id, size_t len)
{
    //  xxxxxxxx-xxxx-7...: the first 12 hex digits are the Unix ms.
    int64_t ms = 0;
    for (size_t i = 0, n = 0; i < len && n < 12; i++) {
        char c = id[i];
        if (c == '-') continue;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        ms = ms * 16 + d;
        n++;
    }
    return ms;
}

static int
s_page_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    s_page_t *pg = arg;
    if (pg->want && (vlen != pg->want_len || memcmp(val, pg->want, vlen) != 0)) return 0;
    if (pg->since_ms > 0) {  // newest first: stop at the first run created before since
        const char *sep = memrchr(key, '\0', klen);
        if (sep &&
            zf_rec_uuid7_ms(sep + 1, klen - (size_t)(sep + 1 - (const char *)key)) < pg->since_ms)
            return 1;
    }
    size_t idx = pg->total++;
    if (idx >= pg->offset && idx - pg->offset < pg->limit) {
        zf_rk_collect_t c = {.cf = ZF_CF_RUN_INDEX, .items = pg->ids};
        s_collect_suffix(key, klen, val, vlen, &c);
    }
    return 0;
}

//  Newest first from the reverse scan of the workflow's run_index range.
//  The status filter compares the stored msgpack bytes with the encoded
//  filter, so only the returned page costs record reads.
json_t *
zf_rec_runs_list(zf_store_t *s, const char *tenant, const char *wf_id, const char *status,
                 size_t offset, size_t limit, size_t *total)
{
    return zf_rec_runs_list_since(s, tenant, wf_id, status, 0, offset, limit, total);
}

json_t *
zf_rec_runs_list_since(zf_store_t *s, const char *tenant, const char *wf_id, const char *status,
                       int64_t since_ms, size_t offset, size_t limit, size_t *total)
{
    s_page_t pg = {.offset = offset, .limit = limit, .ids = json_array(), .since_ms = since_ms};
    json_t *want = status ? json_string(status) : NULL;
    void *enc = want ? zf_codec_encode(want, &pg.want_len) : NULL;
    pg.want = enc;
    zf_rkey_t prefix = zf_rkey(tenant, wf_id, "");
    zf_store_scan(s, ZF_CF_RUN_INDEX, prefix.p, prefix.len, true, s_page_visit, &pg);
    free(prefix.p);
    free(enc);
    json_decref(want);
    json_t *runs = json_array();
    size_t i;
    json_t *id;
    json_array_foreach (pg.ids, i, id) {
        json_t *run = zf_rec_run_get(s, tenant, json_string_value(id));
        if (run) json_array_append_new(runs, run);
    }
    json_decref(pg.ids);
    if (total) *total = pg.total;
    return runs;
}

typedef struct {
    zf_rec_active_fn *fn;  // user callback
    void *arg;             // its argument
} s_active_t;

static int
s_active_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val, (void)vlen;
    s_active_t *a = arg;
    const char *sep = memchr(key, '\0', klen);
    if (!sep) {
        zf_rk_corrupt(ZF_CF_ACTIVE, "key without tenant");
        return 0;
    }
    char *copy = strndup(key, klen);  // "tenant\0run_id" -> two C strings
    if (!copy) abort();
    size_t tlen = (size_t)(sep - (const char *)key);
    char *run_id = strndup((const char *)key + tlen + 1, klen - tlen - 1);
    if (!run_id) abort();
    a->fn(copy, run_id, a->arg);
    free(run_id);
    free(copy);
    return 0;
}

size_t
zf_rec_active_each(zf_store_t *s, zf_rec_active_fn *fn, void *arg)
{
    s_active_t a = {.fn = fn, .arg = arg};
    return zf_store_scan(s, ZF_CF_ACTIVE, NULL, 0, false, s_active_visit, &a);
}

/* ---- timers --------------------------------------------------------------- */

//  Due times before the epoch sort as 0 so the unsigned key order is time
//  order.
static zf_rkey_t
s_timer_key(int64_t due_ms, const char *tenant, const char *run_id)
{
    zf_rkey_t tail = zf_rkey(tenant, run_id, NULL);
    zf_rkey_t k = {.p = malloc(tail.len + 8), .len = tail.len + 8};
    if (!k.p) abort();
    zf_rk_be_put(k.p, due_ms < 0 ? 0 : (uint64_t)due_ms, 8);
    memcpy(k.p + 8, tail.p, tail.len);
    free(tail.p);
    return k;
}

void
zf_rec_timer_put(zf_batch_t *b, int64_t due_ms, const char *tenant, const char *run_id,
                 const char *kind)
{
    assert(b && tenant && run_id && kind);
    json_t *v = json_pack("{s:s}", "kind", kind);
    assert(v);
    zf_rk_put_json(b, ZF_CF_TIMERS, s_timer_key(due_ms, tenant, run_id), v);
    json_decref(v);
}

void
zf_rec_timer_del(zf_batch_t *b, int64_t due_ms, const char *tenant, const char *run_id)
{
    assert(b && tenant && run_id);
    zf_rk_del(b, ZF_CF_TIMERS, s_timer_key(due_ms, tenant, run_id));
}

typedef struct {
    int64_t now;          // due limit
    size_t max;           // timers to report at most
    size_t count;         // reported so far
    int64_t next;         // earliest due not reported
    zf_rec_timer_fn *fn;  // user callback
    void *arg;            // its argument
} s_due_t;

static void
s_due_fire(s_due_t *d, int64_t due, const void *key, size_t klen, const void *val, size_t vlen)
{
    const char *tail = (const char *)key + 8;
    size_t tlen = klen - 8;
    const char *sep = memchr(tail, '\0', tlen);
    json_t *v = zf_rk_decode(ZF_CF_TIMERS, val, vlen, JSON_OBJECT);
    const char *kind = zf_rk_field(v, "kind");
    if (!sep || !kind) {
        if (v) zf_rk_corrupt(ZF_CF_TIMERS, "timer without tenant or kind");
        json_decref(v);
        return;
    }
    char *tenant = strndup(tail, (size_t)(sep - tail));
    char *run_id = strndup(sep + 1, tlen - (size_t)(sep + 1 - tail));
    if (!tenant || !run_id) abort();
    d->count++;
    d->fn(due, tenant, run_id, kind, d->arg);
    free(tenant);
    free(run_id);
    json_decref(v);
}

static int
s_due_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    s_due_t *d = arg;
    if (klen < 8) {
        zf_rk_corrupt(ZF_CF_TIMERS, "short key");
        return 0;
    }
    uint64_t raw = zf_rk_be_get(key, 8);
    int64_t due = raw > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)raw;
    if (due > d->now || d->count >= d->max) {
        d->next = due;
        return 1;
    }
    s_due_fire(d, due, key, klen, val, vlen);
    return 0;
}

//  The timers CF is ordered by due time, so this is a forward scan from its
//  start that stops at the first timer not yet due.
size_t
zf_rec_timers_due(zf_store_t *s, int64_t now_ms, size_t max, zf_rec_timer_fn *fn, void *arg,
                  int64_t *next_due)
{
    s_due_t d = {.now = now_ms, .max = max, .next = INT64_MAX, .fn = fn, .arg = arg};
    zf_store_scan(s, ZF_CF_TIMERS, NULL, 0, false, s_due_visit, &d);
    if (next_due) *next_due = d.next;
    return d.count;
}

/* ---- API keys ------------------------------------------------------------- */

void
zf_rec_key_put(zf_batch_t *b, const unsigned char hash[32], const json_t *rec)
{
    assert(b && hash && json_is_object(rec));
    size_t len = 0;
    void *bytes = zf_codec_encode(rec, &len);
    zf_batch_put(b, ZF_CF_KEYS, hash, 32, bytes, len);
    free(bytes);
}

json_t *
zf_rec_key_get(zf_store_t *s, const unsigned char hash[32])
{
    size_t vlen = 0;
    void *val = zf_store_get(s, ZF_CF_KEYS, hash, 32, &vlen);
    if (!val) return NULL;
    json_t *v = zf_rk_decode(ZF_CF_KEYS, val, vlen, JSON_OBJECT);
    free(val);
    return v;
}

typedef struct {
    const char *tenant;   // filter, or NULL
    const char *key_id;   // key_find: id wanted, or NULL
    unsigned char *hash;  // key_find: where the hash goes
    json_t *items;        // key_list: result array; key_find: the match
} s_keys_t;

static int
s_keys_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    s_keys_t *k = arg;
    if (klen != 32) return 0;
    json_t *v = zf_rk_decode(ZF_CF_KEYS, val, vlen, JSON_OBJECT);
    if (!v) return 0;
    if (k->key_id) {
        const char *id = zf_rk_field(v, "id");
        if (id && strcmp(id, k->key_id) == 0) {
            memcpy(k->hash, key, 32);
            k->items = v;
            return 1;
        }
    } else if (!k->tenant ||
               (zf_rk_field(v, "tenant") && strcmp(zf_rk_field(v, "tenant"), k->tenant) == 0)) {
        char hex[65];
        for (size_t i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", ((const unsigned char *)key)[i]);
        json_object_set_new(v, "hash", json_string(hex));
        json_array_append(k->items, v);
    }
    json_decref(v);
    return 0;
}

json_t *
zf_rec_key_list(zf_store_t *s, const char *tenant)
{
    s_keys_t k = {.tenant = tenant, .items = json_array()};
    zf_store_scan(s, ZF_CF_KEYS, NULL, 0, false, s_keys_visit, &k);
    return k.items;
}

json_t *
zf_rec_key_find(zf_store_t *s, const char *key_id, unsigned char hash_out[32])
{
    assert(key_id && hash_out);
    s_keys_t k = {.key_id = key_id, .hash = hash_out};
    zf_store_scan(s, ZF_CF_KEYS, NULL, 0, false, s_keys_visit, &k);
    return k.items;
}

/* ---- meta ----------------------------------------------------------------- */

void
zf_rec_meta_put(zf_batch_t *b, const char *name, const json_t *v)
{
    assert(b && name && v);
    zf_rk_put_json(b, ZF_CF_META, zf_rkey(name, NULL, NULL), v);
}

//  Meta values may be of any type, so only the msgpack itself is checked.
json_t *
zf_rec_meta_get(zf_store_t *s, const char *name)
{
    zf_rkey_t k = zf_rkey(name, NULL, NULL);
    size_t vlen = 0;
    void *val = zf_store_get(s, ZF_CF_META, k.p, k.len, &vlen);
    free(k.p);
    if (!val) return NULL;
    const char *why = NULL;
    json_t *v = zf_codec_decode(val, vlen, NULL, &why);
    if (!v) zf_rk_corrupt(ZF_CF_META, why);
    free(val);
    return v;
}
