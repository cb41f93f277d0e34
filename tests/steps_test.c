/*  tests/steps_test.c — step kinds: set, condition, delay, http_request,
    integration, agent.

    http_request runs against tests/http_sink.py, a real HTTP server on
    127.0.0.1 started once for the whole file. Positive tests allow
    127.0.0.1/32 through the egress guard; negative ones do not.
*/
#include "tests/step_fixture.h"

#include "actors/definition.h"

#include <time.h>

// =========================================================================
//  Registry
// =========================================================================

static void
test_registry_lists_kinds(void **state)
{
    (void)state;
    const char *names[] = {"set",         "condition", "delay", "http_request",
                           "integration", "agent",     "ai"};
    for (size_t i = 0; i < 7; i++) {
        const zf_step_kind_t *k = zf_step_find(names[i]);
        assert_non_null(k);
        assert_string_equal(k->name, names[i]);
        assert_non_null(k->validate);
        assert_non_null(k->exec);
    }
    assert_null(zf_step_find("nope"));
    assert_null(zf_step_find(NULL));
    size_t n = 0;
    for (const zf_step_kind_t *const *k = zf_step_kinds(); *k; k++)
        n++;
    assert_true(n >= 6);
    zf_step_result_t res = {0};
    res.output = json_object();
    zf_step_fail(&res, ZF_STEP_FAIL, "x=%d", 7);
    assert_int_equal(res.status, ZF_STEP_FAIL);
    assert_string_equal(res.error, "x=7");
    zf_step_result_clear(&res);
    assert_null(res.output);
    assert_int_equal(res.error[0], 0);
}

// =========================================================================
//  set
// =========================================================================

