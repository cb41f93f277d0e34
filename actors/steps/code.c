/*  actors/steps/code.c — kind "code": sandboxed JavaScript (duktape).

    config: {"code": str (the body of a function, 1..65536 bytes),
             "timeout_ms"?: 1..10000 (default 1000),
             "memory_mb"?: 1..256 (default 64),
             "logs"?: bool (default false)}
    The script sees the globals input, inputs, vars, steps and trigger
    (JSON copies of the run's scopes) and `return`s the step output
    (undefined -> null). With "logs": true the output is instead
    {"result": <returned value>, "logs": [console lines]}. The language is
    ECMAScript 5.1 (duktape 2.7); no filesystem, network, process or
    modules. Every failure is final (FAIL_FINAL): a retry would fail the
    same way. Validation compiles the code. docs/code-step.md has the rest.
*/
#include "actors/jsvm.h"
#include "actors/step.h"

#include <stdio.h>
#include <string.h>

#define S_CODE_MAX       65536         // bytes of source
#define S_TIMEOUT_MS     1000          // default CPU/wall budget
#define S_TIMEOUT_MAX    10000         // largest timeout_ms
#define S_MEMORY_MB      64            // default heap cap
#define S_MEMORY_MAX     256           // largest memory_mb
#define S_OUTPUT_MAX     (256u << 10)  // bytes of the result as JSON
#define S_LOG_LINES      100           // console lines kept with "logs": true
#define S_LOG_LINE_BYTES 1000          // bytes kept of each line

//  0 and *out when config[key] is absent (def) or an integer in lo..hi.
static int
s_int_field(const json_t *config, const char *key, json_int_t lo, json_int_t hi, json_int_t def,
            json_int_t *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(config, key);
    *out = def;
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(err, errlen, "config.%s: must be an integer from %lld to %lld", key, (long long)lo,
                 (long long)hi);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

//  The fields without compiling (exec compiles anyway).
static int
s_check_fields(const json_t *config, char *err, size_t errlen)
{
    const json_t *code = json_object_get(config, "code"), *logs = json_object_get(config, "logs");
    json_int_t t, m;
    if (!json_is_string(code) || json_string_length(code) == 0 ||
        json_string_length(code) > S_CODE_MAX) {
        snprintf(err, errlen, "config.code: must be a non-empty string of at most %d bytes",
                 S_CODE_MAX);
        return -1;
    }
    if (s_int_field(config, "timeout_ms", 1, S_TIMEOUT_MAX, S_TIMEOUT_MS, &t, err, errlen) ||
        s_int_field(config, "memory_mb", 1, S_MEMORY_MAX, S_MEMORY_MB, &m, err, errlen))
        return -1;
    if (logs && !json_is_boolean(logs)) {
        snprintf(err, errlen, "config.logs: must be a boolean");
        return -1;
    }
    return 0;
}

//  Checks the fields, then compiles the code: a syntax error is reported
//  with its line ("config.code: SyntaxError: ... (line 3)").
static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    const json_t *code = json_object_get(config, "code");
    char why[256];
    if (s_check_fields(config, err, errlen)) return -1;
    if (zf_jsvm_check(json_string_value(code), json_string_length(code), why, sizeof why, NULL)) {
        snprintf(err, errlen, "config.code: %s", why);
        return -1;
    }
    return 0;
}

//  The scopes the script sees as globals (borrowed values, new object).
static json_t *
s_globals(const zf_step_ctx_t *ctx)
{
    json_t *g = json_object();
    json_object_set_new(g, "input", ctx->input ? json_incref((json_t *)ctx->input) : json_null());
    json_object_set_new(g, "inputs",
                        ctx->inputs ? json_incref((json_t *)ctx->inputs) : json_object());
    json_object_set_new(g, "vars", ctx->vars ? json_incref(ctx->vars) : json_object());
    json_object_set_new(g, "steps", ctx->steps ? json_incref((json_t *)ctx->steps) : json_object());
    json_object_set_new(g, "trigger",
                        ctx->trigger ? json_incref((json_t *)ctx->trigger) : json_object());
    return g;
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    if (!zf_step_config_ok(s_check_fields, config, res)) return;
    const json_t *code = json_object_get(config, "code");
    int logs = json_is_true(json_object_get(config, "logs"));
    json_int_t timeout, mb;
    char err[128];
    s_int_field(config, "timeout_ms", 1, S_TIMEOUT_MAX, S_TIMEOUT_MS, &timeout, err, sizeof err);
    s_int_field(config, "memory_mb", 1, S_MEMORY_MAX, S_MEMORY_MB, &mb, err, sizeof err);
    if (ctx->timeout_ms > 0 && ctx->timeout_ms < timeout) timeout = ctx->timeout_ms;
    zf_jsvm_limits_t lim = {.timeout_ms = timeout,
                            .memory_bytes = (size_t)mb << 20,
                            .output_bytes = S_OUTPUT_MAX,
                            .log_lines = logs ? S_LOG_LINES : 0,
                            .log_line_bytes = S_LOG_LINE_BYTES};
    zf_jsvm_result_t run;
    json_t *globals = s_globals(ctx);
    zf_jsvm_run(json_string_value(code), json_string_length(code), globals, &lim, &run);
    json_decref(globals);
    if (run.status != ZF_JSVM_OK) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "code: %s", run.error);
    } else {
        res->status = ZF_STEP_OK;
        res->output = logs ? json_pack("{s:O,s:O}", "result", run.value, "logs", run.logs)
                           : json_incref(run.value);
    }
    zf_jsvm_result_clear(&run);
}

const zf_step_kind_t zf_step_kind_code = {
    .name = "code", .validate = s_validate, .exec = s_exec, .cpu_only = 0};
