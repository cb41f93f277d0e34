/*  actors/engine_sched.c — cron schedules: the sched.* messages (seed 002's
    schedule endpoints), the implicit schedule of a workflow whose trigger
    is a schedule (seed 003), and firing.

    A schedule arms one durable timer at next_run_at (timers CF, kind
    "schedule", keyed by the schedule id). Firing stages, in ONE batch: the
    run for that instant, the schedule's new last_run_at/next_run_at, the
    deletion of the fired timer and the next timer. So each instant fires
    exactly once across crashes and restarts: either the whole batch is on
    disk (run exists, timer moved) or none of it is (the timer fires again).

    After downtime (an instant more than S_GRACE_MS late),
    missed_execution_policy decides:
      run_immediately  one run now for the missed instants (its scheduled_at is
                       the first of them), then resume from now
      skip             no run for missed instants, resume from now
      queue            one run per missed instant, oldest first (instants
                       more than 7 days old are dropped), then resume
*/
#include "actors/automation.h"
#include "actors/cron.h"
#include "actors/engine_int.h"
#include "actors/tz.h"
#include "broker/errors.h"
#include "broker/ids.h"

#define S_GRACE_MS         60000             // an instant this late is "missed"
#define S_QUEUE_HORIZON_MS (7 * 86400000LL)  // queue replays at most this far back
#define S_PER_WORKFLOW_MAX 100               // schedules per workflow

static const char *const s_policies[] = {"run_immediately", "skip", "queue", NULL};

//  Next fire instant of sched strictly after `after` (-1: none / invalid).
static int64_t
s_next(const json_t *sched, int64_t after)
{
    zf_cron_t c;
    const char *zone = zf_eng_str(sched, "timezone");
    const zf_tz_t *tz = zone ? zf_tz_get(zone, NULL, 0) : zf_tz_utc();
    if (!tz || zf_cron_parse(zf_eng_str(sched, "cron_expression"), &c, NULL, 0)) return -1;
    return zf_cron_next(&c, tz, after);
}

//  Checks the settable fields (create or patch); why names the field.
static int
s_check(const json_t *in, bool create, char *why, size_t whylen)
{
    json_t *v = json_object_get(in, "cron_expression");
    char err[200];
    zf_cron_t c;
    if (create && !v) return snprintf(why, whylen, "cron_expression: required string"), -1;
    if (v && (!json_is_string(v) || zf_cron_parse(json_string_value(v), &c, err, sizeof err)))
        return snprintf(why, whylen, "cron_expression: %s",
                        json_is_string(v) ? err : "must be a string"),
               -1;
    v = json_object_get(in, "timezone");
    if (v && (!json_is_string(v) || !zf_tz_get(json_string_value(v), err, sizeof err)))
        return snprintf(why, whylen, "timezone: %s",
                        json_is_string(v) ? err : "must be an IANA zone name"),
               -1;
    v = json_object_get(in, "inputs");
    if (v && !json_is_object(v) && !json_is_null(v))
        return snprintf(why, whylen, "inputs: must be an object"), -1;
    v = json_object_get(in, "missed_execution_policy");
    bool known = false;
    for (int i = 0; v && s_policies[i]; i++)
        known |= json_is_string(v) && strcmp(json_string_value(v), s_policies[i]) == 0;
    if (v && !known)
        return snprintf(why, whylen,
                        "missed_execution_policy: must be run_immediately, skip or queue"),
               -1;
    v = json_object_get(in, "enabled");
    if (v && !json_is_boolean(v)) return snprintf(why, whylen, "enabled: must be a boolean"), -1;
    return 0;
}

//  Stages sched with a timer at its next_run_at (old_next: the timer to
//  drop, 0 = none).
static void
s_stage(zf_batch_t *b, const char *tenant, const json_t *sched, int64_t old_next)
{
    const char *id = zf_eng_str(sched, "id");
    json_int_t next = json_integer_value(json_object_get(sched, "next_run_at"));
    if (old_next > 0 && old_next != next) zf_rec_timer_del(b, old_next, tenant, id);
    if (next > 0 && next != old_next) zf_rec_timer_put(b, next, tenant, id, "schedule");
    zf_rec_sched_put(b, tenant, sched);
}

//  next_run_at for an enabled schedule from now (null when disabled/none).
static void
s_arm(engine_t *e, json_t *sched, int64_t now)
{
    int64_t next = json_is_true(json_object_get(sched, "enabled")) ? s_next(sched, now) : -1;
    json_object_set_new(sched, "next_run_at", next > 0 ? json_integer(next) : json_null());
    if (next > 0 && next < e->next_timer) e->next_timer = next;
}

/* ---- commits in flight ----------------------------------------------------------------
    A timer must not fire from the stored schedule while a change to it is
    staged but not durable (the fire batch would overwrite the change). */

