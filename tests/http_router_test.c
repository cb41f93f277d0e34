/*  tests/http_router_test.c — route patterns, the v2 route table, the
    shared status table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "http/dialect.h"
#include "http/dialects/dialects.h"
#include "http/router.h"

static void
test_literal_and_params(void **state)
{
    (void)state;
    zf_route_params_t p;
    assert_true(zf_route_match("/health", "/health", &p));
    assert_int_equal(p.n, 0);
    assert_false(zf_route_match("/health", "/Health", &p));
    assert_false(zf_route_match("/health", "/healthz", &p));
    assert_true(zf_route_match("/:id/runs/:runId", "/abc/runs/r-1", &p));
    assert_int_equal(p.n, 2);
    assert_string_equal(zf_route_param(&p, "id"), "abc");
    assert_string_equal(zf_route_param(&p, "runId"), "r-1");
    assert_null(zf_route_param(&p, "nope"));
    assert_false(zf_route_match("/:id/runs/:runId", "/abc/runs", &p));
    assert_false(zf_route_match("/:id/runs/:runId", "/abc/runs/r/x", &p));
    assert_false(zf_route_match("/:id/runs", "/abc/walks", &p));
}

static void
test_empty_pattern_and_segments(void **state)
{
    (void)state;
    zf_route_params_t p;
    assert_true(zf_route_match("", "", &p));
    assert_false(zf_route_match("", "/x", &p));
    assert_false(zf_route_match("/:id", "", &p));
    assert_false(zf_route_match("/:id", "/", &p));  // a parameter is never empty
    assert_false(zf_route_match("/:id", "//", &p));
    assert_false(zf_route_match("/a/:id", "/a/", &p));
    assert_true(zf_route_match("/:id", "/x", NULL));  // params are optional
}

static void
test_long_segment_never_matches(void **state)
{
    (void)state;
    char path[ZF_ROUTE_MAX_VALUE + 8];
    path[0] = '/';
    memset(path + 1, 'a', ZF_ROUTE_MAX_VALUE - 1);
    path[ZF_ROUTE_MAX_VALUE] = '\0';  // segment of ZF_ROUTE_MAX_VALUE - 1 bytes: fits
    zf_route_params_t p;
    assert_true(zf_route_match("/:id", path, &p));
    assert_int_equal(strlen(zf_route_param(&p, "id")), ZF_ROUTE_MAX_VALUE - 1);
    path[ZF_ROUTE_MAX_VALUE] = 'a';
    path[ZF_ROUTE_MAX_VALUE + 1] = '\0';  // one byte more: no match
    assert_false(zf_route_match("/:id", path, &p));
}

//  Paths arrive percent-encoded (civetweb's decode_url=no): captures are
//  decoded one segment at a time, literals compare as sent, and a malformed
//  escape or an encoded NUL never matches.
static void
test_captures_are_percent_decoded(void **state)
{
    (void)state;
    zf_route_params_t p;
    assert_true(zf_route_match("/:id/runs", "/a%2Fb%2d1/runs", &p));
    assert_string_equal(zf_route_param(&p, "id"), "a/b-1");
    assert_true(zf_route_match("/:id", "/caf%C3%A9", &p));
    assert_string_equal(zf_route_param(&p, "id"), "caf\xc3\xa9");
    assert_false(zf_route_match("/:id/runs", "/abc%00/runs", &p));
    assert_false(zf_route_match("/:id", "/abc%0", &p));
    assert_false(zf_route_match("/:id", "/abc%", &p));
    assert_false(zf_route_match("/:id", "/%zz", &p));
    assert_false(zf_route_match("/:id/runs", "/x/r%75ns", &p));  // literals are not decoded
}

static void
test_pattern_validity(void **state)
{
    (void)state;
    assert_true(zf_route_pattern_valid(""));
    assert_true(zf_route_pattern_valid("/health"));
    assert_true(zf_route_pattern_valid("/:id/schedules/:scheduleId"));
    assert_false(zf_route_pattern_valid("health"));
    assert_false(zf_route_pattern_valid("/"));
    assert_false(zf_route_pattern_valid("/a//b"));
    assert_false(zf_route_pattern_valid("/:"));
    assert_false(zf_route_pattern_valid("/:a-b"));
    assert_false(zf_route_pattern_valid("/:a/:b/:c/:d/:e"));  // more than 4 parameters
}

//  First match in table order, as the pipeline routes.
static const zf_http_route_t *
s_route(const char *method, const char *path, zf_route_params_t *p)
{
    for (const zf_http_route_t *r = zf_dialect_v2.routes; r->method; r++) {
        if (strcmp(r->method, method) == 0 && zf_route_match(r->pattern, path, p)) return r;
    }
    return NULL;
}

static void
test_v2_table(void **state)
{
    (void)state;
    zf_route_params_t p;
    for (const zf_http_route_t *r = zf_dialect_v2.routes; r->method; r++)
        assert_true(zf_route_pattern_valid(r->pattern));
    const zf_http_route_t *r = s_route("GET", "/health", &p);
    assert_non_null(r);
    assert_int_equal(r->min_role, ZF_HTTP_PUBLIC);
    r = s_route("GET", "/0193-x", &p);
    assert_non_null(r);
    assert_string_equal(r->pattern, "/:id");
    assert_int_equal(r->min_role, ZF_HTTP_VIEWER);
    assert_int_equal(s_route("POST", "", &p)->min_role, ZF_HTTP_ADMIN);
    assert_int_equal(s_route("PATCH", "/w", &p)->min_role, ZF_HTTP_ADMIN);
    assert_int_equal(s_route("DELETE", "/w", &p)->min_role, ZF_HTTP_ADMIN);
    assert_int_equal(s_route("POST", "/w/execute", &p)->min_role, ZF_HTTP_MEMBER);
    r = s_route("DELETE", "/w/runs/r", &p);
    assert_int_equal(r->min_role, ZF_HTTP_MEMBER);
    assert_string_equal(zf_route_param(&p, "id"), "w");
    assert_string_equal(zf_route_param(&p, "runId"), "r");
    assert_non_null(s_route("PATCH", "/w/schedules/s", &p));
    assert_null(s_route("PUT", "/w", &p));
    assert_null(s_route("GET", "/w/runs/r/logs", &p));
    assert_non_null(zf_dialect_v2.render_event);
}

static void
test_status_table(void **state)
{
    (void)state;
    static const struct {
        const char *code;
        int status;
    } want[] = {{"validation", 400},
                {"unauthorized", 401},
                {"forbidden", 403},
                {"not_found", 404},
                {"conflict", 409},
                {"too_large", 413},
                {"idempotency_mismatch", 422},
                {"rate_limited", 429},
                {"internal", 500},
                {"not_implemented", 501},
                {"unavailable", 503},
                {"timeout", 504},
                {"idempotency_in_progress", 409},
                {"something_new", 500}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(zf_http_status_for(want[i].code), want[i].status);
    assert_string_equal(zf_http_reason(404), "Not Found");
    assert_string_equal(zf_http_reason(413), "Payload Too Large");
}

static void
test_v2_error_shape(void **state)
{
    (void)state;
    json_t *e = zf_dialect_v2.render_error(404, "not_found", "Workflow not found");
    char *text = json_dumps(e, JSON_COMPACT);
    assert_string_equal(
        text, "{\"success\":false,\"error\":\"Workflow not found\",\"code\":\"not_found\"}");
    free(text);
    json_decref(e);
}

static void
test_v2_events(void **state)
{
    (void)state;
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "tenant", "t1", "run_id", "r1",
                             "workflow_id", "w1", "status", "running", "node_id", "n1",
                             "step_status", "failed", "error", "boom");
    char *text = zf_dialect_v2.render_event("event.run.step", body, 1773943200000);
    assert_string_equal(text, "{\"event\":\"execution:step\",\"data\":{\"run_id\":\"r1\","
                              "\"workflow_id\":\"w1\",\"status\":\"running\",\"node_id\":\"n1\","
                              "\"step_status\":\"failed\",\"error\":\"boom\"},"
                              "\"timestamp\":\"2026-03-19T18:00:00.000Z\"}");
    free(text);
    assert_null(zf_dialect_v2.render_event("event.run.waiting", body, 0));
    json_object_set_new(body, "step_status", json_string("waiting"));  // a delay began
    assert_null(zf_dialect_v2.render_event("event.run.step", body, 0));
    json_object_set_new(body, "status", json_string("queued"));
    text = zf_dialect_v2.render_event("event.run.started", body, 0);
    assert_non_null(strstr(text, "\"event\":\"execution:started\""));
    assert_non_null(strstr(text, "\"status\":\"running\""));
    free(text);
    assert_null(zf_dialect_v2.render_event("event.workflow.disabled", body, 0));
    json_decref(body);
    body = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "tenant", "t1", "run_id", "r1",
                     "workflow_id", "w1", "status", "cancelled", "error", "code", "x", "message",
                     "stopped");
    text = zf_dialect_v2.render_event("event.run.failed", body, 0);
    json_t *ev = json_loads(text, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(ev, "event")), "execution:failed");
    json_t *data = json_object_get(ev, "data");
    assert_string_equal(json_string_value(json_object_get(data, "status")), "terminated");
    assert_string_equal(json_string_value(json_object_get(data, "error")), "stopped");
    assert_null(json_object_get(data, "node_id"));
    json_decref(ev);
    free(text);
    json_decref(body);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_and_params),
        cmocka_unit_test(test_empty_pattern_and_segments),
        cmocka_unit_test(test_long_segment_never_matches),
        cmocka_unit_test(test_captures_are_percent_decoded),
        cmocka_unit_test(test_pattern_validity),
        cmocka_unit_test(test_v2_table),
        cmocka_unit_test(test_status_table),
        cmocka_unit_test(test_v2_error_shape),
        cmocka_unit_test(test_v2_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
