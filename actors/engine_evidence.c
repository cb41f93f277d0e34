/*  actors/engine_evidence.c — evidence.collect: compliance evidence from
    the engine's own stored data (the evidence_snapshot step's AUDIT_LOGS,
    SECURITY_EVENTS and ORG_MEMBERS sources).

    body: {"source", "limit"? (1..1000, default 100), "since"? (Unix ms or
    ISO-8601)} → {"source", "rows": [...], "truncated"}. Reads only
    durable data of the request's tenant, newest first; every scan is
    bounded (S_SCAN_MAX workflows, `limit` runs); "truncated" says a bound
    stopped a scan while more data remained. Rows never carry an API key or its hash. Times are Unix ms.

    ORG_MEMBERS — the tenant's API keys (its members as far as zflow knows
    them), newest first: {"id", "name", "role", "created_at", "revoked",
    "revoked_at"?}; since keeps created_at >= since.

    AUDIT_LOGS and SECURITY_EVENTS rows are entries
      {"id", "at", "action", "actor", "resource": {"type", "id", "name"},
       "details": {...}}
    sorted by "at", newest first; since keeps at >= since (entries whose
    time is unknown, at = null, only without since).
    AUDIT_LOGS, derived from what is stored (zflow keeps no separate log):
      * workflow.created — at created_at, actor created_by;
      * workflow.updated — at updated_at when it is after created_at: the
        latest change only (earlier versions are not kept);
      * run.<status> — one per run, at its created_at, action from its
        current status (run.completed, run.failed, run.running, ...),
        actor the run's created_by, details {workflow_id, status, trigger,
        started_at, finished_at, error}. The newest `limit` runs created at
        or after since are read (runs are keyed by UUIDv7, newest first).
    SECURITY_EVENTS:
      * api_key.created — at the key's created_at, details {role};
      * api_key.revoked — at the key's revoked_at (null for keys revoked
        before zflow stored that time), details {role};
      * workflow.disabled — a workflow the per-workflow circuit breaker
        turned off (disabled_reason set), at its updated_at (the trip time
        unless the workflow changed since), details {reason,
        consecutive_failures};
      * auth.failed — requests that presented a revoked API key of the
        tenant, and access.denied — requests of the tenant refused as
        forbidden (role too low, or a message its endpoint does not
        allow), both stored by engine_keys.c as one event per key, origin
        and request type per window (ZF_SECURITY_WINDOW_MS, default 60 s):
        at the window's last request, actor the key id, resource the key
        {type "api_key", id, name} (a JWT user: {type "user", id, null}),
        details {key_id | user, role?, required_role?, request? (message
        type, or the REST route "METHOD /prefix/:pattern"), origin (zmq | http | internal), count, first_at, last_at,
        window_ms}. The tenant's open windows are written before the
        read, so every request noted so far is counted. Kept: the newest
        10,000 events of a tenant, none older than 90 days; the newest
        `limit` are read. Unknown keys have no tenant and are not evidence
        of any; REST requests refused by the front end's own role check
        never reach the engine and are not recorded either.
*/
#include "actors/engine_int.h"
#include "actors/keys.h"
#include "broker/codec.h"
#include "broker/errors.h"
#include "broker/ids.h"
#include "broker/isotime.h"

#include <stdlib.h>
#include <string.h>

#define S_LIMIT_DEFAULT 100   // rows by default
#define S_LIMIT_MAX     1000  // rows at most
#define S_SCAN_MAX      5000  // workflows read at most per request

/* ---- bounded scans ---------------------------------------------------------------- */

typedef struct {
    json_t *items;   // decoded objects, newest first
    size_t max;      // stop after this many
    int64_t since;   // runs: stop at the first created before this (0 = none)
    bool truncated;  // stopped by max
} s_scan_t;

static int
s_scan_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)key, (void)klen;
    s_scan_t *s = arg;
    json_t *v = zf_codec_decode(val, vlen, NULL, NULL);
    if (!json_is_object(v)) {
        json_decref(v);
        return 0;
    }
    if (s->since > 0 && json_integer_value(json_object_get(v, "created_at")) < s->since) {
        json_decref(v);
        return 1;
    }
    if (json_array_size(s->items) >= s->max) {
        s->truncated = true;
        json_decref(v);
        return 1;
    }
    json_array_append_new(s->items, v);
    return 0;
}

//  Newest-first objects of the tenant in cf (keys tenant\0<UUIDv7>).
static json_t *
s_scan(engine_t *e, zf_cf_t cf, const char *tenant, size_t max, int64_t since, bool *truncated)
{
    size_t tlen = strlen(tenant);
    char *prefix = malloc(tlen + 1);
    if (!prefix) abort();
    memcpy(prefix, tenant, tlen + 1);  // tenant and its \0 separator
    s_scan_t s = {.items = json_array(), .max = max, .since = since};
    zf_store_scan(e->store, cf, prefix, tlen + 1, true, s_scan_visit, &s);
    free(prefix);
    *truncated = *truncated || s.truncated;
    return s.items;
}