static void
s_key(char out[128], const char *tenant, const char *id)
{
    snprintf(out, 128, "%s\x1f%s", tenant, id);
}

static void
s_hold(engine_t *e, cont_t *c, const char *tenant, const char *id)
{
    s_key(c->sched_key, tenant, id);
    intptr_t n = (intptr_t)zhashx_lookup(e->sched_busy, c->sched_key) + 1;
    zhashx_update(e->sched_busy, c->sched_key, (void *)n);
}

void
zf_eng_sched_release(engine_t *e, const char *key)
{
    intptr_t n = (intptr_t)zhashx_lookup(e->sched_busy, key) - 1;
    if (n > 0)
        zhashx_update(e->sched_busy, key, (void *)n);
    else
        zhashx_delete(e->sched_busy, key);
}

void
zf_eng_sched_start(engine_t *e)
{
    e->sched_busy = zhashx_new();
}

void
zf_eng_sched_stop(engine_t *e)
{
    zhashx_destroy(&e->sched_busy);
}

/* ---- messages ----------------------------------------------------------------------- */

//  The workflow named by body.workflow_id (new ref) or NULL after replying.
static json_t *
s_wf(engine_t *e, zf_msg_t *req)
{
    const char *wf_id = zf_eng_str(req->body, "workflow_id");
    json_t *wf = wf_id ? zf_eng_wf_load(e, req->tenant, wf_id) : NULL;
    if (!wf) zf_eng_fail(e, req, ZF_ENOTFOUND, "workflow not found");
    return wf;
}

//  The schedule body.id of the workflow (new ref) or NULL after replying.
static json_t *
s_sched(engine_t *e, zf_msg_t *req, const json_t *wf)
{
    const char *id = zf_eng_str(req->body, "id");
    json_t *s = id && strlen(id) <= 64 ? zf_rec_sched_get(e->store, req->tenant, id) : NULL;
    if (s && strcmp(zf_eng_str(s, "workflow_id"), zf_eng_str(wf, "id")) != 0) {
        json_decref(s);
        s = NULL;
    }
    if (!s) zf_eng_fail(e, req, ZF_ENOTFOUND, "schedule not found");
    return s;
}

int
zf_eng_sched_create(engine_t *e, zf_msg_t *req)
{
    char why[300];
    if (s_check(req->body, true, why, sizeof why)) return zf_eng_fail(e, req, ZF_EINVAL, "%s", why);
    json_t *wf = s_wf(e, req);
    if (!wf) return 0;
    json_t *existing = zf_rec_sched_list(e->store, req->tenant, zf_eng_str(wf, "id"));
    size_t n = json_array_size(existing);
    json_decref(existing);
    if (n >= S_PER_WORKFLOW_MAX) {
        json_decref(wf);
        return zf_eng_fail(e, req, ZF_ELIMIT, "a workflow has at most %d schedules",
                           S_PER_WORKFLOW_MAX);
    }
    char id[ZF_UUID_LEN + 1];
    zf_uuid7(id);
    int64_t now = zf_now_ms();
    const json_t *in = req->body;
    json_t *tz = json_object_get(in, "timezone"), *inputs = json_object_get(in, "inputs");
    json_t *policy = json_object_get(in, "missed_execution_policy");
    json_t *sched = json_pack(
        "{s:s, s:O, s:O, s:s, s:o, s:s, s:b, s:n, s:n, s:s, s:I, s:I, s:s}", "id", id,
        "workflow_id", json_object_get(wf, "id"), "cron_expression",
        json_object_get(in, "cron_expression"), "timezone", tz ? json_string_value(tz) : "UTC",
        "inputs", json_is_object(inputs) ? json_deep_copy(inputs) : json_object(),
        "missed_execution_policy", policy ? json_string_value(policy) : "run_immediately",
        "enabled", !json_is_false(json_object_get(in, "enabled")), "next_run_at", "last_run_at",
        "created_by", req->user, "created_at", (json_int_t)now, "updated_at", (json_int_t)now,
        "source", "api");
    s_arm(e, sched, now);
    zf_batch_t *b = zf_batch_new();
    s_stage(b, req->tenant, sched, 0);
    cont_t *c = zf_eng_cont(zf_eng_reply_data, req);
    s_hold(e, c, req->tenant, id);
    c->data = json_pack("{s:o}", "schedule", sched);
    json_decref(wf);
    zf_eng_commit(e, &b, c);
    return 1;
}

int
zf_eng_sched_list(engine_t *e, zf_msg_t *req)
{
    json_t *wf = s_wf(e, req);
    if (!wf) return 0;
    json_t *list = zf_rec_sched_list(e->store, req->tenant, zf_eng_str(wf, "id"));
    zf_eng_reply(e, req, json_pack("{s:o}", "schedules", list));
    json_decref(wf);
    return 0;
}

