/*  actors/engine_keys.c — API keys (key.* on the admin socket, the key
    lookup behind every API request and auth.resolve), the security events
    of failed authentications and denied requests, and the test clock.

    Security events (contract in actors/keys.h). A revoked key presented
    over the zmq API (s_authenticate in engine_api.c) or over REST (the
    front end's auth.resolve, with the REST route it was for) is an
    auth.failed of the key's tenant; a request refused as forbidden to an
    authenticated tenant is an access.denied: by the engine's own check,
    or by the REST front end's role check, which tells the engine with a
    fire-and-forget auth.note (in-process front ends only; the broker
    refuses auth.* on the tcp API and the admin socket). Each is counted
    in memory under (tenant, key or user, action, origin, request: message
    type or REST route); the first one opens a window of
    ZF_SECURITY_WINDOW_MS (default 60 s) and when it ends the window becomes
    one stored event with its count. Windows are written by
    zf_eng_sec_tick (per request and from the engine's tick), early for one
    tenant by zf_eng_sec_sync (evidence.collect), and at shutdown. One
    security commit is in flight at a time, so the per-tenant event counts
    kept here and the retention scans both see acknowledged data only.
    Unknown keys have no tenant: they are only counted, and logged once
    per window.

    The state is file-static: there is one engine per process (zflow
    serve) and it is touched on the engine thread only. It belongs in
    engine_t, whose header has another owner.
*/
#include "actors/engine_int.h"
#include "actors/keys.h"
#include "broker/errors.h"
#include "broker/ids.h"

#include <stdlib.h>
#include <string.h>

#define S_KEY_CACHE_MS 60000  // positive key lookups are cached this long

#define S_WINDOW_MS   60000LL    // aggregation window by default
#define S_WINDOW_MIN  10LL       // ZF_SECURITY_WINDOW_MS bounds
#define S_WINDOW_MAX  3600000LL  //
#define S_KEEP_MAX    10000      // events a tenant keeps at most (and 90 days)
#define S_AGG_MAX     10000      // open windows; beyond, dropped (counted)
#define S_FLUSH_MAX   1000       // events written per commit at most
#define S_PRUNE_EXTRA 64         // deletions per tenant and commit beyond its new events
#define S_COUNTS_MAX  100000     // tenants whose event count is cached
#define S_REQUEST_MAX 127        // bytes of a noted request ("DELETE /api/v2/workflows/:id")

/* ---- lookup ---------------------------------------------------------------------- */

//  Key -> {tenant, role, id}, through a short positive cache. NULL if the
//  key is unknown or revoked; then *revoked (if asked) gets the stored
//  record of a revoked key (new reference), else stays NULL.
static json_t *
s_key_lookup(engine_t *e, const char *key, json_t **revoked)
{
    unsigned char hash[32];
    char hex[65];
    zf_keys_hash(key, hash);
    zf_hex(hash, 32, hex);
    json_t *hit = zhashx_lookup(e->key_cache, hex);
    int64_t now = zf_now_ms();
    if (hit && now - json_integer_value(json_object_get(hit, "at")) < S_KEY_CACHE_MS)
        return json_incref(hit);
    json_t *rec = zf_rec_key_get(e->store, hash);
    if (!rec || json_is_true(json_object_get(rec, "revoked"))) {
        if (rec && revoked)
            *revoked = rec;
        else
            json_decref(rec);
        zhashx_delete(e->key_cache, hex);
        return NULL;
    }
    json_object_set_new(rec, "at", json_integer(now));
    zhashx_update(e->key_cache, hex, json_incref(rec));
    return rec;
}

json_t *
zf_eng_key_resolve(engine_t *e, const char *key)
{
    return s_key_lookup(e, key, NULL);
}

static void s_note(engine_t *e, const char *tenant, const char *actor, const char *action,
                   const char *origin, const char *request, const char *role, const char *required);
static void s_note_unknown(engine_t *e);

json_t *
zf_eng_key_auth(engine_t *e, const char *key, const char *origin, const char *request)
{
    json_t *revoked = NULL;
    json_t *k = s_key_lookup(e, key, &revoked);
    if (k) return k;
    const char *tenant = zf_eng_str(revoked, "tenant"), *id = zf_eng_str(revoked, "id");
    if (tenant && tenant[0] && id)
        s_note(e, tenant, id, "auth.failed", origin, request, zf_eng_str(revoked, "role"), NULL);
    else
        s_note_unknown(e);
    json_decref(revoked);
    return NULL;
}

