/*  actors/automation.c — trigger, guard and error-handling checks. */
#include "actors/automation.h"
#include "actors/cron.h"
#include "actors/expr.h"
#include "actors/tz.h"
#include "broker/errors.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *const s_trigger_types[] = {
    "manual",         "webhook",       "schedule", "record.created",  "record.updated",
    "record.deleted", "field.changed", "event",    "form_submission", NULL};

int
zf_auto_module_valid(const char *m)
{
    size_t n = m ? strlen(m) : 0;
    if (n == 0 || n > 64 || m[0] < 'a' || m[0] > 'z') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = m[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return 0;
    }
    return 1;
}

//  A non-empty string of at most max bytes without control characters.
static int
s_plain_string(const json_t *v, size_t max)
{
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max) return 0;
    const unsigned char *p = (const unsigned char *)json_string_value(v);
    for (size_t i = 0; i < json_string_length(v); i++)
        if (p[i] < 0x20 || p[i] == 0x7f) return 0;
    return 1;
}

static int
s_path_segment_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

/*  Seed 001's event triggers ride on the record trigger index:
      ROW_ADDED / RECORD_UPDATED (filter.table_id)  -> record.created / record.updated
      FORM_APPROVED / FORM_REJECTED (filter.form_id) -> form.approved / form.rejected
      MATTER_STEP_COMPLETED / _REJECTED (filter.matter_template_id)
                                                     -> matter.step_completed / _rejected
      form_submission (form_id)                      -> form.submitted
    A missing filter id indexes under module "*": any table / form / template. */
static const struct {
    const char *event;   // seed 001 triggerType
    const char *type;    // engine event type
    const char *filter;  // filter key
} s_events001[] = {
    {"ROW_ADDED", "record.created", "table_id"},
    {"RECORD_UPDATED", "record.updated", "table_id"},
    {"FORM_APPROVED", "form.approved", "form_id"},
    {"FORM_REJECTED", "form.rejected", "form_id"},
    {"MATTER_STEP_COMPLETED", "matter.step_completed", "matter_template_id"},
    {"MATTER_STEP_REJECTED", "matter.step_rejected", "matter_template_id"},
};

const char *
zf_auto_event_index(const json_t *trigger, const char **module)
{
    const char *type = json_string_value(json_object_get(trigger, "type"));
    const json_t *filter = json_object_get(trigger, "filter");
    *module = NULL;
    if (type && strcmp(type, "form_submission") == 0) {
        *module = json_string_value(json_object_get(trigger, "form_id"));
        if (!*module) *module = "*";
        return "form.submitted";
    }
    const char *ev = json_string_value(json_object_get(trigger, "event"));
    for (size_t i = 0; ev && i < sizeof s_events001 / sizeof s_events001[0]; i++) {
        if (strcmp(ev, s_events001[i].event) != 0) continue;
        *module = json_string_value(json_object_get(filter, s_events001[i].filter));
        if (!*module) *module = "*";
        return s_events001[i].type;
    }
    return NULL;
}

bool
zf_auto_event_type_ok(const char *type)
{
    if (strcmp(type, "record.deleted") == 0 || strcmp(type, "form.submitted") == 0) return true;
    for (size_t i = 0; i < sizeof s_events001 / sizeof s_events001[0]; i++)
        if (strcmp(type, s_events001[i].type) == 0) return true;
    return false;
}

//  trigger {"type": "event", "event": NAME, "filter"?: {...}} or
//  {"type": "form_submission", "form_id"?}.
static int
s_event_trigger_check(const json_t *trigger, const char *type, char *err, size_t errlen)
{
    const char *module = NULL;
    if (strcmp(type, "event") == 0 && !zf_auto_event_index(trigger, &module))
        return zf_errf(err, errlen,
                       "trigger.event: must be one of MATTER_STEP_COMPLETED, "
                       "MATTER_STEP_REJECTED, FORM_APPROVED, FORM_REJECTED, ROW_ADDED, "
                       "RECORD_UPDATED");
    const json_t *filter = json_object_get(trigger, "filter");
    if (filter && !json_is_null(filter) && !json_is_object(filter))
        return zf_errf(err, errlen, "trigger.filter: must be an object");
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *)filter, k, v)
        if (!json_is_null(v) && !s_plain_string(v, 64))
            return zf_errf(err, errlen, "trigger.filter.%s: must be an id string", k);
    const json_t *fid = json_object_get(trigger, "form_id");
    if (fid && !json_is_null(fid) && !s_plain_string(fid, 64))
        return zf_errf(err, errlen, "trigger.form_id: must be an id string");
    //  Table filters name record modules, which have a syntax.
    const char *table = json_string_value(json_object_get(filter, "table_id"));
    if (table && !zf_auto_module_valid(table))
        return zf_errf(err, errlen,
                       "trigger.filter.table_id: must be a table (module) name: 1 to 64 of a-z, "
                       "0-9, _ and -, starting with a letter");
    return 0;
}