int
zf_eng_sched_update(engine_t *e, zf_msg_t *req)
{
    char why[300];
    json_t *patch = json_object_get(req->body, "patch");
    if (!json_is_object(patch)) return zf_eng_fail(e, req, ZF_EINVAL, "patch: required object");
    static const char *const fields[] = {"cron_expression",         "timezone", "inputs", "enabled",
                                         "missed_execution_policy", NULL};
    int known = 0;
    for (int i = 0; fields[i]; i++)
        known += json_object_get(patch, fields[i]) != NULL;
    if (!known)
        return zf_eng_fail(e, req, ZF_EINVAL,
                           "no valid field to update (cron_expression, timezone, inputs, enabled, "
                           "missed_execution_policy)");
    if (s_check(patch, false, why, sizeof why)) return zf_eng_fail(e, req, ZF_EINVAL, "%s", why);
    json_t *wf = s_wf(e, req);
    json_t *cur = wf ? s_sched(e, req, wf) : NULL;
    json_decref(wf);
    if (!cur) return 0;
    if (strcmp(zf_eng_str(cur, "source"), "trigger") == 0) {
        json_decref(cur);
        return zf_eng_fail(e, req, ZF_ECONFLICT,
                           "this schedule is the workflow's trigger: change the trigger instead");
    }
    json_t *sched = json_deep_copy(cur);
    for (int i = 0; fields[i]; i++) {
        json_t *v = json_object_get(patch, fields[i]);
        if (v) json_object_set(sched, fields[i], json_is_null(v) ? json_object() : v);
    }
    int64_t now = zf_now_ms();
    json_object_set_new(sched, "updated_at", json_integer(now));
    s_arm(e, sched, now);
    zf_batch_t *b = zf_batch_new();
    s_stage(b, req->tenant, sched, json_integer_value(json_object_get(cur, "next_run_at")));
    json_decref(cur);
    cont_t *c = zf_eng_cont(zf_eng_reply_data, req);
    s_hold(e, c, req->tenant, zf_eng_str(sched, "id"));
    c->data = json_pack("{s:o}", "schedule", sched);
    zf_eng_commit(e, &b, c);
    return 1;
}

int
zf_eng_sched_delete(engine_t *e, zf_msg_t *req)
{
    json_t *wf = s_wf(e, req);
    json_t *cur = wf ? s_sched(e, req, wf) : NULL;
    json_decref(wf);
    if (!cur) return 0;
    if (strcmp(zf_eng_str(cur, "source"), "trigger") == 0) {
        json_decref(cur);
        return zf_eng_fail(e, req, ZF_ECONFLICT,
                           "this schedule is the workflow's trigger: change the trigger instead");
    }
    zf_batch_t *b = zf_batch_new();
    json_int_t next = json_integer_value(json_object_get(cur, "next_run_at"));
    if (next > 0) zf_rec_timer_del(b, next, req->tenant, zf_eng_str(cur, "id"));
    zf_rec_sched_del(b, req->tenant, zf_eng_str(cur, "id"));
    cont_t *c = zf_eng_cont(zf_eng_reply_data, req);
    s_hold(e, c, req->tenant, zf_eng_str(cur, "id"));
    c->data = json_pack("{s:O, s:b}", "id", json_object_get(cur, "id"), "deleted", 1);
    json_decref(cur);
    zf_eng_commit(e, &b, c);
    return 1;
}

/* ---- workflows' own schedules and cascades ---------------------------------------------- */

void
zf_eng_sched_wf_changed(engine_t *e, zf_batch_t *b, const char *tenant, const json_t *old_wf,
                        const json_t *new_wf)
{
    const json_t *ot = json_object_get(old_wf, "trigger"), *nt = json_object_get(new_wf, "trigger");
    bool old_s = zf_eng_str(ot, "type") && strcmp(zf_eng_str(ot, "type"), "schedule") == 0;
    bool new_s = zf_eng_str(nt, "type") && strcmp(zf_eng_str(nt, "type"), "schedule") == 0;
    if (!old_s && !new_s) return;
    if (old_s && new_s && json_equal((json_t *)ot, (json_t *)nt)) return;
    const char *id = zf_eng_str(new_wf ? new_wf : old_wf, "id");
    json_t *cur = zf_rec_sched_get(e->store, tenant, id);
    json_int_t old_next = json_integer_value(json_object_get(cur, "next_run_at"));
    if (!new_s) {
        if (old_next > 0) zf_rec_timer_del(b, old_next, tenant, id);
        zf_rec_sched_del(b, tenant, id);
        json_decref(cur);
        return;
    }
    int64_t now = zf_now_ms();
    const char *policy = zf_eng_str(nt, "missed_execution_policy");
    json_t *sched =
        json_pack("{s:s, s:s, s:O, s:s, s:{}, s:s, s:b, s:n, s:O?, s:I, s:I, s:s}", "id", id,
                  "workflow_id", id, "cron_expression", json_object_get(nt, "schedule"), "timezone",
                  zf_eng_str(nt, "timezone") ? zf_eng_str(nt, "timezone") : "UTC", "inputs",
                  "missed_execution_policy", policy ? policy : "skip", "enabled", 1, "next_run_at",
                  "last_run_at", json_object_get(cur, "last_run_at"), "created_at", (json_int_t)now,
                  "updated_at", (json_int_t)now, "source", "trigger");
    if (!json_object_get(sched, "last_run_at"))
        json_object_set_new(sched, "last_run_at", json_null());
    s_arm(e, sched, now);
    s_stage(b, tenant, sched, old_next);
    json_decref(sched);
    json_decref(cur);
}