/* ---- entries ------------------------------------------------------------------------ */

static json_t *
s_entry(const char *id, const json_t *at, const char *action, const json_t *actor,
        const char *rtype, const json_t *rid, const json_t *rname, json_t *details)
{
    return json_pack("{s:s, s:O?, s:s, s:O?, s:{s:s, s:O?, s:O?}, s:o}", "id", id, "at", at,
                     "action", action, "actor", actor, "resource", "type", rtype, "id", rid, "name",
                     rname, "details", details);
}

//  Appends e when its time passes since (at null passes only without since).
static void
s_add(json_t *rows, json_t *entry, int64_t since)
{
    json_t *at = json_object_get(entry, "at");
    if (since > 0 && (!json_is_integer(at) || json_integer_value(at) < since))
        json_decref(entry);
    else
        json_array_append_new(rows, entry);
}

//  Newest first; entries without a time last; ties by id (stable output).
static int
s_entry_cmp(const void *a, const void *b)
{
    const json_t *x = *(const json_t *const *)a, *y = *(const json_t *const *)b;
    const json_t *ax = json_object_get(x, "at"), *ay = json_object_get(y, "at");
    if (json_is_integer(ax) != json_is_integer(ay)) return json_is_integer(ax) ? -1 : 1;
    json_int_t tx = json_integer_value(ax), ty = json_integer_value(ay);
    if (tx != ty) return tx > ty ? -1 : 1;
    return -strcmp(zf_eng_str(x, "id"), zf_eng_str(y, "id"));
}

//  Sorts rows with cmp and keeps the first limit (new array; rows taken).
static json_t *
s_sorted(json_t *rows, int (*cmp)(const void *, const void *), size_t limit)
{
    size_t n = json_array_size(rows);
    json_t **v = malloc((n ? n : 1) * sizeof *v);
    if (!v) abort();
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(rows, i);
    qsort(v, n, sizeof *v, cmp);
    json_t *out = json_array();
    for (size_t i = 0; i < n && i < limit; i++)
        json_array_append(out, v[i]);
    free(v);
    json_decref(rows);
    return out;
}

/* ---- sources -------------------------------------------------------------------------- */

static json_t *
s_keys(engine_t *e, const char *tenant)
{
    json_t *keys = zf_rec_key_list(e->store, tenant);
    return keys ? keys : json_array();
}

static int
s_created_cmp(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(const json_t *const *)a, "created_at"));
    json_int_t y = json_integer_value(json_object_get(*(const json_t *const *)b, "created_at"));
    return x == y ? 0 : x > y ? -1 : 1;
}

//  ORG_MEMBERS: key metadata, whitelisted field by field (never key or hash).
static json_t *
s_members(engine_t *e, const char *tenant, size_t limit, int64_t since)
{
    json_t *keys = s_keys(e, tenant), *rows = json_array(), *k;
    size_t i;
    json_array_foreach (keys, i, k) {
        json_t *created = json_object_get(k, "created_at");
        if (since > 0 && json_integer_value(created) < since) continue;
        json_t *row =
            json_pack("{s:O?, s:O?, s:O?, s:O?, s:b}", "id", json_object_get(k, "id"), "name",
                      json_object_get(k, "name"), "role", json_object_get(k, "role"), "created_at",
                      created, "revoked", json_is_true(json_object_get(k, "revoked")));
        json_t *rat = json_object_get(k, "revoked_at");
        if (json_is_integer(rat)) json_object_set(row, "revoked_at", rat);
        json_array_append_new(rows, row);
    }
    json_decref(keys);
    return s_sorted(rows, s_created_cmp, limit);
}

static void
s_key_events(const json_t *keys, json_t *rows, int64_t since)
{
    json_t *k;
    size_t i;
    char id[160];
    json_array_foreach (keys, i, k) {
        const char *kid = zf_eng_str(k, "id");
        if (!kid) continue;
        json_t *rid = json_object_get(k, "id"), *name = json_object_get(k, "name");
        json_t *role = json_object_get(k, "role");
        snprintf(id, sizeof id, "api_key.created:%s", kid);
        s_add(rows,
              s_entry(id, json_object_get(k, "created_at"), "api_key.created", NULL, "api_key", rid,
                      name, json_pack("{s:O?}", "role", role)),
              since);
        if (!json_is_true(json_object_get(k, "revoked"))) continue;
        snprintf(id, sizeof id, "api_key.revoked:%s", kid);
        s_add(rows,
              s_entry(id, json_object_get(k, "revoked_at"), "api_key.revoked", NULL, "api_key", rid,
                      name, json_pack("{s:O?}", "role", role)),
              since);
    }
}

