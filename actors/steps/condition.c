/*  actors/steps/condition.c — kind "condition": evaluate one comparison.

    config: {"field": "$.path", "operator": "equals", "value": ...,
             "on_false": "stop" | "continue" | "branch",
             "previous_field": "$.previous.path"}
    output: {"passed", "field", "operator", "value", "actual", "previous"}.
    False with on_false "stop" (default) ends the run (ZF_STEP_STOP, output
    still set); otherwise ZF_STEP_OK and the run actor branches on `passed`.

    changed/changed_to/changed_from compare with the field's previous value,
    read from previous_field, or by default from the "previous" object of the
    node input: $.record.x -> $.previous.x, $.x -> $.previous.x.
*/
#include "actors/expr.h"
#include "actors/step.h"

#include <stdio.h>
#include <string.h>

static int
s_on_false_valid(const json_t *v)
{
    const char *s = json_string_value(v);
    return s && (!strcmp(s, "stop") || !strcmp(s, "continue") || !strcmp(s, "branch"));
}

static int
s_check_path(const json_t *config, const char *key, char *err, size_t errlen)
{
    const char *perr = NULL;
    const char *s = json_string_value(json_object_get(config, key));
    if (!s) {
        snprintf(err, errlen, "config.%s: must be a path string like $.a.b", key);
        return -1;
    }
    zf_expr_path(NULL, s, &perr);
    if (perr) {
        snprintf(err, errlen, "config.%s: bad path: %s", key, perr);
        return -1;
    }
    return 0;
}

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    if (s_check_path(config, "field", err, errlen) != 0) return -1;
    const char *op = json_string_value(json_object_get(config, "operator"));
    const json_t *value = json_object_get(config, "value");
    const json_t *on_false = json_object_get(config, "on_false");
    if (!zf_expr_op_valid(op)) {
        snprintf(err, errlen, "config.operator: unknown operator '%.64s'", op ? op : "");
        return -1;
    }
    if (zf_expr_op_needs_value(op) && !value) {
        snprintf(err, errlen, "config.value: required for operator '%s'", op);
        return -1;
    }
    if (!strcmp(op, "in") && !json_is_array(value)) {
        snprintf(err, errlen, "config.value: must be an array for operator 'in'");
        return -1;
    }
    if (on_false && !s_on_false_valid(on_false)) {
        snprintf(err, errlen, "config.on_false: must be \"stop\", \"continue\" or \"branch\"");
        return -1;
    }
    if (json_object_get(config, "previous_field") &&
        s_check_path(config, "previous_field", err, errlen) != 0)
        return -1;
    return 0;
}

//  Default previous-value path for a field: $.record.x / $.x -> $.previous.x.
static void
s_previous_path(const char *field, char *buf, size_t len)
{
    buf[0] = '\0';
    if (!strncmp(field, "$.record", 8) && (field[8] == '.' || field[8] == '['))
        snprintf(buf, len, "$.previous%s", field + 8);
    else if (!strncmp(field, "$.", 2))
        snprintf(buf, len, "$.previous.%s", field + 2);
}

static const json_t *
s_previous(const zf_expr_scope_t *scope, const json_t *config, const char *field)
{
    char buf[300];
    const char *path = json_string_value(json_object_get(config, "previous_field"));
    if (!path) {
        s_previous_path(field, buf, sizeof buf);
        path = buf;
    }
    return zf_expr_path_valid(path) ? zf_expr_path(scope, path, NULL) : NULL;
}

static json_t *
s_copy_or_null(const json_t *v)
{
    return v ? json_deep_copy(v) : json_null();
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    if (!zf_step_config_ok(s_validate, config, res)) return;
    zf_expr_scope_t scope = {ctx->input, ctx->inputs, ctx->vars, ctx->steps};
    const char *field = json_string_value(json_object_get(config, "field"));
    const char *op = json_string_value(json_object_get(config, "operator"));
    const json_t *value = json_object_get(config, "value");
    const json_t *actual = zf_expr_path(&scope, field, NULL);
    const json_t *prev = zf_expr_op_uses_previous(op) ? s_previous(&scope, config, field) : NULL;
    int rc = zf_expr_compare_change(actual, prev, op, value);
    if (rc < 0) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "condition: operator '%s' cannot compare", op);
        return;
    }
    res->passed = rc;
    res->output = json_pack("{s:b, s:s, s:s, s:o, s:o}", "passed", rc, "field", field, "operator",
                            op, "value", s_copy_or_null(value), "actual", s_copy_or_null(actual));
    if (zf_expr_op_uses_previous(op))
        json_object_set_new(res->output, "previous", s_copy_or_null(prev));
    const char *on_false = json_string_value(json_object_get(config, "on_false"));
    res->status = !rc && (!on_false || !strcmp(on_false, "stop")) ? ZF_STEP_STOP : ZF_STEP_OK;
}

const zf_step_kind_t zf_step_kind_condition = {
    .name = "condition", .validate = s_validate, .exec = s_exec, .cpu_only = 1};
