/*  http/dialects/coherence_runs.c — seed 003 routes on runs: automation
    logs (a log is a run: id "log_<run id>", status success|failed|running|
    cancelled, actions_executed from the run's step logs), manual
    triggers, dry runs (test) and the public webhook URL.
*/
#include "broker/isotime.h"
#include "http/dialects/coherence_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *
s_step_status(const char *core)
{
    static const char *const map[][2] = {{"completed", "success"}, {"failed", "failed"},
                                         {"blocked", "failed"},    {"waiting", "running"},
                                         {"skipped", "skipped"},   {"retrying", "retrying"}};
    for (size_t i = 0; core && i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(core, map[i][0]) == 0) return map[i][1];
    }
    return core ? core : "running";
}

//  One entry per action (node) in order of first execution; a later log
//  entry of the same node (a retry) replaces the earlier one.
static json_t *
s_actions_executed(const json_t *logs)
{
    json_t *out = json_array(), *pos = json_object(), *e;
    size_t i;
    json_array_foreach (logs, i, e) {
        const char *node = json_string_value(json_object_get(e, "nodeId"));
        const json_t *dur = json_object_get(e, "durationMs");
        json_t *a =
            json_pack("{s:O?, s:s, s:o}", "type", json_object_get(e, "nodeType"), "status",
                      s_step_status(json_string_value(json_object_get(e, "status"))), "duration_ms",
                      json_is_integer(dur) ? json_deep_copy(dur) : json_null());
        const json_t *att = json_object_get(e, "attempt");
        if (json_is_integer(att)) json_object_set(a, "attempts", (json_t *)att);
        const char *err = json_string_value(json_object_get(e, "error"));
        if (err && *err) zf_coh_set_error(a, err, "action_failed");
        json_t *at = node ? json_object_get(pos, node) : NULL;
        if (at) {
            json_array_set_new(out, (size_t)json_integer_value(at), a);
        } else {
            if (node)
                json_object_set_new(pos, node, json_integer((json_int_t)json_array_size(out)));
            json_array_append_new(out, a);
        }
    }
    json_decref(pos);
    return out;
}

static const char *
s_log_status(const char *core)
{
    if (!core) return "running";
    if (strcmp(core, "completed") == 0) return "success";
    if (strcmp(core, "failed") == 0 || strcmp(core, "cancelled") == 0) return core;
    return "running";  // queued, running, waiting, paused
}

static json_t *
s_log_view(const json_t *run)
{
    const json_t *trig = json_object_get(run, "trigger");
    const json_t *rid = json_object_get(trig, "record_id");
    if (!json_is_string(rid)) rid = json_object_get(json_object_get(trig, "record"), "id");
    const json_t *event = json_object_get(trig, "event");
    if (!json_is_string(event)) event = json_object_get(trig, "type");
    const json_t *started = json_object_get(run, "started_at");
    if (!json_is_integer(started)) started = json_object_get(run, "created_at");
    const json_t *fin = json_object_get(run, "finished_at");
    json_t *dur = json_is_integer(started) && json_is_integer(fin)
                      ? json_integer(json_integer_value(fin) - json_integer_value(started))
                      : json_null();
    json_t *v = json_pack("{s:o, s:o, s:O?, s:s, s:{s:o, s:o}, s:o, s:o, s:o, s:o}", "id",
                          zf_coh_prefixed("log_", json_object_get(run, "id")), "automation_id",
                          zf_coh_prefixed("auto_", json_object_get(run, "workflow_id")), "run_id",
                          json_object_get(run, "id"), "status",
                          s_log_status(json_string_value(json_object_get(run, "status"))),
                          "trigger_data", "record_id", zf_http_or_null(rid), "event",
                          json_is_string(event) ? json_deep_copy(event) : json_string("manual"),
                          "actions_executed", s_actions_executed(json_object_get(run, "logs")),
                          "started_at", zf_coh_time(started), "completed_at", zf_coh_time(fin),
                          "duration_ms", dur);
    const char *err = json_string_value(json_object_get(json_object_get(run, "error"), "message"));
    if (err && *err) zf_coh_set_error(v, err, "action_failed");
    return v;
}

/* ---- logs, trigger, test, webhooks --------------------------------------------------- */

static int
s_by_created_desc(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t cx = json_integer_value(json_object_get(x, "created_at"));
    json_int_t cy = json_integer_value(json_object_get(y, "created_at"));
    if (cx != cy) return cx < cy ? 1 : -1;
    const char *ix = json_string_value(json_object_get(x, "id"));
    const char *iy = json_string_value(json_object_get(y, "id"));
    return -strcmp(ix ? ix : "", iy ? iy : "");
}