//  The row of a stored auth.failed / access.denied event (fields
//  whitelisted: the store has no key or hash, and this keeps it so).
static json_t *
s_sec_row(const json_t *ev, const json_t *names)
{
    const char *kid = zf_eng_str(ev, "key_id");
    json_t *actor = json_object_get(ev, kid ? "key_id" : "user");
    json_t *details = json_object();
    static const char *const fields[] = {"key_id",  "user",      "role",  "required_role",
                                         "request", "origin",    "count", "first_at",
                                         "last_at", "window_ms", NULL};
    for (int i = 0; fields[i]; i++) {
        json_t *v = json_object_get(ev, fields[i]);
        if (v) json_object_set(details, fields[i], v);
    }
    return s_entry(zf_eng_str(ev, "id") ? zf_eng_str(ev, "id") : "", json_object_get(ev, "at"),
                   zf_eng_str(ev, "action") ? zf_eng_str(ev, "action") : "unknown", actor,
                   kid ? "api_key" : "user", actor, kid ? json_object_get(names, kid) : NULL,
                   details);
}

//  Stored security events: the newest `limit` at or after since (and
//  within the retention, should a prune still be due).
static void
s_sec_events(engine_t *e, const char *tenant, const json_t *keys, json_t *rows, size_t limit,
             int64_t since, bool *truncated)
{
    json_t *names = json_object(), *k;
    size_t i;
    json_array_foreach (keys, i, k) {
        json_t *name = json_object_get(k, "name");
        if (zf_eng_str(k, "id") && json_is_string(name))
            json_object_set(names, zf_eng_str(k, "id"), name);
    }
    int64_t oldest = zf_now_ms() - ZF_SEC_KEEP_MS;
    bool more = false;
    json_t *evs = zf_rec_sec_list(e->store, tenant, since > oldest ? since : oldest, limit, &more);
    json_array_foreach (evs, i, k)
        s_add(rows, s_sec_row(k, names), since);
    *truncated = *truncated || more;
    json_decref(evs);
    json_decref(names);
}

//  SECURITY_EVENTS: key lifecycle, circuit-breaker trips, failed
//  authentications and denied requests.
static json_t *
s_security(engine_t *e, const char *tenant, size_t limit, int64_t since, bool *truncated)
{
    json_t *rows = json_array(), *wf, *keys = s_keys(e, tenant);
    s_key_events(keys, rows, since);
    s_sec_events(e, tenant, keys, rows, limit, since, truncated);
    json_decref(keys);
    json_t *wfs = s_scan(e, ZF_CF_WORKFLOWS, tenant, S_SCAN_MAX, 0, truncated);
    size_t i;
    char id[160];
    json_array_foreach (wfs, i, wf) {
        json_t *reason = json_object_get(wf, "disabled_reason");
        if (!json_is_string(reason) || !zf_eng_str(wf, "id")) continue;
        snprintf(id, sizeof id, "workflow.disabled:%s", zf_eng_str(wf, "id"));
        s_add(rows,
              s_entry(id, json_object_get(wf, "updated_at"), "workflow.disabled", NULL, "workflow",
                      json_object_get(wf, "id"), json_object_get(wf, "name"),
                      json_pack("{s:O, s:O?}", "reason", reason, "consecutive_failures",
                                json_object_get(wf, "consecutive_failures"))),
              since);
    }
    json_decref(wfs);
    return s_sorted(rows, s_entry_cmp, limit);
}

static void
s_wf_entries(json_t *rows, const json_t *wf, int64_t since)
{
    const char *wid = zf_eng_str(wf, "id");
    json_t *created = json_object_get(wf, "created_at"),
           *updated = json_object_get(wf, "updated_at");
    json_t *rid = json_object_get(wf, "id"), *name = json_object_get(wf, "name");
    json_t *actor = json_object_get(wf, "created_by");
    char id[160];
    snprintf(id, sizeof id, "workflow.created:%s", wid);
    s_add(rows,
          s_entry(id, created, "workflow.created", actor, "workflow", rid, name,
                  json_pack("{s:O?, s:O?}", "status", json_object_get(wf, "status"), "version",
                            json_object_get(wf, "version"))),
          since);
    if (json_integer_value(updated) <= json_integer_value(created)) return;
    snprintf(id, sizeof id, "workflow.updated:%s", wid);
    s_add(rows,
          s_entry(id, updated, "workflow.updated", NULL, "workflow", rid, name,
                  json_pack("{s:O?, s:O?, s:O?}", "status", json_object_get(wf, "status"),
                            "enabled", json_object_get(wf, "enabled"), "version",
                            json_object_get(wf, "version"))),
          since);
}