static const char *s_note_text(const json_t *body, const char *field, size_t max);

//  auth.resolve {key, request?}: request names the REST route ("GET
//  /api/v2/workflows/:id"), kept with an auth.failed of a revoked key.
int
zf_eng_auth_resolve(engine_t *e, zf_msg_t *req)
{
    const char *key = zf_eng_str(req->body, "key");
    const char *request = s_note_text(req->body, "request", S_REQUEST_MAX);
    json_t *k = key ? zf_eng_key_auth(e, key, "http", request) : NULL;
    if (!k) return zf_eng_fail(e, req, ZF_EUNAUTH, "invalid or revoked API key");
    zf_eng_reply(e, req,
                 json_pack("{s:O, s:O, s:O}", "tenant", json_object_get(k, "tenant"), "role",
                           json_object_get(k, "role"), "user", json_object_get(k, "id")));
    json_decref(k);
    return 0;
}

/* ---- API keys (admin socket only) ---------------------------------------------- */

int
zf_eng_key_create(engine_t *e, zf_msg_t *req)
{
    char key[ZF_KEY_LEN + 1], why[160];
    unsigned char hash[32];
    json_t *rec = zf_keys_new(zf_eng_str(req->body, "tenant"), zf_eng_str(req->body, "role"),
                              json_object_get(req->body, "name"), key, hash, why, sizeof why);
    if (!rec) return zf_eng_fail(e, req, ZF_EINVAL, "%s", why);
    zf_batch_t *b = zf_batch_new();
    zf_rec_key_put(b, hash, rec);
    cont_t *c = zf_eng_cont(zf_eng_reply_data, req);
    c->data =
        json_pack("{s:s, s:O, s:O, s:O, s:O}", "key", key, "id", json_object_get(rec, "id"),
                  "tenant", json_object_get(rec, "tenant"), "role", json_object_get(rec, "role"),
                  "created_at", json_object_get(rec, "created_at"));
    json_decref(rec);
    zf_eng_commit(e, &b, c);
    return 1;
}

int
zf_eng_key_list(engine_t *e, zf_msg_t *req)
{
    json_t *t = json_object_get(req->body, "tenant");
    if (t && !json_is_string(t)) return zf_eng_fail(e, req, ZF_EINVAL, "tenant: must be a string");
    json_t *keys = zf_rec_key_list(e->store, json_string_value(t));
    size_t i;
    json_t *k;
    json_array_foreach (keys, i, k)
        json_object_del(k, "hash");
    zf_eng_reply(e, req, json_pack("{s:o}", "keys", keys ? keys : json_array()));
    return 0;
}

int
zf_eng_key_revoke(engine_t *e, zf_msg_t *req)
{
    const char *id = zf_eng_str(req->body, "id");
    unsigned char hash[32];
    json_t *rec = id ? zf_rec_key_find(e->store, id, hash) : NULL;
    if (!rec) return zf_eng_fail(e, req, ZF_ENOTFOUND, "key not found");
    zf_keys_mark_revoked(rec, zf_now_ms());  // a second revoke keeps the first time
    zf_batch_t *b = zf_batch_new();
    zf_rec_key_put(b, hash, rec);
    zhashx_purge(e->key_cache);  // no cached grant outlives a revocation
    cont_t *c = zf_eng_cont(zf_eng_reply_data, req);
    c->data = json_pack("{s:s, s:b, s:O?}", "id", id, "revoked", 1, "revoked_at",
                        json_object_get(rec, "revoked_at"));
    json_decref(rec);
    zf_eng_commit(e, &b, c);
    return 1;
}

/* ---- security events: windows in memory ---------------------------------------- */

//  One open window of (tenant, actor, action, origin, request).
typedef struct {
    char tenant[72];    // the key's tenant
    char actor[72];     // key id (or the user of a JWT identity)
    char action[16];    // auth.failed | access.denied
    char origin[12];    // zmq | http | internal
    char request[128];  // message type or REST route ("" = unknown to the engine)
    char role[16];      // the key's role ("" = none)
    char required[16];  // role the request needed ("" = none would do)
    int64_t count;      // requests in the window
    int64_t first_at;   // Unix ms of the first
    int64_t last_at;    // Unix ms of the last
    int64_t due;        // zclock_mono ms when the window ends (0 = write now)
} s_agg_t;

