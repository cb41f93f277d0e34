/*  actors/engine_auto.c — what the engine keeps and does for automations
    besides starting them: per-workflow run statistics and circuit breaker,
    dry runs (wf.test), webhooks (wf.webhook) and in-app notifications
    (notify.*).
*/
#include "actors/automation.h"
#include "actors/engine_int.h"
#include "actors/template.h"
#include "broker/errors.h"
#include "broker/ids.h"

#define S_STATS_KEY      200  // bytes of a stats cache key
#define S_STATS_FLUSH_MS 200  // stats are written at most this often (one commit)

/* ---- statistics ------------------------------------------------------------------
    Kept in memory and written at most every S_STATS_FLUSH_MS, one put per
    changed workflow: a commit per engine round cost W1 a third of its
    throughput (an extra fsync per round). A crash can lose the counts of
    runs that ended in the last 200 ms; runs themselves are never lost. */

//  Bounds the cache: drops entries whose counts are on disk already
//  (dirty ones wait for their flush; a re-read before it acked would be stale).
static void
s_stats_trim(engine_t *e)
{
    zlist_t *clean = zlist_new();
    for (void *v = zhashx_first(e->stats); v; v = zhashx_next(e->stats)) {
        const char *key = zhashx_cursor(e->stats);
        if (!zhashx_lookup(e->stats_dirty, key)) zlist_append(clean, (void *)key);
    }
    //  Deleting while iterating e->stats would invalidate the cursor; the
    //  keys stay valid until their entry is deleted, one at a time here.
    char copy[S_STATS_KEY];
    for (const char *k = zlist_first(clean); k; k = zlist_next(clean)) {
        snprintf(copy, sizeof copy, "%s", k);
        zhashx_delete(e->stats, copy);
    }
    zlist_destroy(&clean);
}

static json_t *
s_stats(engine_t *e, const char *tenant, const char *wf_id)
{
    char key[S_STATS_KEY];
    snprintf(key, sizeof key, "%s\x1f%s", tenant, wf_id);
    json_t *st = zhashx_lookup(e->stats, key);
    if (st) return st;
    st = zf_rec_stats_get(e->store, tenant, wf_id);
    if (!st)
        st = json_pack("{s:i, s:i, s:i, s:i, s:n, s:n}", "run_count", 0, "success_count", 0,
                       "failure_count", 0, "cancelled_count", 0, "last_run_at", "last_error");
    if (zhashx_size(e->stats) > 20000) s_stats_trim(e);
    zhashx_insert(e->stats, key, st);
    return st;
}

const json_t *
zf_eng_wf_stats(engine_t *e, const char *tenant, const char *wf_id)
{
    return s_stats(e, tenant, wf_id);
}

json_t *
zf_eng_wf_with_stats(engine_t *e, const char *tenant, const json_t *wf)
{
    json_t *out = json_copy((json_t *)wf);
    json_object_set_new(out, "stats", json_deep_copy(s_stats(e, tenant, zf_eng_str(wf, "id"))));
    return out;
}

static void
s_count(json_t *st, const char *k)
{
    json_object_set_new(st, k, json_integer(json_integer_value(json_object_get(st, k)) + 1));
}

void
zf_eng_stats_run_end(engine_t *e, zf_run_task_t *t)
{
    const char *status = zf_eng_str(t->run, "status");
    json_t *st = s_stats(e, t->tenant, t->wf_id);
    s_count(st, "run_count");
    if (strcmp(status, "completed") == 0)
        s_count(st, "success_count");
    else if (strcmp(status, "failed") == 0) {
        s_count(st, "failure_count");
        json_t *err = json_object_get(t->run, "error");
        json_object_set(st, "last_error", json_object_get(err, "message"));
    } else
        s_count(st, "cancelled_count");
    json_t *at = json_object_get(t->run, "started_at");
    if (!json_is_integer(at)) at = json_object_get(t->run, "created_at");
    json_object_set(st, "last_run_at", at);
    char key[S_STATS_KEY];
    snprintf(key, sizeof key, "%s\x1f%s", t->tenant, t->wf_id);
    zhashx_update(e->stats_dirty, key, (void *)1);
}

void
zf_eng_stats_flush(engine_t *e, bool force)
{
    int64_t now = zf_now_ms();
    if (zhashx_size(e->stats_dirty) == 0 || (!force && now < e->stats_flush_at)) return;
    e->stats_flush_at = now + S_STATS_FLUSH_MS;
    zf_batch_t *b = zf_batch_new();
    for (void *v = zhashx_first(e->stats_dirty); v; v = zhashx_next(e->stats_dirty)) {
        const char *key = zhashx_cursor(e->stats_dirty);
        json_t *st = zhashx_lookup(e->stats, key);
        const char *sep = strchr(key, '\x1f');
        if (!st || !sep) continue;
        char tenant[128];
        snprintf(tenant, sizeof tenant, "%.*s", (int)(sep - key), key);
        zf_rec_stats_put(b, tenant, sep + 1, st);
    }
    zhashx_purge(e->stats_dirty);
    zf_eng_commit(e, &b, zf_eng_cont(zf_eng_ignore_ack, NULL));
}