int
zf_auto_trigger_check(const json_t *trigger, char *err, size_t errlen)
{
    if (!json_is_object(trigger)) return zf_errf(err, errlen, "trigger: must be an object");
    const char *type = json_string_value(json_object_get(trigger, "type"));
    int known = 0;
    for (int i = 0; type && s_trigger_types[i]; i++)
        known |= strcmp(type, s_trigger_types[i]) == 0;
    if (!known)
        return zf_errf(err, errlen,
                       "trigger.type: must be one of manual, webhook, schedule, record.created, "
                       "record.updated, record.deleted, field.changed, event, form_submission");
    if (strcmp(type, "event") == 0 || strcmp(type, "form_submission") == 0)
        return s_event_trigger_check(trigger, type, err, errlen);
    json_t *module = json_object_get(trigger, "module");
    bool record = strncmp(type, "record.", 7) == 0 || strcmp(type, "field.changed") == 0;
    if ((record || module) && !zf_auto_module_valid(json_string_value(module)))
        return zf_errf(err, errlen, "trigger.module: %s",
                       module ? "must be 1 to 64 of a-z, 0-9, _ and -, starting with a letter"
                              : "required for record triggers");
    json_t *field = json_object_get(trigger, "field");
    if (strcmp(type, "field.changed") == 0 || field) {
        if (!json_is_string(field) || !s_path_segment_valid(json_string_value(field)))
            return zf_errf(err, errlen, "trigger.field: %s",
                           field ? "must be a field name of letters, digits, _, - and ."
                                 : "required for field.changed triggers");
    }
    json_t *sched = json_object_get(trigger, "schedule");
    if ((strcmp(type, "schedule") == 0 || sched) && !s_plain_string(sched, 256))
        return zf_errf(err, errlen, "trigger.schedule: %s",
                       sched ? "must be a cron expression" : "required for schedule triggers");
    char why[200];
    zf_cron_t cron;
    if (sched && zf_cron_parse(json_string_value(sched), &cron, why, sizeof why))
        return zf_errf(err, errlen, "trigger.schedule: %s", why);
    json_t *tz = json_object_get(trigger, "timezone");
    if (tz && (!s_plain_string(tz, 64) || !zf_tz_get(json_string_value(tz), why, sizeof why)))
        return zf_errf(err, errlen, "trigger.timezone: %s",
                       json_is_string(tz) ? why : "must be an IANA zone name");
    json_t *policy = json_object_get(trigger, "missed_execution_policy");
    const char *p = json_string_value(policy);
    if (policy && (!p || (strcmp(p, "run_immediately") && strcmp(p, "skip") && strcmp(p, "queue"))))
        return zf_errf(err, errlen,
                       "trigger.missed_execution_policy: must be run_immediately, skip or queue");
    json_t *path = json_object_get(trigger, "webhook_path");
    if (strcmp(type, "webhook") == 0 || path) {
        if (!json_is_string(path) || !s_path_segment_valid(json_string_value(path)))
            return zf_errf(err, errlen, "trigger.webhook_path: %s",
                           path ? "must be 1 to 128 of letters, digits, _, - and ."
                                : "required for webhook triggers");
    }
    return 0;
}

int
zf_auto_conditions_check(const json_t *conds, char *err, size_t errlen)
{
    if (!json_is_array(conds)) return zf_errf(err, errlen, "conditions: must be an array");
    if (json_array_size(conds) > 50) return zf_errf(err, errlen, "conditions: at most 50");
    size_t i;
    json_t *c;
    json_array_foreach (conds, i, c) {
        if (!json_is_object(c))
            return zf_errf(err, errlen, "conditions[%zu]: must be an object", i);
        const char *field = json_string_value(json_object_get(c, "field"));
        const char *op = json_string_value(json_object_get(c, "operator"));
        char path[300];
        snprintf(path, sizeof path, "$.%s", field ? field : "");
        if (!field || !field[0] || strlen(field) > 256 || !zf_expr_path_valid(path))
            return zf_errf(err, errlen, "conditions[%zu].field: must be a field name or path", i);
        if (!op || !zf_expr_op_valid(op))
            return zf_errf(err, errlen, "conditions[%zu].operator: unknown operator \"%s\"", i,
                           op ? op : "");
        if (zf_expr_op_needs_value(op) && !json_object_get(c, "value"))
            return zf_errf(err, errlen, "conditions[%zu].value: required for operator %s", i, op);
    }
    return 0;
}