//  A request continued once the events are durable (zf_eng_sec_sync).
typedef struct {
    zf_msg_t *req;      // owned until fn runs
    zf_eng_sec_fn *fn;  // what to do then
} s_waiter_t;

struct zf_eng_sec_t {
    zhashx_t *aggs;          // "tenant\x1f..." -> s_agg_t* (owned)
    zhashx_t *counts;        // tenant -> int64_t* events stored (learnt at its first write)
    zlist_t *waiting;        // s_waiter_t* for the next security commit
    zlist_t *flushing;       // s_waiter_t* for the one in flight
    bool inflight;           // a security commit is in flight
    int64_t window_ms;       // ZF_SECURITY_WINDOW_MS
    size_t keep_max;         // ZF_SECURITY_MAX_EVENTS (at most S_KEEP_MAX)
    int64_t next_due;        // earliest window end, zclock_mono ms (INT64_MAX none)
    uint64_t unknown;        // unknown keys presented since the last log line
    uint64_t unknown_total;  // ... since start
    uint64_t dropped;        // notes refused at S_AGG_MAX since the last log line
    uint64_t bad_notes;      // malformed auth.note messages since the last log line
    int64_t log_due;         // zclock_mono ms of the next log line (0 = nothing to log)
};
typedef struct zf_eng_sec_t s_sec_t;

//  An integer environment setting in [lo, hi], else dflt (with a warning).
static int64_t
s_env_int(const char *name, int64_t dflt, int64_t lo, int64_t hi)
{
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    if (*end || n < lo || n > hi) {
        zsys_warning("engine: %s=%s ignored: must be %lld..%lld", name, v, (long long)lo,
                     (long long)hi);
        return dflt;
    }
    return n;
}

static void
s_free_item(void **item)
{
    free(*item);
    *item = NULL;
}

static s_sec_t *
s_sec_get(engine_t *e)
{
    if (e->sec) return e->sec;
    s_sec_t *s = e->sec = calloc(1, sizeof *e->sec);
    if (!s) abort();
    s->aggs = zhashx_new();
    zhashx_set_destructor(s->aggs, s_free_item);
    s->counts = zhashx_new();
    zhashx_set_destructor(s->counts, s_free_item);
    s->waiting = zlist_new();
    s->flushing = zlist_new();
    s->window_ms = s_env_int("ZF_SECURITY_WINDOW_MS", S_WINDOW_MS, S_WINDOW_MIN, S_WINDOW_MAX);
    s->keep_max = (size_t)s_env_int("ZF_SECURITY_MAX_EVENTS", S_KEEP_MAX, 1, S_KEEP_MAX);
    s->next_due = INT64_MAX;
    return s;
}

//  Arms the log line of unknown keys and dropped notes.
static void
s_log_arm(s_sec_t *s)
{
    if (!s->log_due) s->log_due = zclock_mono() + s->window_ms;
}

static void
s_note_unknown(engine_t *e)
{
    s_sec_t *s = s_sec_get(e);
    s->unknown++;
    s->unknown_total++;
    s_log_arm(s);
}

//  Counts one request in its window, opening the window if needed.
static void
s_note(engine_t *e, const char *tenant, const char *actor, const char *action, const char *origin,
       const char *request, const char *role, const char *required)
{
    s_sec_t *s = s_sec_get(e);
    char k[400];
    snprintf(k, sizeof k, "%s\x1f%s\x1f%s\x1f%s\x1f%s", tenant, actor, action, origin,
             request ? request : "");
    s_agg_t *a = zhashx_lookup(s->aggs, k);
    int64_t now = zf_now_ms();
    if (!a) {
        if (zhashx_size(s->aggs) >= S_AGG_MAX) {
            s->dropped++;
            s_log_arm(s);
            return;
        }
        a = calloc(1, sizeof *a);
        if (!a) abort();
        snprintf(a->tenant, sizeof a->tenant, "%s", tenant);
        snprintf(a->actor, sizeof a->actor, "%s", actor);
        snprintf(a->action, sizeof a->action, "%s", action);
        snprintf(a->origin, sizeof a->origin, "%s", origin);
        snprintf(a->request, sizeof a->request, "%s", request ? request : "");
        snprintf(a->role, sizeof a->role, "%s", role ? role : "");
        snprintf(a->required, sizeof a->required, "%s", required ? required : "");
        a->first_at = now;
        a->due = zclock_mono() + s->window_ms;
        if (a->due < s->next_due) s->next_due = a->due;
        zhashx_insert(s->aggs, k, a);
    }
    a->count++;
    a->last_at = now;
}