void
zf_eng_stats_forget(engine_t *e, zf_batch_t *b, const char *tenant, const char *wf_id)
{
    char key[S_STATS_KEY];
    snprintf(key, sizeof key, "%s\x1f%s", tenant, wf_id);
    zhashx_delete(e->stats, key);
    zhashx_delete(e->stats_dirty, key);
    zf_rec_stats_del(b, tenant, wf_id);
}

/* ---- dry runs -------------------------------------------------------------------------- */

int
zf_eng_wf_test(engine_t *e, zf_msg_t *req)
{
    const char *id = zf_eng_str(req->body, "id");
    json_t *wf = id ? zf_eng_wf_load(e, req->tenant, id) : NULL;
    if (!wf) return zf_eng_fail(e, req, ZF_ENOTFOUND, "workflow not found");
    json_t *rec = NULL;
    if (zf_eng_named_record(e, req, wf, true, &rec)) {
        json_decref(wf);
        return 0;
    }
    const json_t *trig = json_object_get(wf, "trigger");
    json_t *user = zf_eng_user_json(req);
    json_t *ctx = json_pack("{s:s, s:O?, s:O?, s:O?, s:o?}", "type", "test", "module",
                            json_object_get(trig, "module"), "record_id",
                            json_object_get(rec, "id"), "record", rec, "user", user);
    char why[256];
    json_t *evaluated = NULL;
    int pass = zf_auto_guard(json_object_get(wf, "conditions"), ctx, &evaluated, why, sizeof why);
    json_t *root =
        json_pack("{s:O?, s:n, s:O?, s:O, s:{}, s:{}, s:{}}", "record", rec, "previous", "user",
                  json_object_get(ctx, "user"), "trigger", ctx, "steps", "vars", "inputs");
    zf_tpl_scope_t scope = {.root = root, .now_ms = zf_now_ms()};
    json_t *preview = json_array();
    size_t i;
    json_t *node;
    json_array_foreach (json_object_get(json_object_get(wf, "definition"), "nodes"), i, node) {
        json_t *cfg = json_object_get(node, "config");
        char terr[256] = "";
        json_t *out = cfg ? zf_tpl_render_value(&scope, cfg, terr, sizeof terr) : json_object();
        json_t *item =
            json_pack("{s:O, s:O, s:o}", "id", json_object_get(node, "id"), "type",
                      json_object_get(node, "type"), "config", out ? out : json_deep_copy(cfg));
        if (!out) json_object_set_new(item, "error", json_string(terr));
        json_array_append_new(preview, item);
    }
    json_t *reply =
        json_pack("{s:b, s:b, s:o, s:o, s:b}", "would_execute", pass == 1, "conditions_passed",
                  pass == 1, "conditions_evaluated", evaluated ? evaluated : json_array(),
                  "actions_preview", preview, "enabled", zf_eng_wf_startable(wf));
    if (pass < 0) json_object_set_new(reply, "error", json_string(why));
    zf_eng_reply(e, req, reply);
    json_decref(root), json_decref(ctx), json_decref(rec), json_decref(wf);
    return 0;
}

/* ---- webhooks ---------------------------------------------------------------------------- */

int
zf_eng_wf_webhook(engine_t *e, zf_msg_t *req)
{
    const char *id = zf_eng_str(req->body, "id"), *path = zf_eng_str(req->body, "path");
    json_t *tenant = id ? zhashx_lookup(e->hooks, id) : NULL;
    json_t *wf = tenant ? zf_eng_wf_load(e, json_string_value(tenant), id) : NULL;
    const json_t *trig = json_object_get(wf, "trigger");
    const char *want = zf_eng_str(trig, "webhook_path");
    if (!wf || !path || !want || strcmp(want, path) != 0) {
        json_decref(wf);
        return zf_eng_fail(e, req, ZF_ENOTFOUND, "no webhook at this address");
    }
    if (!zf_eng_wf_startable(wf)) {
        json_decref(wf);
        zf_eng_error_detail(e, req, ZF_ECONFLICT, "automation_disabled",
                            "the automation is disabled");
        return 0;
    }
    json_t *body = json_object_get(req->body, "body");
    json_t *trigger = json_pack("{s:s, s:{s:s, s:O?, s:O?}}", "type", "webhook", "webhook", "path",
                                path, "body", body, "query", json_object_get(req->body, "query"));
    zf_batch_t *b = zf_batch_new();
    cont_t *c = zf_eng_cont(zf_eng_reply_started, req);
    snprintf(req->tenant, sizeof req->tenant, "%s", json_string_value(tenant));
    c->task =
        zf_eng_run_new(e, b, req->tenant, wf, json_is_object(body) ? body : NULL, trigger, NULL);
    c->data = json_pack("{s:O}", "run", c->task->run);
    json_decref(wf);
    zf_eng_commit(e, &b, c);
    return 1;
}

/* ---- notifications --------------------------------------------------------------------------- */