int
zf_auto_error_handling_check(const json_t *eh, char *err, size_t errlen)
{
    if (!json_is_object(eh)) return zf_errf(err, errlen, "error_handling: must be an object");
    static const char *const thresholds[] = {"breaker_threshold", "disable_after_failures", NULL};
    for (int i = 0; thresholds[i]; i++) {
        json_t *v = json_object_get(eh, thresholds[i]);
        if (v &&
            (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1000000))
            return zf_errf(err, errlen, "error_handling.%s: must be an integer from 1 to 1000000",
                           thresholds[i]);
    }
    json_t *v = json_object_get(eh, "notify_on_failure");
    if (v && !json_is_boolean(v))
        return zf_errf(err, errlen, "error_handling.notify_on_failure: must be a boolean");
    v = json_object_get(eh, "notify_email");
    if (v && (!s_plain_string(v, 254) || !strchr(json_string_value(v), '@')))
        return zf_errf(err, errlen, "error_handling.notify_email: must be an email address");
    v = json_object_get(eh, "retry_delays_s");
    if (v) {
        if (!json_is_array(v) || json_array_size(v) > 10)
            return zf_errf(err, errlen,
                           "error_handling.retry_delays_s: must be an array of at most 10 delays");
        size_t i;
        json_t *d;
        json_array_foreach (v, i, d) {
            if (!json_is_number(d) || !isfinite(json_number_value(d)) || json_number_value(d) < 0 ||
                json_number_value(d) > 86400)
                return zf_errf(err, errlen,
                               "error_handling.retry_delays_s[%zu]: must be 0 to 86400 seconds", i);
        }
    }
    return 0;
}

/* ---- guard ---------------------------------------------------------------- */

static const char *const s_roots[] = {"record", "previous", "trigger", "user", NULL};

//  Resolves a condition field against ctx; *prev_out gets the same path
//  under `previous` when the field is record-relative.
static int
s_resolve(const json_t *ctx, const char *field, const json_t **actual, const json_t **prev)
{
    char path[300];
    const json_t *base = json_object_get(ctx, "record");
    const char *rel = field;
    for (int i = 0; s_roots[i]; i++) {
        size_t n = strlen(s_roots[i]);
        if (strncmp(field, s_roots[i], n) == 0 && (field[n] == '.' || field[n] == '[')) {
            base = json_object_get(ctx, s_roots[i]);
            rel = field + n + (field[n] == '.');
            break;
        }
    }
    bool record_rel = base == json_object_get(ctx, "record");
    snprintf(path, sizeof path, field == rel || rel[0] != '[' ? "$.%s" : "$%s", rel);
    const char *why = NULL;
    zf_expr_scope_t sc = {.input = base};
    *actual = zf_expr_path(&sc, path, &why);
    if (why) return ZF_EINVAL;
    sc.input = json_object_get(ctx, "previous");
    *prev = record_rel && sc.input ? zf_expr_path(&sc, path, &why) : NULL;
    return 0;
}

int
zf_auto_guard(const json_t *conds, const json_t *ctx, json_t **evaluated, char *err, size_t errlen)
{
    if (evaluated) *evaluated = json_array();
    int all = 1;
    size_t i;
    json_t *c;
    json_array_foreach (conds, i, c) {
        const char *field = json_string_value(json_object_get(c, "field"));
        const char *op = json_string_value(json_object_get(c, "operator"));
        const json_t *value = json_object_get(c, "value"), *actual = NULL, *prev = NULL;
        int rc = field && op ? s_resolve(ctx, field, &actual, &prev) : ZF_EINVAL;
        if (rc == 0) rc = zf_expr_compare_change(actual, prev, op, value);
        if (rc < 0) {
            if (evaluated) json_decref(*evaluated), *evaluated = NULL;
            return zf_errf(err, errlen, "condition_evaluation_failed: conditions[%zu] (%s %s)", i,
                           field ? field : "?", op ? op : "?");
        }
        if (evaluated)
            json_array_append_new(*evaluated, json_pack("{s:s, s:s, s:O?, s:O?, s:b}", "field",
                                                        field, "operator", op, "value", value,
                                                        "actual_value", actual, "passed", rc));
        if (!rc) {
            all = 0;
            if (!evaluated) break;
        }
    }
    return all;
}