void
zf_eng_sec_denied(engine_t *e, const zf_msg_t *req, int level)
{
    if (!req->tenant[0] || !req->user[0]) return;  // no identity: nothing to attribute
    const char *origin = strcmp(req->origin, "api") == 0 ? "zmq" : "internal";
    (void)e;
    s_note(e, req->tenant, req->user, "access.denied", origin, req->type, req->role,
           zf_keys_role_name(level));
}

/* ---- security events: notes of the front ends ---------------------------------- */

//  Declared here until actors/engine_int.h declares it beside
//  zf_eng_sec_denied (that header has another owner).

//  body[field] when it is a string of 1..max printable ASCII bytes, else
//  NULL. Front ends are trusted, but what they relay came from clients.
static const char *
s_note_text(const json_t *body, const char *field, size_t max)
{
    const char *v = json_string_value(json_object_get(body, field));
    size_t n = v ? strlen(v) : 0;
    if (n == 0 || n > max) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < 0x20 || v[i] > 0x7e) return NULL;
    }
    return v;
}

//  auth.note {action: "access.denied", tenant, key_id | user, role,
//  required_role, request, origin}: a front end refused a request by
//  itself (the REST role check) and tells the engine, fire-and-forget:
//  never a reply, so the sender waits for nothing. Counted in the same
//  windows as the engine's own refusals. Malformed notes are counted in
//  the log line and dropped.
int
zf_eng_sec_note(engine_t *e, zf_msg_t *req)
{
    const json_t *b = req->body;
    const char *action = zf_eng_str(b, "action");
    const char *tenant = s_note_text(b, "tenant", sizeof((s_agg_t *)0)->tenant - 1);
    const char *actor = s_note_text(b, "key_id", sizeof((s_agg_t *)0)->actor - 1);
    if (!actor) actor = s_note_text(b, "user", sizeof((s_agg_t *)0)->actor - 1);
    const char *role = zf_eng_str(b, "role"), *required = zf_eng_str(b, "required_role");
    const char *origin = s_note_text(b, "origin", sizeof((s_agg_t *)0)->origin - 1);
    if (!action || strcmp(action, "access.denied") != 0 || !tenant || !actor ||
        !zf_keys_role_level(role) || (required && !zf_keys_role_level(required))) {
        s_sec_t *s = s_sec_get(e);
        s->bad_notes++;
        s_log_arm(s);
        return 0;
    }
    s_note(e, tenant, actor, action, origin ? origin : "http",
           s_note_text(b, "request", S_REQUEST_MAX), role, required);
    return 0;
}

/* ---- security events: writing ------------------------------------------------------ */

//  The stored event of a window: never a key or its hash (there is none
//  here to leak). at = the last request, so `since` keeps every window
//  with a request after it.
static json_t *
s_event(const s_agg_t *a, int64_t window_ms)
{
    char id[ZF_UUID_LEN + 1];
    zf_uuid7(id);
    bool is_key = strncmp(a->actor, "key_", 4) == 0;
    json_t *ev = json_pack("{s:s, s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "id", id, "at",
                           (json_int_t)a->last_at, "action", a->action, is_key ? "key_id" : "user",
                           a->actor, "origin", a->origin, "count", (json_int_t)a->count, "first_at",
                           (json_int_t)a->first_at, "last_at", (json_int_t)a->last_at, "window_ms",
                           (json_int_t)window_ms);
    if (a->role[0]) json_object_set_new(ev, "role", json_string(a->role));
    if (a->required[0]) json_object_set_new(ev, "required_role", json_string(a->required));
    if (a->request[0]) json_object_set_new(ev, "request", json_string(a->request));
    return ev;
}