static json_t *
s_run_entry(const json_t *run, const json_t *names)
{
    const char *status = zf_eng_str(run, "status"), *wid = zf_eng_str(run, "workflow_id");
    char action[64];
    snprintf(action, sizeof action, "run.%.40s", status ? status : "unknown");
    json_t *err = json_object_get(run, "error");
    json_t *details =
        json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "workflow_id",
                  json_object_get(run, "workflow_id"), "status", json_object_get(run, "status"),
                  "trigger", json_object_get(json_object_get(run, "trigger"), "type"), "started_at",
                  json_object_get(run, "started_at"), "finished_at",
                  json_object_get(run, "finished_at"), "error", json_is_object(err) ? err : NULL);
    return s_entry(zf_eng_str(run, "id") ? zf_eng_str(run, "id") : "",
                   json_object_get(run, "created_at"), action, json_object_get(run, "created_by"),
                   "run", json_object_get(run, "id"), wid ? json_object_get(names, wid) : NULL,
                   details);
}

//  AUDIT_LOGS: workflow changes and run outcomes (see the top of the file).
static json_t *
s_audit(engine_t *e, const char *tenant, size_t limit, int64_t since, bool *truncated)
{
    json_t *rows = json_array(), *names = json_object(), *x;
    json_t *wfs = s_scan(e, ZF_CF_WORKFLOWS, tenant, S_SCAN_MAX, 0, truncated);
    size_t i;
    json_array_foreach (wfs, i, x) {
        if (!zf_eng_str(x, "id")) continue;
        json_t *name = json_object_get(x, "name");
        if (name) json_object_set(names, zf_eng_str(x, "id"), name);
        s_wf_entries(rows, x, since);
    }
    json_decref(wfs);
    json_t *runs = s_scan(e, ZF_CF_RUNS, tenant, limit, since, truncated);
    json_array_foreach (runs, i, x)
        s_add(rows, s_run_entry(x, names), since);
    json_decref(runs);
    json_decref(names);
    return s_sorted(rows, s_entry_cmp, limit);
}

/* ---- the message --------------------------------------------------------------------- */

//  since: absent, Unix ms >= 0 or ISO-8601. 0 ok (*ms 0 = none), -1 invalid.
static int
s_since(const json_t *v, int64_t *ms)
{
    long long iso = 0;
    *ms = 0;
    if (!v || json_is_null(v)) return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *ms = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && zf_iso8601_ms(json_string_value(v), &iso) == 0) {
        *ms = iso;
        return 0;
    }
    return -1;
}

static bool
s_is(const char *source, const char *name)
{
    return source && strcmp(source, name) == 0;
}

//  Reads and replies; the request was validated by zf_eng_evidence_collect.
static int
s_collect(engine_t *e, zf_msg_t *req)
{
    const char *source = zf_eng_str(req->body, "source");
    json_t *lim = json_object_get(req->body, "limit");
    size_t limit = lim ? (size_t)json_integer_value(lim) : S_LIMIT_DEFAULT;
    int64_t since = 0;
    s_since(json_object_get(req->body, "since"), &since);
    bool truncated = false;
    json_t *rows = s_is(source, "ORG_MEMBERS") ? s_members(e, req->tenant, limit, since)
                   : s_is(source, "SECURITY_EVENTS")
                       ? s_security(e, req->tenant, limit, since, &truncated)
                       : s_audit(e, req->tenant, limit, since, &truncated);
    zf_eng_reply(
        e, req,
        json_pack("{s:s, s:o, s:b}", "source", source, "rows", rows, "truncated", truncated));
    return 0;
}

int
zf_eng_evidence_collect(engine_t *e, zf_msg_t *req)
{
    const char *source = zf_eng_str(req->body, "source");
    json_t *lim = json_object_get(req->body, "limit");
    json_int_t limit = lim ? json_integer_value(lim) : S_LIMIT_DEFAULT;
    int64_t since = 0;
    if (lim && (!json_is_integer(lim) || limit < 1 || limit > S_LIMIT_MAX))
        return zf_eng_fail(e, req, ZF_EINVAL, "limit: must be an integer 1..%d", S_LIMIT_MAX);
    if (s_since(json_object_get(req->body, "since"), &since))
        return zf_eng_fail(e, req, ZF_EINVAL, "since: must be Unix ms (>= 0) or ISO-8601");
    if (!s_is(source, "ORG_MEMBERS") && !s_is(source, "SECURITY_EVENTS") &&
        !s_is(source, "AUDIT_LOGS"))
        return zf_eng_fail(e, req, ZF_EINVAL,
                           "source: must be AUDIT_LOGS, SECURITY_EVENTS or ORG_MEMBERS "
                           "(TABLE_ROWS is read with rec.list)");
    //  Security events still counting in memory are written first.
    if (s_is(source, "SECURITY_EVENTS")) return zf_eng_sec_sync(e, req, s_collect);
    return s_collect(e, req);
}
