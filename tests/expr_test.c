/*  tests/expr_test.c — JSON paths, the condition operators, ISO-8601. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "actors/expr.h"
#include "broker/isotime.h"
#include "broker/errors.h"

#include <stdio.h>
#include <string.h>

static json_t *
s_json(const char *text)
{
    if (!text) return NULL;
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j) fail_msg("bad test JSON %s: %s", text, e.text);
    return j;
}

//  actual/expected are JSON texts; NULL = absent.
typedef struct {
    const char *actual;
    const char *op;
    const char *expected;
    int want;
} s_case_t;

static void
s_run_cases(const s_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_t *a = s_json(cases[i].actual), *b = s_json(cases[i].expected);
        int got = zf_expr_compare(a, cases[i].op, b);
        if (got != cases[i].want)
            fail_msg("case %zu: %s %s %s -> %d, want %d", i,
                     cases[i].actual ? cases[i].actual : "(absent)", cases[i].op,
                     cases[i].expected ? cases[i].expected : "(absent)", got, cases[i].want);
        json_decref(a);
        json_decref(b);
    }
}

#define RUN(cases) s_run_cases(cases, sizeof cases / sizeof cases[0])

static void
test_equals_and_not_equals(void **state)
{
    (void)state;
    static const s_case_t cases[] = {
        {"1", "equals", "1", 1},
        {"1", "equals", "1.0", 1},
        {"1", "equals", "\"1\"", 1},
        {"\"42\"", "equals", "42", 1},
        {"\"4x2\"", "equals", "42", 0},
        {"\"0x10\"", "equals", "16", 0},
        {"\"abc\"", "equals", "\"abc\"", 1},
        {"\"abc\"", "equals", "\"ABC\"", 0},
        {"true", "equals", "true", 1},
        {"true", "equals", "false", 0},
        {"true", "equals", "\"true\"", 1},
        {"false", "equals", "0", 0},
        {"null", "equals", "null", 1},
        {NULL, "equals", "null", 1},
        {NULL, "equals", "\"x\"", 0},
        {"\"2026-03-19T18:00:00Z\"", "equals", "\"2026-03-19T20:00:00+02:00\"", 1},
        {"\"2026-03-19T18:00:00Z\"", "equals", "\"2026-03-19T18:00:01Z\"", 0},
        {"[1,2]", "equals", "[1,2]", 1},
        {"{\"a\":1}", "equals", "{\"a\":1}", 1},
        {"[1,2]", "equals", "\"[1,2]\"", 0},
        {"1", "not_equals", "2", 1},
        {"\"a\"", "not_equals", "\"a\"", 0},
        {NULL, "not_equals", "\"a\"", 1},
        {"9007199254740993", "equals", "9007199254740992", 0},
    };
    RUN(cases);
}

static void
test_contains_family(void **state)
{
    (void)state;
    static const s_case_t cases[] = {
        {"\"hello world\"", "contains", "\"lo w\"", 1},
        {"\"hello\"", "contains", "\"xyz\"", 0},
        {"\"order-123\"", "contains", "123", 1},
        {"[1,2,3]", "contains", "2", 1},
        {"[1,2,3]", "contains", "\"2\"", 1},
        {"[\"a\",\"b\"]", "contains", "\"c\"", 0},
        {"{\"k\":1}", "contains", "\"k\"", 1},
        {NULL, "contains", "\"a\"", 0},
        {"null", "contains", "\"a\"", 0},
        {"\"abc\"", "not_contains", "\"z\"", 1},
        {"[1]", "not_contains", "1", 0},
        {NULL, "not_contains", "\"a\"", 1},
        {"\"hello\"", "starts_with", "\"he\"", 1},
        {"\"hello\"", "starts_with", "\"lo\"", 0},
        {"\"he\"", "starts_with", "\"hello\"", 0},
        {"12345", "starts_with", "\"12\"", 1},
        {"\"hello\"", "ends_with", "\"llo\"", 1},
        {"\"hello\"", "ends_with", "\"hel\"", 0},
        {NULL, "ends_with", "\"x\"", 0},
        {"[1]", "starts_with", "1", 0},
    };
    RUN(cases);
}

static void
test_ordering(void **state)
{
    (void)state;
    static const s_case_t cases[] = {
        {"50001", "greater_than", "50000", 1},
        {"50000", "greater_than", "50000", 0},
        {"\"50001\"", "greater_than", "50000", 1},
        {"\"10\"", "greater_than", "\"9\"", 1},
        {"2.5", "less_than", "3", 1},
        {"-1", "less_than", "\"-0.5\"", 1},
        {"3", "greater_than_or_equal", "3", 1},
        {"2", "greater_than_or_equal", "3", 0},
        {"3", "less_than_or_equal", "3", 1},
        {"4", "less_than_or_equal", "3", 0},
        {"\"b\"", "greater_than", "\"a\"", 1},
        {"\"ab\"", "less_than", "\"abc\"", 1},
        {"\"2024-01-15T10:30:00Z\"", "less_than", "\"2024-01-15T11:00:00+00:30\"", 0},
        {"\"2024-01-15T10:30:00Z\"", "less_than", "\"2024-01-15T12:00:00+01:00\"", 1},
        {"\"2024-02-29\"", "greater_than", "\"2024-02-28T23:59:59.999Z\"", 1},
        {"\"2024-01-15T10:30:00.250Z\"", "greater_than", "\"2024-01-15T10:30:00.2Z\"", 1},
        {"true", "greater_than", "false", 1},
        {NULL, "greater_than", "0", 0},
        {"null", "less_than", "1", 0},
        {"\"abc\"", "greater_than", "1", 0},
        {"[1]", "greater_than", "0", 0},
        {"true", "greater_than", "0", 0},
    };
    RUN(cases);
}

static void
test_empty_and_in(void **state)
{
    (void)state;
    static const s_case_t cases[] = {
        {NULL, "is_empty", NULL, 1},
        {"null", "is_empty", NULL, 1},
        {"\"\"", "is_empty", NULL, 1},
        {"[]", "is_empty", NULL, 1},
        {"{}", "is_empty", NULL, 1},
        {"0", "is_empty", NULL, 0},
        {"false", "is_empty", NULL, 0},
        {"\" \"", "is_empty", NULL, 0},
        {"[null]", "is_not_empty", NULL, 1},
        {NULL, "is_not_empty", NULL, 0},
        {"\"x\"", "is_not_empty", NULL, 1},
        {"\"b\"", "in", "[\"a\",\"b\"]", 1},
        {"\"c\"", "in", "[\"a\",\"b\"]", 0},
        {"2", "in", "[\"1\",\"2\"]", 1},
        {NULL, "in", "[null]", 1},
        {NULL, "in", "[1]", 0},
        {"\"a\"", "in", "\"abc\"", ZF_EINVAL},
        {"\"a\"", "in", NULL, ZF_EINVAL},
        {"1", "no_such_op", "1", ZF_EINVAL},
    };
    RUN(cases);
}

static void
test_change_operators(void **state)
{
    (void)state;
    json_t *won = json_string("won"), *lost = json_string("lost");
    assert_int_equal(zf_expr_compare_change(won, lost, "changed", NULL), 1);
    assert_int_equal(zf_expr_compare_change(won, won, "changed", NULL), 0);
    assert_int_equal(zf_expr_compare_change(won, NULL, "changed", NULL), 1);
    assert_int_equal(zf_expr_compare_change(won, lost, "changed_to", won), 1);
    assert_int_equal(zf_expr_compare_change(won, won, "changed_to", won), 0);
    assert_int_equal(zf_expr_compare_change(lost, won, "changed_to", won), 0);
    assert_int_equal(zf_expr_compare_change(won, lost, "changed_from", lost), 1);
    assert_int_equal(zf_expr_compare_change(won, lost, "changed_from", won), 0);
    assert_int_equal(zf_expr_compare_change(won, lost, "equals", won), 1);
    assert_true(zf_expr_op_uses_previous("changed_from"));
    assert_false(zf_expr_op_uses_previous("equals"));
    json_decref(won);
    json_decref(lost);
}

static void
test_operator_table(void **state)
{
    (void)state;
    static const char *const needs[] = {
        "equals",    "not_equals",   "contains",    "not_contains",          "starts_with",
        "ends_with", "greater_than", "less_than",   "greater_than_or_equal", "less_than_or_equal",
        "in",        "changed_to",   "changed_from"};
    for (size_t i = 0; i < sizeof needs / sizeof needs[0]; i++) {
        assert_true(zf_expr_op_valid(needs[i]));
        assert_true(zf_expr_op_needs_value(needs[i]));
    }
    static const char *const no_value[] = {"is_empty", "is_not_empty", "changed"};
    for (size_t i = 0; i < sizeof no_value / sizeof no_value[0]; i++) {
        assert_true(zf_expr_op_valid(no_value[i]));
        assert_false(zf_expr_op_needs_value(no_value[i]));
    }
    assert_false(zf_expr_op_valid("EQUALS"));
    assert_false(zf_expr_op_valid(""));
    assert_false(zf_expr_op_valid(NULL));
    assert_false(zf_expr_op_needs_value("bogus"));
}

static void
test_malformed_paths(void **state)
{
    (void)state;
    char long_path[320], many[400];
    memset(long_path, 0, sizeof long_path);
    strcpy(long_path, "$.");
    memset(long_path + 2, 'a', 298);
    strcpy(many, "$");
    for (int i = 0; i < 40; i++)
        strcat(many, ".a");
    const char *bad[] = {
        "",         "a.b",       "$",        "$.",      "$..a",         "$.a.",
        "$.a[",     "$.a[1",     "$.a[x]",   "$.a[-1]", "$.a[1000001]", "$.a[99999999999999999999]",
        "$.a[\"x]", "$.a[\"x\"", "$nope.x",  "$.a b",   "$.a.$b",       long_path,
        many,       "$.a[]",     "$inputs x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *err = NULL;
        if (zf_expr_path_valid(bad[i])) fail_msg("path accepted: %.60s", bad[i]);
        zf_expr_scope_t scope = {0};
        assert_null(zf_expr_path(&scope, bad[i], &err));
        assert_non_null(err);
    }
    assert_false(zf_expr_path_valid(NULL));
    const char *good[] = {"$.a",
                          "$.a.b[0]",
                          "$.a[1000000]",
                          "$inputs.x",
                          "$vars.x",
                          "$steps.node-1.out",
                          "$.a[\"weird key\"]",
                          "$inputs",
                          "$.a['q']",
                          "$[0].x",
                          "$.a_b-c.D9"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!zf_expr_path_valid(good[i])) fail_msg("path rejected: %s", good[i]);
    //  Exactly 32 segments and 256 bytes are still fine.
    strcpy(many, "$");
    for (int i = 0; i < 32; i++)
        strcat(many, ".a");
    assert_true(zf_expr_path_valid(many));
    long_path[256] = '\0';
    assert_true(zf_expr_path_valid(long_path));
}

static void
test_path_resolution(void **state)
{
    (void)state;
    json_t *input = s_json("{\"a\":{\"b\":[10,{\"c\":\"deep\"}]},\"weird key\":{\"x y\":1},"
                           "\"list\":[[1,2],[3,4]],\"n\":null}");
    json_t *inputs = s_json("{\"user\":{\"email\":\"a@b.c\"}}");
    json_t *vars = s_json("{\"count\":3}");
    json_t *steps = s_json("{\"fetch-1\":{\"status\":200,\"body\":{\"items\":[\"x\"]}}}");
    zf_expr_scope_t scope = {input, inputs, vars, steps};
    const char *err = "unset";
    assert_int_equal(json_integer_value(zf_expr_path(&scope, "$.a.b[0]", &err)), 10);
    assert_null(err);
    assert_string_equal(json_string_value(zf_expr_path(&scope, "$.a.b[1].c", NULL)), "deep");
    assert_string_equal(json_string_value(zf_expr_path(&scope, "$.a.b.1.c", NULL)), "deep");
    assert_int_equal(json_integer_value(zf_expr_path(&scope, "$.list[1][0]", NULL)), 3);
    assert_int_equal(json_integer_value(zf_expr_path(&scope, "$[\"weird key\"]['x y']", NULL)), 1);
    assert_string_equal(json_string_value(zf_expr_path(&scope, "$inputs.user.email", NULL)),
                        "a@b.c");
    assert_int_equal(json_integer_value(zf_expr_path(&scope, "$vars.count", NULL)), 3);
    assert_int_equal(json_integer_value(zf_expr_path(&scope, "$steps.fetch-1.status", NULL)), 200);
    assert_string_equal(
        json_string_value(zf_expr_path(&scope, "$steps.fetch-1.body.items[0]", NULL)), "x");
    assert_ptr_equal(zf_expr_path(&scope, "$vars", NULL), vars);
    assert_true(json_is_null(zf_expr_path(&scope, "$.n", NULL)));
    err = "unset";
    assert_null(zf_expr_path(&scope, "$.a.b[5]", &err));
    assert_null(err);  // absent, not malformed
    assert_null(zf_expr_path(&scope, "$.a.b[0].c", NULL));
    assert_null(zf_expr_path(&scope, "$.missing.x", NULL));
    zf_expr_scope_t empty = {0};
    assert_null(zf_expr_path(&empty, "$vars.count", NULL));
    json_decref(input);
    json_decref(inputs);
    json_decref(vars);
    json_decref(steps);
}

static void
test_iso8601(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        long long ms;
    } good[] = {
        {"1970-01-01", 0},
        {"1970-01-01T00:00:00Z", 0},
        {"2026-03-19T18:15:00Z", 1773944100000LL},
        {"2026-03-19T20:15:00+02:00", 1773944100000LL},
        {"2026-03-19T13:15:00-0500", 1773944100000LL},
        {"2026-03-19T23:45:00+05:30", 1773944100000LL},
        {"2026-03-19T18:15:00.123Z", 1773944100123LL},
        {"2026-03-19T18:15:00.123456789Z", 1773944100123LL},
        {"2026-03-19T18:15Z", 1773944100000LL},
        {"2026-03-19 18:15:00", 1773944100000LL},
        {"2024-02-29T00:00:00Z", 1709164800000LL},
        {"2000-02-29", 951782400000LL},
        {"1969-12-31T23:59:59Z", -1000},
        {"2026-03-19T18:15:00+01", 1773940500000LL},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        long long ms = -42;
        if (zf_iso8601_ms(good[i].s, &ms) != 0 || ms != good[i].ms)
            fail_msg("%s -> %lld, want %lld", good[i].s, ms, good[i].ms);
    }
    static const char *const bad[] = {"",
                                      "2026",
                                      "2026-13-01",
                                      "2026-00-10",
                                      "2023-02-29",
                                      "1900-02-29",
                                      "2026-04-31",
                                      "2026-03-19T24:00:00Z",
                                      "2026-03-19T18:60Z",
                                      "2026-03-19T18:15:61Z",
                                      "2026-03-19T18:15:00+24:00",
                                      "2026-03-19T18:15:00+02:",
                                      "2026-03-19T18:15:00.Z",
                                      "2026-03-19T18:15:00ZZ",
                                      "2026-03-19T",
                                      "26-03-19",
                                      "2026/03/19",
                                      "2026-03-19x",
                                      "2026-3-19",
                                      "2026-03-19T18"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (zf_iso8601_ms(bad[i], NULL) == 0) fail_msg("accepted bad date %s", bad[i]);
    assert_int_equal(zf_iso8601_ms(NULL, NULL), ZF_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equals_and_not_equals),
        cmocka_unit_test(test_contains_family),
        cmocka_unit_test(test_ordering),
        cmocka_unit_test(test_empty_and_in),
        cmocka_unit_test(test_change_operators),
        cmocka_unit_test(test_operator_table),
        cmocka_unit_test(test_malformed_paths),
        cmocka_unit_test(test_path_resolution),
        cmocka_unit_test(test_iso8601),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