static void
test_set_resolves_paths_and_copies_literals(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, NULL);
    zf_step_result_t res = s_run(
        &env, "set",
        s_json("{\"values\":{\"a\":1,\"b\":\"$.order.id\",\"c\":\"$inputs.user\",\"d\":\"$vars.x\","
               "\"e\":\"$steps.n1.status\",\"f\":\"$.missing\",\"g\":\"costs $5\","
               "\"h\":{\"nested\":\"$.order.id\"},\"x\":2,\"y\":\"$vars.x\"}}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    json_t *want = s_json("{\"a\":1,\"b\":\"o-1\",\"c\":{\"email\":\"a@b.c\"},\"d\":1,\"e\":200,"
                          "\"f\":null,\"g\":\"costs $5\",\"h\":{\"nested\":\"$.order.id\"},"
                          "\"x\":2,\"y\":1}");
    assert_true(json_equal(res.output, want));
    //  Variables were written together: y saw the old x.
    json_object_set_new(want, "x", json_integer(2));
    assert_true(json_equal(env.vars, want));
    json_decref(want);
    zf_step_result_clear(&res);
    res = s_run(&env, "set", s_json("{\"variables\":{\"z\":\"$.order.total\"}}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    assert_int_equal(json_integer_value(json_object_get(env.vars, "z")), 120);
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_set_validate_errors(void **state)
{
    (void)state;
    char long_name[160];
    snprintf(long_name, sizeof long_name, "{'values':{'%0129d':1}}", 0);
    const s_vcase_t cases[] = {
        {"{}", "config.values: must be an object"},
        {"{'values':{}}", "config.values: must be an object"},
        {"{'values':[1]}", "config.values"},
        {"{'variables':3}", "config.variables"},
        {"{'values':{'':1}}", "names must be 1..128"},
        {long_name, "names must be 1..128"},
        {"{'values':{'a':'$.a..b'}}", "config.values.a: bad path"},
        {"{'values':{'a':'$vars.'}}", "config.values.a: bad path"},
        {"{'values':{'a':'$5','b':'$.ok'}}", NULL},
    };
    CHECK_VALIDATE("set", cases);
}

// =========================================================================
//  condition
// =========================================================================

static void
test_condition_true_and_false(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, NULL);
    zf_step_result_t res =
        s_run(&env, "condition",
              s_json("{\"field\":\"$.order.total\",\"operator\":\"greater_than\",\"value\":100}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    assert_int_equal(res.passed, 1);
    assert_true(json_is_true(json_object_get(res.output, "passed")));
    assert_int_equal(json_integer_value(json_object_get(res.output, "actual")), 120);
    assert_string_equal(s_str(res.output, "field"), "$.order.total");
    zf_step_result_clear(&res);

    res = s_run(&env, "condition",
                s_json("{\"field\":\"$.order.total\",\"operator\":\"less_than\",\"value\":100}"));
    assert_int_equal(res.status, ZF_STEP_STOP);
    assert_int_equal(res.passed, 0);
    assert_true(json_is_false(json_object_get(res.output, "passed")));
    zf_step_result_clear(&res);

    const char *modes[] = {"continue", "branch"};
    for (int i = 0; i < 2; i++) {
        res = s_run(&env, "condition",
                    s_cfg("{\"field\":\"$vars.nope\",\"operator\":\"equals\",\"value\":1,"
                          "\"on_false\":\"%s\"}",
                          modes[i]));
        assert_int_equal(res.status, ZF_STEP_OK);
        assert_int_equal(res.passed, 0);
        assert_true(json_is_null(json_object_get(res.output, "actual")));
        zf_step_result_clear(&res);
    }
    res = s_run(&env, "condition", s_json("{\"field\":\"$.nope\",\"operator\":\"is_empty\"}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    assert_int_equal(res.passed, 1);
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_condition_changed_to_uses_previous(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, NULL);
    zf_step_result_t res = s_run(
        &env, "condition",
        s_json(
            "{\"field\":\"$.record.stage\",\"operator\":\"changed_to\",\"value\":\"proposal\"}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    assert_int_equal(res.passed, 1);
    assert_string_equal(s_str(res.output, "previous"), "draft");
    zf_step_result_clear(&res);
    res = s_run(&env, "condition",
                s_json("{\"field\":\"$.record.stage\",\"operator\":\"changed_from\",\"value\":"
                       "\"proposal\",\"previous_field\":\"$.record.stage\"}"));
    assert_int_equal(res.status, ZF_STEP_STOP);
    assert_int_equal(res.passed, 0);
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_condition_validate_errors(void **state)
{
    (void)state;
    static const s_vcase_t cases[] = {
        {"{'operator':'equals','value':1}", "config.field"},
        {"{'field':'a.b','operator':'equals','value':1}", "config.field: bad path"},
        {"{'field':'$.a[','operator':'equals','value':1}", "config.field: bad path"},
        {"{'field':'$.a','operator':'like','value':1}", "config.operator: unknown operator 'like'"},
        {"{'field':'$.a','value':1}", "config.operator"},
        {"{'field':'$.a','operator':'equals'}", "config.value: required"},
        {"{'field':'$.a','operator':'in','value':'x'}", "config.value: must be an array"},
        {"{'field':'$.a','operator':'is_empty','on_false':'explode'}", "config.on_false"},
        {"{'field':'$.a','operator':'changed','previous_field':'x'}",
         "config.previous_field: bad path"},
        {"{'field':'$.a','operator':'is_not_empty'}", NULL},
        {"{'field':'$.a','operator':'in','value':[1,2],'on_false':'branch'}", NULL},
    };
    CHECK_VALIDATE("condition", cases);
}

// =========================================================================
//  delay
// =========================================================================

static void
test_delay_waits_then_completes(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, NULL);
    zf_step_result_t res = s_run(&env, "delay", s_json("{\"duration\":5,\"unit\":\"minutes\"}"));
    assert_int_equal(res.status, ZF_STEP_WAIT);
    assert_int_equal(res.wake_at_ms, env.ctx.now_ms + 300000);
    assert_null(res.output);
    zf_step_result_clear(&res);
    env.ctx.resumed = 1;
    res = s_run(&env, "delay", s_json("{\"duration\":5,\"unit\":\"minutes\"}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    assert_int_equal(json_integer_value(json_object_get(res.output, "delayed_ms")), 300000);
    zf_step_result_clear(&res);
    env.ctx.resumed = 0;
    res = s_run(&env, "delay", s_json("{\"duration\":1.5}"));
    assert_int_equal(res.status, ZF_STEP_WAIT);
    assert_int_equal(res.wake_at_ms, env.ctx.now_ms + 1500);
    zf_step_result_clear(&res);
    res = s_run(&env, "delay", s_json("{\"duration\":250,\"unit\":\"milliseconds\"}"));
    assert_int_equal(res.wake_at_ms, env.ctx.now_ms + 250);
    zf_step_result_clear(&res);
    res = s_run(&env, "delay", s_json("{\"duration\":0}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_delay_validate_errors(void **state)
{
    (void)state;
    static const s_vcase_t cases[] = {
        {"{}", "config.duration: must be a non-negative number"},
        {"{'duration':'5'}", "config.duration"},
        {"{'duration':-1}", "config.duration"},
        {"{'duration':1,'unit':'weeks'}", "config.unit"},
        {"{'duration':1,'unit':3}", "config.unit"},
        {"{'duration':86401}", "config.duration: at most 86400 seconds"},
        {"{'duration':1441,'unit':'minutes'}", "at most 1440 minutes"},
        {"{'duration':25,'unit':'hours'}", "at most 24 hours"},
        {"{'duration':8,'unit':'days'}", "at most 7 days"},
        {"{'duration':7,'unit':'days'}", NULL},
        {"{'duration':86400}", NULL},
    };
    CHECK_VALIDATE("delay", cases);
}

// =========================================================================
//  http_request
// =========================================================================

static void
test_http_get_and_post_round_trip(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, "127.0.0.1/32");
    zf_step_result_t res = s_run(
        &env, "http_request",
        s_cfg("{\"url\":\"http://127.0.0.1:%d/echo\",\"headers\":{\"X-Test\":\"yes\"}}", s_port));
    assert_int_equal(res.status, ZF_STEP_OK);
    assert_int_equal(json_integer_value(json_object_get(res.output, "status")), 200);
    json_t *body = json_object_get(res.output, "body");
    assert_string_equal(s_str(body, "method"), "GET");
    json_t *hdrs = json_object_get(body, "headers");
    assert_string_equal(s_str(hdrs, "idempotency-key"), "run-1.node-1");
    assert_string_equal(s_str(hdrs, "x-test"), "yes");
    assert_string_equal(s_str(json_object_get(res.output, "headers"), "content-type"),
                        "application/json");
    zf_step_result_clear(&res);

    res = s_run(&env, "http_request",
                s_cfg("{\"method\":\"post\",\"url\":\"http://127.0.0.1:%d/echo\","
                      "\"body\":{\"a\":[1,2],\"s\":\"\\u00e9\"}}",
                      s_port));
    assert_int_equal(res.status, ZF_STEP_OK);
    body = json_object_get(res.output, "body");
    assert_string_equal(s_str(body, "method"), "POST");
    assert_string_equal(s_str(json_object_get(body, "headers"), "content-type"),
                        "application/json");
    json_t *want = s_json("{\"a\":[1,2],\"s\":\"\\u00e9\"}");
    assert_true(json_equal(json_object_get(body, "json"), want));
    json_decref(want);
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_http_methods_and_string_body(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, "127.0.0.1/32");
    zf_step_result_t res = s_run(
        &env, "http_request",
        s_cfg("{\"method\":\"PUT\",\"url\":\"http://127.0.0.1:%d/echo\",\"body\":\"hi there\"}",
              s_port));
    assert_int_equal(res.status, ZF_STEP_OK);
    json_t *body = json_object_get(res.output, "body");
    assert_string_equal(s_str(body, "method"), "PUT");
    assert_string_equal(s_str(body, "body"), "hi there");
    zf_step_result_clear(&res);
    const char *methods[] = {"DELETE", "PATCH"};
    for (int i = 0; i < 2; i++) {
        res = s_run(
            &env, "http_request",
            s_cfg("{\"method\":\"%s\",\"url\":\"http://127.0.0.1:%d/echo\"}", methods[i], s_port));
        assert_int_equal(res.status, ZF_STEP_OK);
        assert_string_equal(s_str(json_object_get(res.output, "body"), "method"), methods[i]);
        zf_step_result_clear(&res);
    }
    res = s_run(&env, "http_request",
                s_cfg("{\"method\":\"HEAD\",\"url\":\"http://127.0.0.1:%d/echo\"}", s_port));
    assert_int_equal(res.status, ZF_STEP_OK);
    assert_string_equal(s_str(res.output, "body"), "");
    zf_step_result_clear(&res);
    //  A non-JSON body stays a string; an invalid UTF-8 byte becomes U+FFFD.
    res = s_run(&env, "http_request", s_cfg("{\"url\":\"http://127.0.0.1:%d/text\"}", s_port));
    assert_int_equal(res.status, ZF_STEP_OK);
    assert_string_equal(s_str(res.output, "body"), "hello \xef\xbf\xbd world");
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_http_idempotency_key_counted_by_sink(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, "127.0.0.1/32");
    env.ctx.run_id = "run-idem";
    env.ctx.node_id = "n7";
    for (int i = 1; i <= 2; i++) {
        zf_step_result_t res =
            s_run(&env, "http_request",
                  s_cfg("{\"method\":\"POST\",\"url\":\"http://127.0.0.1:%d/hit\"}", s_port));
        assert_int_equal(res.status, ZF_STEP_OK);
        json_t *body = json_object_get(res.output, "body");
        assert_string_equal(s_str(body, "key"), "run-idem.n7");
        assert_int_equal(json_integer_value(json_object_get(body, "n")), i);
        zf_step_result_clear(&res);
    }
    zf_step_result_t res =
        s_run(&env, "http_request", s_cfg("{\"url\":\"http://127.0.0.1:%d/counts\"}", s_port));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(res.output, "body"), "run-idem.n7")), 2);
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_http_status_outcomes(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, "127.0.0.1/32");
    static const struct {
        int code;
        zf_step_status_t want;
        int64_t retry_after_ms;
    } cases[] = {{500, ZF_STEP_FAIL, 0},       {502, ZF_STEP_FAIL, 0},
                 {408, ZF_STEP_FAIL, 0},       {429, ZF_STEP_FAIL, 1000},
                 {503, ZF_STEP_FAIL, 1000},    {404, ZF_STEP_FAIL_FINAL, 0},
                 {400, ZF_STEP_FAIL_FINAL, 0}, {204, ZF_STEP_OK, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        zf_step_result_t res =
            s_run(&env, "http_request",
                  s_cfg("{\"url\":\"http://127.0.0.1:%d/status/%d\"}", s_port, cases[i].code));
        if (res.status != cases[i].want)
            fail_msg("status %d -> outcome %d (%s)", cases[i].code, res.status, res.error);
        assert_int_equal(res.retry_after_ms, cases[i].retry_after_ms);
        assert_int_equal(json_integer_value(json_object_get(res.output, "status")), cases[i].code);
        if (cases[i].want != ZF_STEP_OK) assert_non_null(strstr(res.error, "HTTP"));
        zf_step_result_clear(&res);
    }
    s_env_free(&env);
}

static void
test_http_retry_after_forms(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, "127.0.0.1/32");
    //  ctx now is 1700000000000 = Tue, 14 Nov 2023 22:13:20 GMT.
    static const struct {
        const char *value;
        int64_t want_ms;
    } cases[] = {{"30", 30000},
                 {"Tue%2C%2014%20Nov%202023%2022%3A13%3A50%20GMT", 30000},
                 {"Mon%2C%2013%20Nov%202023%2000%3A00%3A00%20GMT", 0},
                 {"soon", 0},
                 {"99999999999", 86400000}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        zf_step_result_t res =
            s_run(&env, "http_request",
                  s_cfg("{\"url\":\"http://127.0.0.1:%d/status/503?retry_after=%s\"}", s_port,
                        cases[i].value));
        assert_int_equal(res.status, ZF_STEP_FAIL);
        if (res.retry_after_ms != cases[i].want_ms)
            fail_msg("Retry-After %s -> %lld ms", cases[i].value, (long long)res.retry_after_ms);
        zf_step_result_clear(&res);
    }
    s_env_free(&env);
}

static void
test_http_binary_string_body(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, "127.0.0.1/32");
    zf_step_result_t res = s_run(
        &env, "http_request",
        s_cfg("{\"method\":\"POST\",\"url\":\"http://127.0.0.1:%d/echo\",\"body\":\"a\\u0000b\"}",
              s_port));
    assert_int_equal(res.status, ZF_STEP_OK);
    //  The echo holds "\u0000", which the step does not decode (no NULs in
    //  parsed JSON): the body stays the raw text, proving all 3 bytes arrived.
    const char *raw = s_str(res.output, "body");
    assert_non_null(raw);
    assert_non_null(strstr(raw, "\"body\": \"a\\u0000b\""));
    assert_non_null(strstr(raw, "\"content-type\": \"text/plain; charset=utf-8\""));
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_http_timeout_is_retryable(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, "127.0.0.1/32");
    zf_step_result_t res =
        s_run(&env, "http_request",
              s_cfg("{\"url\":\"http://127.0.0.1:%d/slow?ms=3000\",\"timeout_ms\":200}", s_port));
    assert_int_equal(res.status, ZF_STEP_FAIL);
    assert_non_null(strstr(res.error, "timeout after 200 ms"));
    zf_step_result_clear(&res);
    //  The node timeout overrides the config.
    env.ctx.timeout_ms = 150;
    res =
        s_run(&env, "http_request",
              s_cfg("{\"url\":\"http://127.0.0.1:%d/slow?ms=3000\",\"timeout_ms\":60000}", s_port));
    assert_int_equal(res.status, ZF_STEP_FAIL);
    assert_non_null(strstr(res.error, "timeout after 150 ms"));
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static int64_t
s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
test_http_egress_refused_without_allow_list(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, NULL);
    env.ctx.run_id = "run-egress";
    zf_step_result_t res =
        s_run(&env, "http_request", s_cfg("{\"url\":\"http://127.0.0.1:%d/hit\"}", s_port));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_string_equal(res.error, "egress refused: 127.0.0.1 is not allowed (see --egress-allow)");
    assert_null(res.output);
    zf_step_result_clear(&res);
    res = s_run(&env, "http_request", s_cfg("{\"url\":\"http://localhost:%d/hit\"}", s_port));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_non_null(strstr(res.error, "egress refused"));
    zf_step_result_clear(&res);
    //  Nothing reached the sink.
    s_env_free(&env);
    s_env_init(&env, "127.0.0.1/32");
    res = s_run(&env, "http_request", s_cfg("{\"url\":\"http://127.0.0.1:%d/counts\"}", s_port));
    assert_int_equal(res.status, ZF_STEP_OK);
    assert_null(json_object_get(json_object_get(res.output, "body"), "run-egress.node-1"));
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_http_redirect_to_denied_address_refused(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, "127.0.0.1/32");
    //  10.255.255.1 would hang until the timeout if a connect were tried.
    int64_t t0 = s_mono_ms();
    zf_step_result_t res =
        s_run(&env, "http_request",
              s_cfg("{\"url\":\"http://127.0.0.1:%d/redirect?to=http%%3A%%2F%%2F10.255.255.1%%2F\","
                    "\"timeout_ms\":5000}",
                    s_port));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_string_equal(res.error,
                        "egress refused: 10.255.255.1 is not allowed (see --egress-allow)");
    assert_true(s_mono_ms() - t0 < 2000);
    zf_step_result_clear(&res);
    res = s_run(&env, "http_request",
                s_cfg("{\"url\":\"http://127.0.0.1:%1$d/redirect?to=http%%3A%%2F%%2F%%5B%%3A%%3A1%%"
                      "5D%%3A%1$d%%2Fhit\"}",
                      s_port));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_string_equal(res.error, "egress refused: ::1 is not allowed (see --egress-allow)");
    zf_step_result_clear(&res);
    //  An allowed target is followed; follow_redirects false stops at the 302.
    res = s_run(&env, "http_request",
                s_cfg("{\"url\":\"http://127.0.0.1:%1$d/redirect?to=http%%3A%%2F%%2F127.0.0.1%%"
                      "3A%1$d%%2Fecho\"}",
                      s_port));
    assert_int_equal(res.status, ZF_STEP_OK);
    assert_string_equal(s_str(json_object_get(res.output, "body"), "path"), "/echo");
    zf_step_result_clear(&res);
    res = s_run(&env, "http_request",
                s_cfg("{\"url\":\"http://127.0.0.1:%d/redirect?to=http%%3A%%2F%%2F10.0.0.1%%2F\","
                      "\"follow_redirects\":false}",
                      s_port));
    assert_int_equal(res.status, ZF_STEP_OK);
    assert_int_equal(json_integer_value(json_object_get(res.output, "status")), 302);
    assert_string_equal(s_str(json_object_get(res.output, "headers"), "location"),
                        "http://10.0.0.1/");
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_http_localhost_and_redirect_loop(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, "127.0.0.1/32");
    //  localhost may resolve to ::1 first: refused, then 127.0.0.1 connects.
    zf_step_result_t res =
        s_run(&env, "http_request", s_cfg("{\"url\":\"http://localhost:%d/echo\"}", s_port));
    assert_int_equal(res.status, ZF_STEP_OK);
    assert_string_equal(s_str(json_object_get(res.output, "body"), "path"), "/echo");
    zf_step_result_clear(&res);
    res = s_run(&env, "http_request", s_cfg("{\"url\":\"http://127.0.0.1:%d/loop\"}", s_port));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_string_equal(res.error, "more than 5 redirects");
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_http_big_body_refused(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, "127.0.0.1/32");
    const char *paths[] = {"big", "big?chunked=1"};
    for (int i = 0; i < 2; i++) {
        zf_step_result_t res = s_run(
            &env, "http_request", s_cfg("{\"url\":\"http://127.0.0.1:%d/%s\"}", s_port, paths[i]));
        assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
        assert_non_null(strstr(res.error, "response too large"));
        assert_null(res.output);
        zf_step_result_clear(&res);
    }
    s_env_free(&env);
}

static void
test_http_breaker_blocks_after_failures(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, "127.0.0.1/32");
    env.breakers = zf_breakers_new(&(zf_breaker_conf_t){2, 5000, 60000});
    env.ctx.breakers = env.breakers;
    env.ctx.run_id = "run-breaker";
    char host[32];  //  breakers are keyed by host:port
    snprintf(host, sizeof host, "127.0.0.1:%d", s_port);
    for (int i = 0; i < 2; i++) {
        zf_step_result_t res = s_run(&env, "http_request",
                                     s_cfg("{\"url\":\"http://127.0.0.1:%d/status/500\"}", s_port));
        assert_int_equal(res.status, ZF_STEP_FAIL);
        zf_step_result_clear(&res);
    }
    assert_string_equal(zf_breaker_state(env.breakers, host, env.ctx.now_ms), "open");
    zf_step_result_t res =
        s_run(&env, "http_request", s_cfg("{\"url\":\"http://127.0.0.1:%d/hit\"}", s_port));
    assert_int_equal(res.status, ZF_STEP_BLOCKED);
    assert_int_equal(res.wake_at_ms, env.ctx.now_ms + 5000);
    assert_non_null(strstr(res.error, "circuit open"));
    assert_non_null(strstr(res.error, host));
    zf_step_result_clear(&res);
    //  After the cooldown the probe goes through and closes the breaker.
    env.ctx.now_ms += 5000;
    res = s_run(&env, "http_request", s_cfg("{\"url\":\"http://127.0.0.1:%d/hit\"}", s_port));
    assert_int_equal(res.status, ZF_STEP_OK);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res.output, "body"), "n")),
                     1);
    zf_step_result_clear(&res);
    assert_string_equal(zf_breaker_state(env.breakers, host, env.ctx.now_ms), "closed");
    //  A 429 with Retry-After opens the breaker for that long.
    res =
        s_run(&env, "http_request", s_cfg("{\"url\":\"http://127.0.0.1:%d/status/429\"}", s_port));
    assert_int_equal(res.status, ZF_STEP_FAIL);
    zf_step_result_clear(&res);
    assert_int_equal(zf_breaker_acquire(env.breakers, host, env.ctx.now_ms), env.ctx.now_ms + 1000);
    s_env_free(&env);
}

static void
test_http_validate_errors(void **state)
{
    (void)state;
    const char *url = "config.url: must be an http or https URL";
    const s_vcase_t cases[] = {
        {"{}", url},
        {"{'url':3}", url},
        {"{'url':'ftp://example.com/x'}", url},
        {"{'url':'file:///etc/passwd'}", url},
        {"{'url':'http://'}", url},
        {"{'url':'http://a b/'}", url},
        {"{'url':'example.com'}", url},
        {"{'url':'http://x.io','method':'TRACE'}", "config.method"},
        {"{'url':'http://x.io','method':1}", "config.method"},
        {"{'url':'http://x.io','headers':[]}", "config.headers: must be an object"},
        {"{'url':'http://x.io','headers':{'A':1}}", "config.headers.A: must be a string"},
        {"{'url':'http://x.io','headers':{'A':'x\\r\\nEvil: 1'}}", "config.headers.A: must be"},
        {"{'url':'http://x.io','headers':{'A':'x\\u0000y'}}", "config.headers.A"},
        {"{'url':'http://x.io','headers':{'Bad Name':'x'}}", "invalid header name"},
        {"{'url':'http://x.io','headers':{'idempotency-key':'x'}}", "set by the engine"},
        {"{'url':'http://x.io','timeout_ms':0}", "config.timeout_ms"},
        {"{'url':'http://x.io','timeout_ms':300001}", "config.timeout_ms"},
        {"{'url':'http://x.io','timeout_ms':'5'}", "config.timeout_ms"},
        {"{'url':'http://x.io','follow_redirects':1}", "config.follow_redirects"},
        {"[]", "config"},
        {"{'url':'HTTPS://x.io/a?b=c','method':'delete','headers':{'X-A':'1'},"
         "'timeout_ms':300000,'follow_redirects':false,'body':[1]}",
         NULL},
        {"{'url':'https://x.io/{{record.id}}'}", NULL},
    };
    CHECK_VALIDATE("http_request", cases);
}

static void
test_http_exec_rechecks_config(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, "127.0.0.1/32");
    zf_step_result_t res =
        s_run(&env, "http_request",
              s_cfg("{\"url\":\"http://127.0.0.1:%d/echo\",\"headers\":{\"A\":\"x\\r\\nB: y\"}}",
                    s_port));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_non_null(strstr(res.error, "config.headers.A"));
    zf_step_result_clear(&res);
    res = s_run(&env, "http_request", s_json("{\"url\":\"http://x.io/{{unrendered}}\"}"));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_non_null(strstr(res.error, "config.url"));
    zf_step_result_clear(&res);
    s_env_free(&env);
}

// =========================================================================
//  integration, agent (seed 002 node types)
// =========================================================================

//  Runs kind `type` as node (JSON text, consumed) with that node's config.
static zf_step_result_t
s_run_node(s_env_t *env, const char *type, json_t *node)
{
    json_t *config = json_object_get(node, "config");
    env->ctx.node = node;
    zf_step_result_t res = s_run(env, type, config ? json_incref(config) : json_object());
    env->ctx.node = NULL;
    json_decref(node);
    return res;
}

static void
test_integration_http_request_uses_http_kind(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, "127.0.0.1/32");
    //  Node-level action (the seed's form).
    zf_step_result_t res =
        s_run_node(&env, "integration",
                   s_cfg("{\"id\":\"node-1\",\"type\":\"integration\",\"action\":\"http.request\","
                         "\"config\":{\"method\":\"POST\",\"url\":\"http://127.0.0.1:%d/echo\","
                         "\"headers\":{\"X-From\":\"integration\"},\"body\":{\"n\":1}}}",
                         s_port));
    assert_int_equal(res.status, ZF_STEP_OK);
    assert_int_equal(json_integer_value(json_object_get(res.output, "status")), 200);
    json_t *body = json_object_get(res.output, "body");
    assert_string_equal(s_str(body, "method"), "POST");
    assert_string_equal(s_str(json_object_get(body, "headers"), "x-from"), "integration");
    assert_string_equal(s_str(json_object_get(body, "headers"), "idempotency-key"), "run-1.node-1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(body, "json"), "n")), 1);
    zf_step_result_clear(&res);
    //  config.action works too; outcomes are the http kind's (404 is final).
    res = s_run_node(&env, "integration",
                     s_cfg("{\"id\":\"n2\",\"config\":{\"action\":\"http.request\","
                           "\"url\":\"http://127.0.0.1:%d/status/404\"}}",
                           s_port));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    char want[64];
    snprintf(want, sizeof want, "HTTP 404 from 127.0.0.1:%d", s_port);
    assert_string_equal(res.error, want);
    zf_step_result_clear(&res);
    res = s_run_node(&env, "integration",
                     s_cfg("{\"id\":\"n3\",\"action\":\"http.request\","
                           "\"config\":{\"url\":\"http://127.0.0.1:%d/status/503\"}}",
                           s_port));
    assert_int_equal(res.status, ZF_STEP_FAIL);
    zf_step_result_clear(&res);
    //  The http config is re-checked at run time (node-level action).
    res = s_run_node(&env, "integration",
                     s_json("{\"id\":\"n4\",\"action\":\"http.request\",\"config\":{}}"));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_non_null(strstr(res.error, "config.url"));
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_integration_unconfigured_connectors_fail_final(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, NULL);
    const char *actions[] = {"slack.post_message", "email.send", "salesforce.query"};
    for (size_t i = 0; i < 3; i++) {
        char want[128];
        zf_step_result_t res = s_run_node(
            &env, "integration",
            s_cfg("{\"id\":\"s\",\"action\":\"%s\",\"config\":{\"channel\":\"#x\"}}", actions[i]));
        snprintf(want, sizeof want, "connector \"%s\" is not configured", actions[i]);
        assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
        assert_string_equal(res.error, want);
        assert_null(res.output);
        zf_step_result_clear(&res);
    }
    //  The node-level action wins over config.action.
    zf_step_result_t res = s_run_node(
        &env, "integration",
        s_json(
            "{\"id\":\"s\",\"action\":\"email.send\",\"config\":{\"action\":\"http.request\"}}"));
    assert_string_equal(res.error, "connector \"email.send\" is not configured");
    zf_step_result_clear(&res);
    res = s_run_node(&env, "integration", s_json("{\"id\":\"s\"}"));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_non_null(strstr(res.error, "action: required"));
    zf_step_result_clear(&res);
    res = s_run_node(&env, "integration", s_json("{\"id\":\"s\",\"action\":7}"));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_non_null(strstr(res.error, "action: must be a string"));
    zf_step_result_clear(&res);
    s_env_free(&env);
}

static void
test_integration_validate(void **state)
{
    (void)state;
    static const s_vcase_t cases[] = {
        {"{}", "action: required"},
        {"{'channel':'#deployments','message':'hi'}", "action: required"},
        {"{'action':'slack.post_message','channel':'#x'}", NULL},
        {"{'action':'http.request','url':'https://example.com/hook','method':'POST'}", NULL},
        {"{'action':5}", "config.action: must be a string"},
        {"{'action':''}", "config.action: must be a string"},
        {"{'action':'http.request'}", "config.url"},
        {"{'action':'http.request','url':'ftp://x'}", "config.url"},
        {"{'action':'http.request','url':'http://x.io','method':'BREW'}", "config.method"},
    };
    CHECK_VALIDATE("integration", cases);
}

static void
test_agent_validate_and_unconfigured(void **state)
{
    (void)state;
    static const s_vcase_t cases[] = {
        {"{'action':'generate_report'}", NULL},
        {"{'action':'x','model':'m','prompt':'y','format':'md','temperature':0.5}", NULL},
        {"{}", "action: required"},
        {"{'model':'x','prompt':'y'}", "action: required"},
        {"{'action':''}", "action: must be a string of 1 to 128 characters"},
        {"{'action':'x','temperature':3}", "config.temperature: must be a number from 0 to 2"},
        {"{'action':'x','max_tokens':0}", "config.max_tokens: must be an integer from 1 to 32768"},
        {"{'action':'x','json':1}", "config.json: must be a boolean"},
        {"{'action':'x','prompt':1}", "config.prompt: must be a string"},
        {"{'action':'x','model':''}", "config.model: must be a string of 1 to 200 characters"},
    };
    CHECK_VALIDATE("agent", cases);
    static const s_vcase_t ai_cases[] = {
        {"{'prompt':'hi','system':'s','model':'m','temperature':2,'max_tokens':32768,'json':true}",
         NULL},
        {"{}", "config.prompt: required"},
        {"{'prompt':''}", "config.prompt: required"},
        {"{'prompt':'x','temperature':-0.1}", "config.temperature"},
        {"{'prompt':'x','max_tokens':32769}", "config.max_tokens"},
        {"{'prompt':'x','system':1}", "config.system"},
    };
    CHECK_VALIDATE("ai", ai_cases);
    s_env_t env;
    s_env_init(&env, NULL);
    zf_step_result_t res =
        s_run_node(&env, "agent",
                   s_json("{\"id\":\"step_2\",\"type\":\"agent\",\"action\":\"generate_report\"}"));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_string_equal(res.error, "ai: no AI provider is configured: start zflow with --ai-url "
                                   "(key in ZFLOW_AI_KEY)");
    zf_step_result_clear(&res);
    res = s_run_node(&env, "agent", s_json("{\"id\":\"a\"}"));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_string_equal(res.error, "action: required (the agent action, e.g. \"generate_report\")");
    zf_step_result_clear(&res);
    res = s_run(&env, "ai", s_json("{\"prompt\":\"hi\"}"));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_string_equal(res.error, "ai: no AI provider is configured: start zflow with --ai-url "
                                   "(key in ZFLOW_AI_KEY)");
    zf_step_result_clear(&res);
    s_env_free(&env);
}

//  The seed 002 definitions validate as they are; a bad config.action is
//  reported with the node's index and id.
static void
test_seed_definitions_validate(void **state)
{
    (void)state;
    char err[512] = "";
    json_t *def =
        s_json("{\"nodes\":[{\"id\":\"step_1\",\"type\":\"condition\",\"action\":\"check_status\","
               "\"config\":{\"field\":\"$.deployment.status\",\"operator\":\"equals\",\"value\":"
               "\"success\"}},{\"id\":\"step_2\",\"type\":\"integration\",\"action\":"
               "\"slack.post_message\",\"input_from\":\"step_1\",\"config\":{\"channel\":"
               "\"#deployments\",\"message\":\"Deployment completed successfully!\"}}],"
               "\"inputs\":{},\"outputs\":{}}");
    assert_int_equal(zf_def_validate(def, err, sizeof err), 0);
    json_decref(def);
    def = s_json("{\"nodes\":[{\"id\":\"step_1\",\"type\":\"integration\",\"action\":"
                 "\"salesforce.query\"},{\"id\":\"step_2\",\"type\":\"agent\",\"action\":"
                 "\"generate_report\",\"input_from\":\"step_1\"},{\"id\":\"step_3\",\"type\":"
                 "\"integration\",\"action\":\"email.send\",\"input_from\":\"step_2\"}]}");
    assert_int_equal(zf_def_validate(def, err, sizeof err), 0);
    json_decref(def);
    def =
        s_json("{\"nodes\":[{\"id\":\"a\",\"type\":\"set\",\"config\":{\"values\":{\"x\":1}}},"
               "{\"id\":\"call\",\"type\":\"integration\",\"config\":{\"action\":\"http.request\","
               "\"url\":\"nope\"}}]}");
    assert_int_not_equal(zf_def_validate(def, err, sizeof err), 0);
    assert_non_null(strstr(err, "nodes[1] (id \"call\"): config.url"));
    json_decref(def);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_lists_kinds),
        cmocka_unit_test(test_set_resolves_paths_and_copies_literals),
        cmocka_unit_test(test_set_validate_errors),
        cmocka_unit_test(test_condition_true_and_false),
        cmocka_unit_test(test_condition_changed_to_uses_previous),
        cmocka_unit_test(test_condition_validate_errors),
        cmocka_unit_test(test_delay_waits_then_completes),
        cmocka_unit_test(test_delay_validate_errors),
        cmocka_unit_test(test_http_get_and_post_round_trip),
        cmocka_unit_test(test_http_methods_and_string_body),
        cmocka_unit_test(test_http_idempotency_key_counted_by_sink),
        cmocka_unit_test(test_http_status_outcomes),
        cmocka_unit_test(test_http_retry_after_forms),
        cmocka_unit_test(test_http_binary_string_body),
        cmocka_unit_test(test_http_timeout_is_retryable),
        cmocka_unit_test(test_http_egress_refused_without_allow_list),
        cmocka_unit_test(test_http_redirect_to_denied_address_refused),
        cmocka_unit_test(test_http_localhost_and_redirect_loop),
        cmocka_unit_test(test_http_big_body_refused),
        cmocka_unit_test(test_http_breaker_blocks_after_failures),
        cmocka_unit_test(test_http_validate_errors),
        cmocka_unit_test(test_http_exec_rechecks_config),
        cmocka_unit_test(test_integration_http_request_uses_http_kind),
        cmocka_unit_test(test_integration_unconfigured_connectors_fail_final),
        cmocka_unit_test(test_integration_validate),
        cmocka_unit_test(test_agent_validate_and_unconfigured),
        cmocka_unit_test(test_seed_definitions_validate),
    };
    return cmocka_run_group_tests(tests, s_start_sink, s_stop_sink);
}