int
zf_eng_notify_create(engine_t *e, zf_msg_t *req)
{
    const json_t *in = req->body;
    const char *user = zf_eng_str(in, "user_id"), *title = zf_eng_str(in, "title");
    json_t *msg = json_object_get(in, "message"), *link = json_object_get(in, "link");
    if (json_is_null(msg)) msg = NULL;
    if (json_is_null(link)) link = NULL;
    if (!user || !user[0] || strlen(user) > 128)
        return zf_eng_fail(e, req, ZF_EINVAL, "user_id: required string of at most 128 bytes");
    if (!title || strlen(title) > 500)
        return zf_eng_fail(e, req, ZF_EINVAL, "title: required string of at most 500 bytes");
    if ((msg && !json_is_string(msg)) || json_string_length(msg) > 10000)
        return zf_eng_fail(e, req, ZF_EINVAL, "message: must be a string of at most 10000 bytes");
    if (link && !json_is_string(link) && !json_is_null(link))
        return zf_eng_fail(e, req, ZF_EINVAL, "link: must be a string");
    char id[ZF_UUID_LEN + 1];
    zf_uuid7(id);
    json_t *n = json_pack("{s:s, s:s, s:s, s:O?, s:O?, s:b, s:I, s:O?}", "id", id, "user_id", user,
                          "title", title, "message", msg, "link", link, "read", 0, "created_at",
                          (json_int_t)zf_now_ms(), "source", json_object_get(in, "source"));
    zf_batch_t *b = zf_batch_new();
    zf_rec_notify_put(b, req->tenant, n);
    cont_t *c = zf_eng_cont(zf_eng_reply_started, req);
    c->data = json_pack("{s:o}", "notification", n);
    zf_eng_commit(e, &b, c);
    return 1;
}

int
zf_eng_notify_list(engine_t *e, zf_msg_t *req)
{
    const char *user = zf_eng_str(req->body, "user_id");
    if (!user) user = req->user;
    if (!user[0]) return zf_eng_fail(e, req, ZF_EINVAL, "user_id: required string");
    json_t *lim = json_object_get(req->body, "limit");
    json_int_t limit = lim ? json_integer_value(lim) : 50;
    if (lim && (!json_is_integer(lim) || limit < 0 || limit > 500))
        return zf_eng_fail(e, req, ZF_EINVAL, "limit must be 0..500");
    size_t total = 0;
    json_t *items = zf_rec_notify_list(e->store, req->tenant, user, 0, (size_t)limit, &total);
    zf_eng_reply(e, req,
                 json_pack("{s:o, s:I}", "notifications", items, "total", (json_int_t)total));
    return 0;
}

/* ---- per-workflow circuit breaker -------------------------------------------
    N consecutive failed runs (error_handling.breaker_threshold, default 5)
    disable the workflow: enabled=false, disabled_reason recorded, event
    published. Any completed run resets the count. The count is persisted in
    the workflow record so it survives restarts. */

void
zf_eng_wf_breaker(engine_t *e, zf_run_task_t *t, bool failed)
{
    json_t *wf = zf_eng_wf_load(e, t->tenant, t->wf_id);
    if (!wf) return;
    json_int_t count = json_integer_value(json_object_get(wf, "consecutive_failures"));
    if (!failed && count == 0) {
        json_decref(wf);
        return;
    }
    json_t *copy = json_deep_copy(wf);
    json_decref(wf);
    count = failed ? count + 1 : 0;
    json_object_set_new(copy, "consecutive_failures", json_integer(count));
    json_t *eh = json_object_get(copy, "error_handling");
    json_int_t threshold = json_integer_value(json_object_get(eh, "breaker_threshold"));
    if (threshold <= 0)
        threshold = json_integer_value(json_object_get(eh, "disable_after_failures"));
    if (threshold <= 0) threshold = 5;
    bool trip = failed && count >= threshold && json_is_true(json_object_get(copy, "enabled"));
    if (trip) {
        char reason[160];
        snprintf(reason, sizeof reason, "circuit breaker: %lld consecutive failed runs",
                 (long long)count);
        json_object_set_new(copy, "enabled", json_false());
        json_object_set_new(copy, "disabled_reason", json_string(reason));
        json_object_set_new(copy, "updated_at", json_integer(zf_now_ms()));
    }
    zf_batch_t *b = zf_batch_new();
    cont_t *c = zf_eng_cont(zf_eng_ignore_ack, NULL);
    zf_eng_wf_stage(e, b, c, t->tenant, copy, NULL, false);
    zf_eng_commit(e, &b, c);
    if (trip) {
        zf_msg_t *m = zf_msg_new("event.workflow.disabled");
        snprintf(m->tenant, sizeof m->tenant, "%s", t->tenant);
        zf_msg_set_body(m, json_pack("{s:s, s:s, s:O}", "tenant", t->tenant, "workflow_id",
                                     t->wf_id, "reason", json_object_get(copy, "disabled_reason")));
        m->route = zmsg_new();
        zmsg_addmem(m->route, "", 0);
        zf_msg_send(&m, e->broker, ZMQ_DONTWAIT);
    }
    json_decref(copy);
}