//  Events the tenant has stored: counted once, then kept up to date at
//  each acknowledged security commit.
static int64_t *
s_count(engine_t *e, s_sec_t *s, const char *tenant)
{
    int64_t *n = zhashx_lookup(s->counts, tenant);
    if (n) return n;
    if (zhashx_size(s->counts) >= S_COUNTS_MAX) zhashx_purge(s->counts);
    n = malloc(sizeof *n);
    if (!n) abort();
    *n = (int64_t)zf_rec_sec_count(e->store, tenant);
    zhashx_insert(s->counts, tenant, n);
    return n;
}

//  Stages each tenant's retention next to its new events (added: tenant
//  -> events added). Returns tenant -> net change of its count.
static json_t *
s_prune(engine_t *e, s_sec_t *s, zf_batch_t *b, const json_t *added)
{
    json_t *delta = json_object(), *v;
    const char *tenant;
    int64_t before = zf_now_ms() - ZF_SEC_KEEP_MS;
    json_object_foreach ((json_t *)added, tenant, v) {
        int64_t n = json_integer_value(v), have = *s_count(e, s, tenant);
        int64_t over = have + n - (int64_t)s->keep_max;
        size_t del = zf_rec_sec_prune(e->store, b, tenant, before, over > 0 ? (size_t)over : 0,
                                      (size_t)n + S_PRUNE_EXTRA);
        json_object_set_new(delta, tenant, json_integer(n - (int64_t)del));
    }
    return delta;
}

//  Continues the waiters of list (emptied).
static void
s_run_waiters(engine_t *e, zlist_t *list)
{
    s_waiter_t *w;
    while ((w = zlist_pop(list))) {
        zf_msg_t *req = w->req;
        zf_eng_sec_fn *fn = w->fn;
        free(w);
        if (!fn(e, req)) zf_msg_destroy(&req);
    }
}

static void s_flush(engine_t *e, bool all);

//  A security commit is durable (or failed: its windows are lost, and the
//  counts of its tenants are learnt again from the store).
static void
s_flushed(engine_t *e, cont_t *c, int rc)
{
    s_sec_t *s = e->sec;
    if (!s) return;  // stopped meanwhile
    s->inflight = false;
    const char *tenant;
    json_t *v;
    json_object_foreach (c->data, tenant, v) {
        int64_t *n = zhashx_lookup(s->counts, tenant);
        if (rc || !n)
            zhashx_delete(s->counts, tenant);
        else
            *n = *n + json_integer_value(v) > 0 ? *n + json_integer_value(v) : 0;
    }
    zlist_t *done = s->flushing;
    s->flushing = zlist_new();
    s_run_waiters(e, done);
    zlist_destroy(&done);
    if (zlist_size(s->waiting) > 0 || s->next_due <= zclock_mono()) s_flush(e, false);
}

//  Moves the due windows (all: every one) out of memory, at most
//  S_FLUSH_MAX; returns tenant -> events staged into b.
static json_t *
s_take_due(s_sec_t *s, zf_batch_t *b, bool all)
{
    int64_t mono = zclock_mono();
    zlist_t *keys = zlist_new();
    zlist_autofree(keys);
    s->next_due = INT64_MAX;
    for (s_agg_t *a = zhashx_first(s->aggs); a; a = zhashx_next(s->aggs)) {
        if ((all || a->due <= mono) && zlist_size(keys) < S_FLUSH_MAX)
            zlist_append(keys, (void *)zhashx_cursor(s->aggs));
        else if (a->due < s->next_due)
            s->next_due = a->due;
    }
    json_t *added = json_object();
    for (char *k = zlist_first(keys); k; k = zlist_next(keys)) {
        s_agg_t *a = zhashx_lookup(s->aggs, k);
        json_t *ev = s_event(a, s->window_ms);
        zf_rec_sec_put(b, a->tenant, ev);
        json_decref(ev);
        json_int_t n = json_integer_value(json_object_get(added, a->tenant));
        json_object_set_new(added, a->tenant, json_integer(n + 1));
        zhashx_delete(s->aggs, k);
    }
    zlist_destroy(&keys);
    return added;
}