//  Why: "running" covers four core statuses and run.list filters on one,
//  so each is listed (first offset+limit, at most 500) and the lists are
//  merged newest first. Returns the page (new ref) and *total, or NULL
//  after answering an error.
static json_t *
s_runs_page(zf_http_req_t *req, const json_t *base, const char *const *st, const char *id,
            int64_t offset, int64_t limit, json_int_t *total)
{
    json_t *all = json_array(), *r;
    int64_t want = offset + limit > ZF_COH_MAX_RUN_SCAN ? ZF_COH_MAX_RUN_SCAN : offset + limit;
    *total = 0;
    for (int k = 0; st[k]; k++) {
        json_t *q = json_deep_copy(base);
        json_object_set_new(q, "status", json_string(st[k]));
        json_object_set_new(q, "limit", json_integer(st[1] ? want : limit));
        json_object_set_new(q, "offset", json_integer(st[1] ? 0 : offset));
        json_t *rep = zf_coh_call(req, "run.list", q, id, ZF_COH_AUTO_404);
        if (!rep) {
            json_decref(all);
            return NULL;
        }
        *total += json_integer_value(json_object_get(rep, "total"));
        json_array_extend(all, json_object_get(rep, "runs"));
        json_decref(rep);
    }
    size_t n = json_array_size(all), i;
    json_t **v = calloc(n + 1, sizeof *v), *page = json_array();
    json_array_foreach (all, i, r)
        v[i] = r;
    qsort(v, n, sizeof *v, s_by_created_desc);
    for (i = st[1] ? (size_t)offset : 0; i < n && json_array_size(page) < (size_t)limit; i++)
        json_array_append(page, v[i]);
    free(v);
    json_decref(all);
    return page;
}

//  The core statuses of a log status filter; NULL if it is not one.
static const char *const *
s_core_statuses(const char *status)
{
    static const char *const success[] = {"completed", NULL}, *const failed[] = {"failed", NULL};
    static const char *const cancelled[] = {"cancelled", NULL};
    static const char *const running[] = {"queued", "running", "waiting", "paused", NULL};
    if (strcmp(status, "success") == 0) return success;
    if (strcmp(status, "failed") == 0) return failed;
    if (strcmp(status, "cancelled") == 0) return cancelled;
    if (strcmp(status, "running") == 0) return running;
    return NULL;
}

void
zf_coh_logs(zf_http_req_t *req)
{
    static const char *const any[] = {"", NULL};
    const char *id = zf_coh_auto_id(req, "id", ZF_COH_AUTO_404);
    if (!id) return;
    int64_t limit, page;
    long long since = 0;
    char status[32] = "", when[64] = "";
    const char *const *st = any;
    const char *why = NULL;
    if (zf_http_query_int(req, "limit", ZF_COH_PER_PAGE, 1, ZF_COH_MAX_PER_PAGE, &limit))
        why = "limit: must be an integer 1..100";
    else if (zf_http_query_int(req, "page", 1, 1, ZF_COH_MAX_PAGE, &page))
        why = "page: must be an integer >= 1";
    else if (zf_http_query(req, "status", status, sizeof status) != -1 &&
             !(st = s_core_statuses(status)))
        why = "status: must be one of success, failed, running, cancelled";
    else if (zf_http_query(req, "since", when, sizeof when) != -1 && zf_iso8601_ms(when, &since))
        why = "since: must be an ISO-8601 timestamp such as 2024-01-15T00:00:00Z";
    else if (since < 0)
        why = "since: must be 1970-01-01T00:00:00Z or later";
    if (why) {
        zf_http_fail(req, ZF_EINVAL, "%s", why);
        return;
    }
    json_t *base = json_pack("{s:s, s:b}", "workflow_id", id, "with_logs", 1), *r;
    if (*when) json_object_set_new(base, "since", json_integer(since));
    json_int_t total = 0;
    json_t *runs;
    if (st == any) {  // no status filter: one plain page
        json_object_set_new(base, "limit", json_integer(limit));
        json_object_set_new(base, "offset", json_integer((page - 1) * limit));
        json_t *rep = zf_coh_call(req, "run.list", json_incref(base), id, ZF_COH_AUTO_404);
        runs = rep ? json_incref(json_object_get(rep, "runs")) : NULL;
        total = rep ? json_integer_value(json_object_get(rep, "total")) : 0;
        json_decref(rep);
    } else {
        runs = s_runs_page(req, base, st, id, (page - 1) * limit, limit, &total);
    }
    json_decref(base);
    if (!runs) return;
    json_t *items = json_array();
    size_t i;
    json_array_foreach (runs, i, r)
        json_array_append_new(items, s_log_view(r));
    json_decref(runs);
    zf_coh_data_list(req, items, total, page, limit);
}

