/*  actors/steps/set.c — kind "set": assign run variables.

    config: {"values": {name: value, ...}} ("variables" is an alias).
    A string value that is exactly a path ($.x, $inputs.x, $vars.x,
    $steps.n.x) is resolved (absent -> null); anything else is copied as is.
    All values are computed first, then written to ctx->vars together, so a
    value never sees a sibling assigned by the same step.
    output: {name: value, ...} of the values set.
*/
#include "actors/expr.h"
#include "actors/step.h"

#include <stdio.h>
#include <string.h>

#define S_NAME_MAX   128   // bytes in a variable name
#define S_VALUES_MAX 1000  // variables set by one step

//  The assignment map and its config key ("values" or "variables").
static const json_t *
s_values(const json_t *config, const char **key)
{
    *key = "values";
    const json_t *v = json_object_get(config, "values");
    if (!v && json_object_get(config, "variables")) {
        *key = "variables";
        v = json_object_get(config, "variables");
    }
    return v;
}

//  1 if s is meant as a path: "$." / "$[" or a scope name then '.', '[' or end.
static int
s_looks_like_path(const char *s)
{
    static const char *const scopes[] = {"$inputs", "$input", "$vars", "$variables", "$steps"};
    if (strncmp(s, "$.", 2) == 0 || strncmp(s, "$[", 2) == 0) return 1;
    for (size_t i = 0; i < sizeof scopes / sizeof scopes[0]; i++) {
        size_t n = strlen(scopes[i]);
        if (strncmp(s, scopes[i], n) == 0 && (s[n] == '\0' || s[n] == '.' || s[n] == '[')) return 1;
    }
    return 0;
}

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    const char *key, *name;
    const json_t *values = s_values(config, &key), *v;
    if (!json_is_object(values) || json_object_size(values) == 0) {
        snprintf(err, errlen, "config.%s: must be an object with at least one entry", key);
        return -1;
    }
    if (json_object_size(values) > S_VALUES_MAX) {
        snprintf(err, errlen, "config.%s: more than %d entries", key, S_VALUES_MAX);
        return -1;
    }
    json_object_foreach ((json_t *)values, name, v) {
        const char *perr = NULL;
        if (strlen(name) == 0 || strlen(name) > S_NAME_MAX) {
            snprintf(err, errlen, "config.%s: variable names must be 1..%d bytes", key, S_NAME_MAX);
            return -1;
        }
        if (json_is_string(v) && s_looks_like_path(json_string_value(v)))
            zf_expr_path(NULL, json_string_value(v), &perr);
        if (perr) {
            snprintf(err, errlen, "config.%s.%.128s: bad path: %s", key, name, perr);
            return -1;
        }
    }
    return 0;
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    const char *key, *name;
    const json_t *values = s_values(config, &key), *v;
    zf_expr_scope_t scope = {ctx->input, ctx->inputs, ctx->vars, ctx->steps};
    if (!json_is_object(values) || !json_is_object(ctx->vars)) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "config.%s: must be an object", key);
        return;
    }
    json_t *out = json_object();
    json_object_foreach ((json_t *)values, name, v) {
        json_t *val;
        if (json_is_string(v) && s_looks_like_path(json_string_value(v)) &&
            zf_expr_path_valid(json_string_value(v))) {
            const json_t *found = zf_expr_path(&scope, json_string_value(v), NULL);
            val = found ? json_deep_copy(found) : json_null();
        } else {
            val = json_deep_copy(v);
        }
        json_object_set_new(out, name, val);
    }
    json_object_update(ctx->vars, out);
    res->status = ZF_STEP_OK;
    res->output = out;
}

const zf_step_kind_t zf_step_kind_set = {
    .name = "set", .validate = s_validate, .exec = s_exec, .cpu_only = 1};