//  Writes the due windows with their tenants' retention in one commit.
//  Waiters registered so far are continued after it (at once if there
//  is nothing to write). One security commit at a time.
static void
s_flush(engine_t *e, bool all)
{
    s_sec_t *s = e->sec;
    if (!s || s->inflight) return;
    zf_batch_t *b = zf_batch_new();
    json_t *added = s_take_due(s, b, all);
    json_t *delta = s_prune(e, s, b, added);
    json_decref(added);
    if (zf_batch_count(b) == 0) {
        zf_batch_destroy(&b);
        json_decref(delta);
        s_run_waiters(e, s->waiting);
        return;
    }
    zlist_t *t = s->flushing;  // empty: nothing is in flight
    s->flushing = s->waiting;
    s->waiting = t;
    s->inflight = true;
    cont_t *c = zf_eng_cont(s_flushed, NULL);
    c->data = delta;
    zf_eng_commit(e, &b, c);
}

//  One log line per window for what cannot be stored per tenant.
static void
s_log(s_sec_t *s)
{
    if (s->unknown)
        zsys_warning("engine: security: %llu request(s) with an unknown API key in the last "
                     "%lld ms (%llu since start; no tenant, so no stored event)",
                     (unsigned long long)s->unknown, (long long)s->window_ms,
                     (unsigned long long)s->unknown_total);
    if (s->dropped)
        zsys_warning("engine: security: %llu event(s) not recorded: %d windows open",
                     (unsigned long long)s->dropped, S_AGG_MAX);
    if (s->bad_notes)
        zsys_warning("engine: security: %llu malformed auth.note message(s) ignored",
                     (unsigned long long)s->bad_notes);
    s->unknown = s->dropped = s->bad_notes = 0;
    s->log_due = 0;
}

void
zf_eng_sec_tick(engine_t *e)
{
    s_sec_t *s = e->sec;
    if (!s) return;
    int64_t mono = zclock_mono();
    if (s->next_due <= mono) s_flush(e, false);
    if (s->log_due && s->log_due <= mono) s_log(s);
}

int
zf_eng_sec_sync(engine_t *e, zf_msg_t *req, zf_eng_sec_fn *fn)
{
    s_sec_t *s = e->sec;
    bool pending = false;
    for (s_agg_t *a = s ? zhashx_first(s->aggs) : NULL; a; a = zhashx_next(s->aggs)) {
        if (strcmp(a->tenant, req->tenant) == 0) {
            a->due = 0;  // the window closes now
            pending = true;
        }
    }
    if (!s || (!pending && !s->inflight)) return fn(e, req);
    s_waiter_t *w = malloc(sizeof *w);
    if (!w) abort();
    *w = (s_waiter_t){.req = req, .fn = fn};
    zlist_append(s->waiting, w);
    if (pending) s->next_due = 0;
    s_flush(e, false);  // or after the commit in flight
    return 1;
}

void
zf_eng_sec_stop(engine_t *e)
{
    s_sec_t *s = e->sec;
    if (!s) return;
    s->inflight = false;  // best effort: counts no longer matter
    s_flush(e, true);
    if (s->unknown || s->dropped || s->bad_notes) s_log(s);
    e->sec = NULL;
    s_waiter_t *w;
    for (int i = 0; i < 2; i++) {
        zlist_t *l = i ? s->flushing : s->waiting;
        while ((w = zlist_pop(l))) {
            zf_msg_destroy(&w->req);
            free(w);
        }
        zlist_destroy(&l);
    }
    zhashx_destroy(&s->aggs);
    zhashx_destroy(&s->counts);
    free(s);
}

/* ---- test clock ------------------------------------------------------------------ */

//  clock.set {now_ms}: moves the simulated clock (zflow serve --test-clock
//  only), so tests can live through days of schedules in seconds.
int
zf_eng_clock_set(engine_t *e, zf_msg_t *req)
{
    json_t *now = json_object_get(req->body, "now_ms");
    if (!e->test_clock)
        return zf_eng_fail(e, req, ZF_EFORBIDDEN,
                           "the clock is real: start zflow with --test-clock");
    if (!json_is_integer(now) || json_integer_value(now) <= 0)
        return zf_eng_fail(e, req, ZF_EINVAL, "now_ms: required Unix time in ms");
    zf_clock_set(json_integer_value(now));
    e->next_timer = 0;                                        // rescan the timers at the new time
    zf_eng_reply(e, req, json_pack("{s:O}", "now_ms", now));  // the time set, not a ms later
    return 0;
}