void
zf_coh_trigger(zf_http_req_t *req)
{
    const char *id = zf_coh_auto_id(req, "id", ZF_COH_AUTO_404);
    if (!id) return;
    json_t *body = zf_http_body(req), *rid = json_object_get(body, "record_id");
    json_t *mod = json_object_get(body, "module");
    if ((rid && !zf_coh_nonempty(rid, 128)) || (mod && !zf_coh_nonempty(mod, 128))) {
        zf_http_fail(req, ZF_EINVAL, "%s: must be a non-empty string",
                     rid && !zf_coh_nonempty(rid, 128) ? "record_id" : "module");
        return;
    }
    json_t *q = json_pack("{s:s, s:{}, s:O*, s:O*}", "workflow_id", id, "inputs", "record_id", rid,
                          "module", mod);
    json_t *rep = zf_coh_call(req, "run.start", q, id, ZF_COH_AUTO_404);
    if (!rep) return;
    zf_coh_data(req, 202, s_log_view(json_object_get(rep, "run")));
    json_decref(rep);
}

void
zf_coh_test(zf_http_req_t *req)
{
    const char *id = zf_coh_auto_id(req, "id", ZF_COH_AUTO_404);
    if (!id) return;
    json_t *body = zf_http_body(req), *rid = json_object_get(body, "record_id");
    json_t *rec = json_object_get(body, "record"), *mod = json_object_get(body, "module");
    const char *why = NULL;
    if (rid && !zf_coh_nonempty(rid, 128))
        why = "record_id: must be a non-empty string";
    else if (rec && !json_is_object(rec))
        why = "record: must be an object";
    else if (mod && !zf_coh_nonempty(mod, 128))
        why = "module: must be a non-empty string";
    if (why) {
        zf_http_fail(req, ZF_EINVAL, "%s", why);
        return;
    }
    json_t *q = json_pack("{s:s, s:O*, s:O*, s:O*}", "id", id, "record_id", rid, "record", rec,
                          "module", mod);
    json_t *rep = zf_coh_call(req, "wf.test", q, id, ZF_COH_AUTO_404), *a;
    if (!rep) return;
    json_t *preview = json_array();
    size_t i;
    json_array_foreach (json_object_get(rep, "actions_preview"), i, a)
        json_array_append_new(preview, json_pack("{s:O?, s:O?}", "type", json_object_get(a, "type"),
                                                 "config", json_object_get(a, "config")));
    const json_t *ce = json_object_get(rep, "conditions_evaluated");
    zf_coh_data(req, 200,
                json_pack("{s:b, s:b, s:o, s:o}", "would_execute",
                          json_is_true(json_object_get(rep, "would_execute")), "conditions_passed",
                          json_is_true(json_object_get(rep, "conditions_passed")),
                          "conditions_evaluated",
                          json_is_array(ce) ? json_deep_copy(ce) : json_array(), "actions_preview",
                          preview));
    json_decref(rep);
}

//  PUBLIC: the webhook URL. The engine finds the automation by id alone
//  and checks trigger.type, webhook_path and enabled.
void
zf_coh_webhook(zf_http_req_t *req)
{
    const char *id = zf_coh_auto_id(req, "automation_id", ZF_COH_HOOK_404);
    if (!id) return;
    const char *path = zf_http_param(req, "path"), *qwhy = NULL;
    json_t *query = zf_http_query_map(req, &qwhy);
    if (!query) {
        zf_http_fail(req, ZF_EINVAL, "%s", qwhy);
        return;
    }
    json_t *q = json_pack("{s:s, s:s, s:O, s:o}", "id", id, "path", path ? path : "", "body",
                          zf_http_body(req), "query", query);
    json_t *rep = zf_coh_call(req, "wf.webhook", q, NULL, ZF_COH_HOOK_404);
    if (!rep) return;
    zf_coh_data(req, 202,
                json_pack("{s:b, s:O?}", "accepted", 1, "run_id",
                          json_object_get(json_object_get(rep, "run"), "id")));
    json_decref(rep);
}