void
zf_eng_sched_wf_deleted(engine_t *e, zf_batch_t *b, const char *tenant, const char *wf_id)
{
    json_t *list = zf_rec_sched_list(e->store, tenant, wf_id);
    size_t i;
    json_t *s;
    json_array_foreach (list, i, s) {
        json_int_t next = json_integer_value(json_object_get(s, "next_run_at"));
        if (next > 0) zf_rec_timer_del(b, next, tenant, zf_eng_str(s, "id"));
        zf_rec_sched_del(b, tenant, zf_eng_str(s, "id"));
    }
    json_decref(list);
}

/* ---- firing -------------------------------------------------------------------------------- */

//  When an instant `due` fires at `now`: whether it runs and where the
//  schedule resumes (the instant after which to look for the next one).
static bool
s_policy(const json_t *sched, int64_t due, int64_t now, int64_t *resume_after)
{
    const char *policy = zf_eng_str(sched, "missed_execution_policy");
    if (now - due <= S_GRACE_MS) {
        *resume_after = due;
        return true;
    }
    if (policy && strcmp(policy, "queue") == 0) {
        if (now - due > S_QUEUE_HORIZON_MS) {  // too old: resume at the horizon
            *resume_after = now - S_QUEUE_HORIZON_MS;
            return false;
        }
        *resume_after = due;
        return true;
    }
    *resume_after = now;
    return !policy || strcmp(policy, "skip") != 0;  // run_immediately: once, now
}

int
zf_eng_sched_fire(engine_t *e, zf_batch_t *stale, int64_t due, const char *tenant,
                  const char *sched_id)
{
    char key[128];
    s_key(key, tenant, sched_id);
    if (zhashx_lookup(e->sched_busy, key)) return 1;
    json_t *sched = zf_rec_sched_get(e->store, tenant, sched_id);
    const char *wf_id = zf_eng_str(sched, "workflow_id");
    char wf_key[128];
    snprintf(wf_key, sizeof wf_key, "%s\x1f%s", tenant, wf_id ? wf_id : "");
    if (sched && zhashx_lookup(e->overlay_pending, wf_key)) {  // its workflow is changing
        json_decref(sched);
        return 1;
    }
    json_t *wf = sched ? zf_eng_wf_load(e, tenant, zf_eng_str(sched, "workflow_id")) : NULL;
    if (!sched || !wf || json_integer_value(json_object_get(sched, "next_run_at")) != due) {
        zf_rec_timer_del(stale, due, tenant, sched_id);  // stale timer
        json_decref(sched), json_decref(wf);
        return 0;
    }
    int64_t now = zf_now_ms(), after = due;
    bool run = s_policy(sched, due, now, &after) && zf_eng_wf_startable(wf) &&
               json_is_true(json_object_get(sched, "enabled"));
    zf_batch_t *b = zf_batch_new();
    cont_t *c = zf_eng_cont(zf_eng_runs_started, NULL);
    s_hold(e, c, tenant, sched_id);
    json_t *copy = json_deep_copy(sched);
    if (run) {
        json_t *trigger = json_pack("{s:s, s:s, s:I}", "type", "schedule", "schedule_id", sched_id,
                                    "scheduled_at", (json_int_t)due);
        c->task = zf_eng_run_new(e, b, tenant, wf, json_object_get(sched, "inputs"), trigger,
                                 zf_eng_str(sched, "created_by"));
        json_object_set_new(copy, "last_run_at", json_integer(due));
    }
    int64_t next = s_next(sched, after);
    json_object_set_new(copy, "next_run_at", next > 0 ? json_integer(next) : json_null());
    if (next > 0 && next < e->next_timer) e->next_timer = next;
    zf_rec_timer_del(b, due, tenant, sched_id);
    s_stage(b, tenant, copy, 0);
    json_decref(copy), json_decref(sched), json_decref(wf);
    zf_eng_commit(e, &b, c);
    return 0;
}
