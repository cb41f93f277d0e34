/*  tests/template_test.c — templates: paths, typed values, interpolation,
    every filter (good and malformed), limits, hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "actors/template.h"
#include "broker/errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW_MS 1773943200000LL  // 2026-03-19T18:00:00.000Z (a Thursday)

static const char *s_root_text =
    "{\"record\": {\"name\": \"John Smith\", \"email\": \"John@Example.COM\", \"value\": 50000,"
    " \"price\": 19.99, \"ratio\": 0.1, \"whole\": 3.0, \"big\": 12345678901234, \"neg\": -3.5,"
    " \"active\": true, \"off\": false, \"none\": null, \"empty\": \"\", \"zero\": 0,"
    " \"tags\": [\"a\", \"b\"], \"owner\": {\"id\": \"u1\"},"
    " \"created_at\": \"2024-01-15T10:30:00Z\", \"ms\": 1705314600000,"
    " \"inject\": \"{{record.name}}\", \"uni\": \"h\\u00e9llo w\\u00f6rld \\u65e5\\u672c\\u8a9e\","
    " \"emoji\": \"\\ud83d\\ude00\\ud83d\\ude00\\ud83d\\ude00\", \"ctl\": \"a\\\"b\\n\\u0001\","
    " \"items\": [{\"id\": \"i0\"}, {\"id\": \"i1\"}], \"weird key\": \"w\"},"
    " \"previous\": {\"stage\": \"lead\"}, \"user\": {\"id\": \"u9\", \"email\": \"a@b.c\"},"
    " \"trigger\": {\"record_id\": \"r1\"},"
    " \"steps\": {\"fetch\": {\"body\": {\"items\": [{\"id\": 7}]}}},"
    " \"vars\": {\"x\": 3, \"fmt\": \"YYYY\", \"days\": \"2\"}, \"inputs\": {\"y\": \"why\"}}";

static json_t *
s_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j) fail_msg("bad test JSON %s: %s", text, e.text);
    return j;
}

//  want: JSON text of the rendered value, or NULL when rendering fails
//  with an error containing err. check: 1 if zf_tpl_check must fail too.
typedef struct {
    const char *tpl;
    const char *want;
    const char *err;
    int check;
} s_case_t;

static void
s_run_cases(const s_case_t *cases, size_t n)
{
    json_t *root = s_json(s_root_text);
    zf_tpl_scope_t scope = {.root = root, .now_ms = NOW_MS};
    for (size_t i = 0; i < n; i++) {
        const s_case_t *c = &cases[i];
        char err[256] = "";
        json_t *got = zf_tpl_render(&scope, c->tpl, err, sizeof err);
        if (c->want) {
            json_t *want = s_json(c->want);
            char *text = got ? json_dumps(got, JSON_ENCODE_ANY) : NULL;
            if (!got || !json_equal(got, want))
                fail_msg("case %zu %s: got %s (err %s), want %s", i, c->tpl, text ? text : "NULL",
                         err, c->want);
            free(text);
            json_decref(want);
        } else if (got || !strstr(err, c->err)) {
            fail_msg("case %zu %s: want error '%s', got %s", i, c->tpl, c->err,
                     got ? "a value" : err);
        }
        json_decref(got);
        err[0] = '\0';
        int rc = zf_tpl_check(c->tpl, err, sizeof err);
        if ((rc != 0) != c->check)
            fail_msg("case %zu %s: check rc %d (%s), want %s", i, c->tpl, rc, err,
                     c->check ? "failure" : "ok");
        if (c->check && !strstr(err, c->err))
            fail_msg("case %zu %s: check error '%s' lacks '%s'", i, c->tpl, err, c->err);
    }
    json_decref(root);
}

#define RUN(cases) s_run_cases(cases, sizeof cases / sizeof cases[0])

static void
test_typed_single_expression(void **state)
{
    (void)state;
    static const s_case_t cases[] = {
        {"{{record.name}}", "\"John Smith\"", NULL, 0},
        {"{{ record.value }}", "50000", NULL, 0},
        {"{{record.price}}", "19.99", NULL, 0},
        {"{{record.active}}", "true", NULL, 0},
        {"{{record.owner}}", "{\"id\": \"u1\"}", NULL, 0},
        {"{{record.tags}}", "[\"a\", \"b\"]", NULL, 0},
        {"{{record.none}}", "null", NULL, 0},
        {"{{record.missing}}", "null", NULL, 0},
        {"{{record.missing.deeper[3]}}", "null", NULL, 0},
        {"{{record.items[1].id}}", "\"i1\"", NULL, 0},
        {"{{record.items.0.id}}", "\"i0\"", NULL, 0},
        {"{{record[\"weird key\"]}}", "\"w\"", NULL, 0},
        {"{{steps.fetch.body.items[0].id}}", "7", NULL, 0},
        {"{{vars.x}}", "3", NULL, 0},
        {"{{inputs.y}}", "\"why\"", NULL, 0},
        {"{{trigger.record_id}}", "\"r1\"", NULL, 0},
        {"{{user.email}}", "\"a@b.c\"", NULL, 0},
        {"{{previous.stage}}", "\"lead\"", NULL, 0},
        {"{{now}}", "\"2026-03-19T18:00:00.000Z\"", NULL, 0},
        {"{{ \"x\" | uppercase }}", "\"X\"", NULL, 0},
        {"{{ 'it''s' }}", NULL, "expected '|'", 1},
        {"{{ 'a\\'b' }}", "\"a'b\"", NULL, 0},
        {"{{ 42 }}", "42", NULL, 0},
        {"{{ -1.5e2 }}", "-150.0", NULL, 0},
        {"{{ true }}", "true", NULL, 0},
        {"{{ null }}", "null", NULL, 0},
        {"{{record.uni}}", "\"h\\u00e9llo w\\u00f6rld \\u65e5\\u672c\\u8a9e\"", NULL, 0},
    };
    RUN(cases);
}

static void
test_interpolation_of_every_type(void **state)
{
    (void)state;
    static const s_case_t cases[] = {
        {"Hi {{record.name}}!", "\"Hi John Smith!\"", NULL, 0},
        {"${{record.value}}", "\"$50000\"", NULL, 0},
        {"{{record.price}} / {{record.ratio}} / {{record.whole}}", "\"19.99 / 0.1 / 3\"", NULL, 0},
        {"big={{record.big}} neg={{record.neg}}", "\"big=12345678901234 neg=-3.5\"", NULL, 0},
        {"{{record.active}},{{record.off}}", "\"true,false\"", NULL, 0},
        {"[{{record.none}}|{{record.missing}}|{{record.empty}}]", "\"[||]\"", NULL, 0},
        {"o={{record.owner}} t={{record.tags}}",
         "\"o={\\\"id\\\":\\\"u1\\\"} t=[\\\"a\\\",\\\"b\\\"]\"", NULL, 0},
        {" {{record.value}}", "\" 50000\"", NULL, 0},
        {"{{record.value}}{{record.value}}", "\"5000050000\"", NULL, 0},
        {"no template", "\"no template\"", NULL, 0},
        {"a }} b { c", "\"a }} b { c\"", NULL, 0},
        {"{{ \"{{\" }}x}}", "\"{{x}}\"", NULL, 0},
        {"{{ \"}}\" }}", "\"}}\"", NULL, 0},
        {"{{record[\"a}}b\"]}}", "null", NULL, 0},
        {"\\u00e9 {{record.uni}} \\u00e9",
         "\"\\\\u00e9 h\\u00e9llo w\\u00f6rld \\u65e5\\u672c\\u8a9e \\\\u00e9\"", NULL, 0},
        {"{{ now }} is now", "\"2026-03-19T18:00:00.000Z is now\"", NULL, 0},
    };
    RUN(cases);
}

static void
test_rendered_output_is_never_rerendered(void **state)
{
    (void)state;
    static const s_case_t cases[] = {
        {"{{record.inject}}", "\"{{record.name}}\"", NULL, 0},
        {"say {{record.inject}}", "\"say {{record.name}}\"", NULL, 0},
        {"{{record.inject | uppercase}}", "\"{{RECORD.NAME}}\"", NULL, 0},
        {"{{record.missing | default: \"{{record.name}}\"}}", "\"{{record.name}}\"", NULL, 0},
    };
    RUN(cases);
}

static void
test_case_filters(void **state)
{
    (void)state;
    static const s_case_t cases[] = {
        {"{{record.name | uppercase}}", "\"JOHN SMITH\"", NULL, 0},
        {"{{record.email | lowercase}}", "\"john@example.com\"", NULL, 0},
        {"{{record.uni | uppercase}}", "\"H\\u00e9LLO W\\u00f6RLD \\u65e5\\u672c\\u8a9e\"", NULL,
         0},
        {"{{record.value | uppercase}}", "\"50000\"", NULL, 0},
        {"{{record.active | uppercase}}", "\"TRUE\"", NULL, 0},
        {"{{record.missing | uppercase}}", "null", NULL, 0},
        {"{{record.none | lowercase}}", "null", NULL, 0},
        {"{{record.owner | uppercase}}", NULL, "needs a string, got an object", 0},
        {"{{record.tags | lowercase}}", NULL, "needs a string, got an array", 0},
        {"{{record.name | uppercase: 1}}", NULL, "takes no argument", 1},
        {"{{record.name | UPPERCASE}}", NULL, "unknown filter 'UPPERCASE'", 1},
        {"{{record.name|lowercase|uppercase}}", "\"JOHN SMITH\"", NULL, 0},
    };
    RUN(cases);
}

static void
test_add_days(void **state)
{
    (void)state;
    static const s_case_t cases[] = {
        {"{{now | add_days: 7}}", "\"2026-03-26T18:00:00.000Z\"", NULL, 0},
        {"{{now | add_days: -19}}", "\"2026-02-28T18:00:00.000Z\"", NULL, 0},
        {"{{ \"2024-02-28\" | add_days: 1 }}", "\"2024-02-29T00:00:00.000Z\"", NULL, 0},
        {"{{ \"2023-02-28\" | add_days: 1 }}", "\"2023-03-01T00:00:00.000Z\"", NULL, 0},
        {"{{ \"2000-02-28\" | add_days: 1 }}", "\"2000-02-29T00:00:00.000Z\"", NULL, 0},
        {"{{ \"1900-02-28\" | add_days: 1 }}", "\"1900-03-01T00:00:00.000Z\"", NULL, 0},
        {"{{ \"2024-03-01\" | add_days: -1 }}", "\"2024-02-29T00:00:00.000Z\"", NULL, 0},
        {"{{ \"2024-02-29\" | add_days: 365 }}", "\"2025-02-28T00:00:00.000Z\"", NULL, 0},
        {"{{ \"2024-01-31\" | add_days: 30 }}", "\"2024-03-01T00:00:00.000Z\"", NULL, 0},
        {"{{ \"2024-12-31T23:59:59.999Z\" | add_days: 1 }}", "\"2025-01-01T23:59:59.999Z\"", NULL,
         0},
        {"{{ \"2024-01-15T01:00:00+02:00\" | add_days: 0 }}", "\"2024-01-14T23:00:00.000Z\"", NULL,
         0},
        {"{{ \"1969-12-31T23:59:59.500Z\" | add_days: 0 }}", "\"1969-12-31T23:59:59.500Z\"", NULL,
         0},
        {"{{record.ms | add_days: 1}}", "\"2024-01-16T10:30:00.000Z\"", NULL, 0},
        {"{{record.created_at | add_days: 3}}", "\"2024-01-18T10:30:00.000Z\"", NULL, 0},
        {"{{now | add_days: vars.days}}", "\"2026-03-21T18:00:00.000Z\"", NULL, 0},
        {"{{now | add_days: '3'}}", "\"2026-03-22T18:00:00.000Z\"", NULL, 0},
        {"{{now | add_days: 2.0}}", "\"2026-03-21T18:00:00.000Z\"", NULL, 0},
        {"due {{now | add_days: 2}}", "\"due 2026-03-21T18:00:00.000Z\"", NULL, 0},
        {"{{record.missing | add_days: 1}}", "null", NULL, 0},
        {"{{now | add_days}}", NULL, "needs an argument", 1},
        {"{{now | add_days:}}", NULL, "missing value", 1},
        {"{{now | add_days: 1.5}}", NULL, "needs an integer number of days", 1},
        {"{{now | add_days: \"x\"}}", NULL, "needs an integer number of days", 1},
        {"{{now | add_days: 99999999}}", NULL, "needs an integer number of days", 1},
        {"{{now | add_days: vars.fmt}}", NULL, "needs an integer number of days", 0},
        {"{{now | add_days: vars.nothing}}", NULL, "needs an integer number of days", 0},
        {"{{record.name | add_days: 1}}", NULL, "'John Smith' is not an ISO-8601 date", 0},
        {"{{record.owner | add_days: 1}}", NULL, "got an object", 0},
        {"{{record.active | add_days: 1}}", NULL, "got a boolean", 0},
        {"{{ \"2024-02-30\" | add_days: 1 }}", NULL, "is not an ISO-8601 date", 0},
        {"{{ \"9999-12-31\" | add_days: 1 }}", NULL, "outside years 0000-9999", 0},
        {"{{ \"0000-01-01\" | add_days: -1 }}", NULL, "outside years 0000-9999", 0},
        {"{{ 99999999999999999 | add_days: 1 }}", NULL, "needs a date", 0},
    };
    RUN(cases);
}

static void
test_date_format_tokens(void **state)
{
    (void)state;
    static const s_case_t cases[] = {
        {"{{record.created_at | date_format: \"MMM D, YYYY\"}}", "\"Jan 15, 2024\"", NULL, 0},
        {"{{ \"2024-01-05T09:07:03.045Z\" | date_format: "
         "\"YYYY YY MMMM MMM MM M DD D Do dddd ddd dd d HH H hh h mm m ss s SSS A a Z ZZ\" }}",
         "\"2024 24 January Jan 01 1 05 5 5th Friday Fri Fr 5 09 9 09 9 07 7 03 3 045 AM am "
         "+00:00 +0000\"",
         NULL, 0},
        {"{{ \"2024-07-04T15:30:00Z\" | date_format: \"h:mm A, dddd\" }}", "\"3:30 PM, Thursday\"",
         NULL, 0},
        {"{{ \"2024-07-04T00:05:00Z\" | date_format: \"h a\" }}", "\"12 am\"", NULL, 0},
        {"{{ \"2024-07-04T12:00:00Z\" | date_format: \"hh A\" }}", "\"12 PM\"", NULL, 0},
        {"{{ \"2024-12-31T23:00:00Z\" | date_format: \"MMMM Do\" }}", "\"December 31st\"", NULL, 0},
        {"{{ \"0999-09-01\" | date_format: \"YYYY-MM-DD\" }}", "\"0999-09-01\"", NULL, 0},
        {"{{ \"2024-01-05\" | date_format: \"[Today is] dddd\" }}", "\"Today is Friday\"", NULL, 0},
        {"{{ \"2024-01-05\" | date_format: \"YYYY-MM-DD[T]HH:mm:ss[Z]\" }}",
         "\"2024-01-05T00:00:00Z\"", NULL, 0},
        {"{{ \"2024-01-05\" | date_format: \"[YYYY\" }}", "\"[2024\"", NULL, 0},
        {"{{ \"2024-01-05\" | date_format: \"Q/x \xc3\xa9 YYYY\" }}", "\"Q/x \\u00e9 2024\"", NULL,
         0},
        {"{{ \"2024-01-05\" | date_format: \"\" }}", "\"\"", NULL, 0},
        {"{{now | date_format: \"dddd\"}}", "\"Thursday\"", NULL, 0},
        {"{{record.ms | date_format: \"MMM D\"}}", "\"Jan 15\"", NULL, 0},
        {"{{now | add_days: 1 | date_format: 'ddd D'}}", "\"Fri 20\"", NULL, 0},
        {"{{now | date_format: vars.fmt}}", "\"2026\"", NULL, 0},
        {"{{record.missing | date_format: \"YYYY\"}}", "null", NULL, 0},
        {"{{now | date_format}}", NULL, "needs an argument", 1},
        {"{{now | date_format: 5}}", NULL, "needs a format string", 1},
        {"{{now | date_format: vars.x}}", NULL, "needs a format string", 0},
        {"{{record.name | date_format: \"YYYY\"}}", NULL, "is not an ISO-8601 date", 0},
        {"{{record.tags | date_format: \"YYYY\"}}", NULL, "got an array", 0},
    };
    RUN(cases);
}

static void
test_date_format_ordinals(void **state)
{
    (void)state;
    static const struct {
        int day;
        const char *want;
    } days[] = {{1, "1st"},   {2, "2nd"},   {3, "3rd"},   {4, "4th"},   {10, "10th"},
                {11, "11th"}, {12, "12th"}, {13, "13th"}, {21, "21st"}, {22, "22nd"},
                {23, "23rd"}, {24, "24th"}, {30, "30th"}, {31, "31st"}};
    zf_tpl_scope_t scope = {.root = NULL, .now_ms = 0};
    for (size_t i = 0; i < sizeof days / sizeof days[0]; i++) {
        char tpl[80], err[256];
        snprintf(tpl, sizeof tpl, "{{ \"2024-01-%02d\" | date_format: \"Do\" }}", days[i].day);
        json_t *got = zf_tpl_render(&scope, tpl, err, sizeof err);
        assert_non_null(got);
        assert_string_equal(json_string_value(got), days[i].want);
        json_decref(got);
    }
}

static void
test_default_json_truncate(void **state)
{
    (void)state;
    static const s_case_t cases[] = {
        {"{{record.missing | default: \"n/a\"}}", "\"n/a\"", NULL, 0},
        {"{{record.none | default: \"n/a\"}}", "\"n/a\"", NULL, 0},
        {"{{record.empty | default: \"n/a\"}}", "\"n/a\"", NULL, 0},
        {"{{record.name | default: \"n/a\"}}", "\"John Smith\"", NULL, 0},
        {"{{record.zero | default: 5}}", "0", NULL, 0},
        {"{{record.off | default: true}}", "false", NULL, 0},
        {"{{record.missing | default: 0}}", "0", NULL, 0},
        {"{{record.missing | default: vars.x}}", "3", NULL, 0},
        {"{{record.missing | default: record.gone}}", "null", NULL, 0},
        {"x{{record.missing | default: 'y'}}", "\"xy\"", NULL, 0},
        {"{{record.missing | default}}", NULL, "needs an argument", 1},
        {"{{record.owner | json}}", "\"{\\\"id\\\":\\\"u1\\\"}\"", NULL, 0},
        {"{{record.name | json}}", "\"\\\"John Smith\\\"\"", NULL, 0},
        {"{{record.missing | json}}", "\"null\"", NULL, 0},
        {"{{record.price | json}}", "\"19.99\"", NULL, 0},
        {"{{record.tags | json}}", "\"[\\\"a\\\",\\\"b\\\"]\"", NULL, 0},
        {"{{record.ctl | json}}", "\"\\\"a\\\\\\\"b\\\\n\\\\u0001\\\"\"", NULL, 0},
        {"{{record.uni | json}}", "\"\\\"h\\u00e9llo w\\u00f6rld \\u65e5\\u672c\\u8a9e\\\"\"", NULL,
         0},
        {"{{record | json | truncate: 10}}", "\"{\\\"name\\\":\\\"J\"", NULL, 0},
        {"{{record.owner | json: 1}}", NULL, "takes no argument", 1},
        {"{{record.name | truncate: 4}}", "\"John\"", NULL, 0},
        {"{{record.name | truncate: 0}}", "\"\"", NULL, 0},
        {"{{record.name | truncate: 100}}", "\"John Smith\"", NULL, 0},
        {"{{record.name | truncate: 9223372036854775807}}", "\"John Smith\"", NULL, 0},
        {"{{record.uni | truncate: 2}}", "\"h\\u00e9\"", NULL, 0},
        {"{{record.uni | truncate: 13}}", "\"h\\u00e9llo w\\u00f6rld \\u65e5\"", NULL, 0},
        {"{{record.emoji | truncate: 2}}", "\"\\ud83d\\ude00\\ud83d\\ude00\"", NULL, 0},
        {"{{record.value | truncate: 2}}", "\"50\"", NULL, 0},
        {"{{record.missing | truncate: 2}}", "null", NULL, 0},
        {"{{record.name | truncate: -1}}", NULL, "needs a non-negative integer", 1},
        {"{{record.name | truncate: 'a'}}", NULL, "needs a non-negative integer", 1},
        {"{{record.name | truncate}}", NULL, "needs an argument", 1},
        {"{{record.owner | truncate: 1}}", NULL, "needs a string, got an object", 0},
    };
    RUN(cases);
}

static void
test_syntax_errors(void **state)
{
    (void)state;
    static const s_case_t cases[] = {
        {"{{record.name", NULL, "offset 0: unterminated '{{'", 1},
        {"abc {{ record.name }", NULL, "offset 4: unterminated '{{'", 1},
        {"{{ \"abc }}", NULL, "unterminated string", 1},
        {"{{}}", NULL, "empty expression", 1},
        {"{{   }}", NULL, "empty expression", 1},
        {"abc {{ foo.bar }}", NULL, "offset 7: unknown variable 'foo'", 1},
        {"{{ record.name | nope }}", NULL, "offset 17: unknown filter 'nope'", 1},
        {"{{ record..x }}", NULL, "bad path", 1},
        {"{{ record.a[ }}", NULL, "bad path", 1},
        {"{{ record.items[99999999] }}", NULL, "array index too large", 1},
        {"{{ record.name | }}", NULL, "expected a filter name", 1},
        {"{{ record.name | uppercase | }}", NULL, "expected a filter name", 1},
        {"{{ record.name uppercase }}", NULL, "expected '|'", 1},
        {"{{ now.x }}", NULL, "'now' has no fields", 1},
        {"{{ 1.2.3 }}", NULL, "malformed number", 1},
        {"{{ 12abc }}", NULL, "malformed number", 1},
        {"{{ 1e }}", NULL, "malformed number", 1},
        {"{{ 1e999 }}", NULL, "number out of range", 1},
        {"{{{record.name}}}", NULL, "expected a variable", 1},
        {"{{ | uppercase }}", NULL, "expected a variable", 1},
        {"{{ record.name | upper case }}", NULL, "unknown filter 'upper'", 1},
        {"{{ \"\\u00e9\" }}", "\"u00e9\"", NULL, 0},
        {"ok {{record.name}} then {{ bad", NULL, "offset 24: unterminated", 1},
    };
    RUN(cases);
}

//  Builds "{{ record.name | f | f ... }}" with n filters.
static void
s_many_filters(char *buf, size_t cap, int n)
{
    size_t len = (size_t)snprintf(buf, cap, "{{ record.name");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, cap - len, " | lowercase");
    snprintf(buf + len, cap - len, " }}");
}

static void
test_expression_limits(void **state)
{
    (void)state;
    json_t *root = s_json(s_root_text);
    zf_tpl_scope_t scope = {.root = root, .now_ms = NOW_MS};
    char buf[4096], err[256];
    s_many_filters(buf, sizeof buf, ZF_TPL_FILTERS_MAX);
    json_t *v = zf_tpl_render(&scope, buf, err, sizeof err);
    assert_non_null(v);
    assert_string_equal(json_string_value(v), "john smith");
    json_decref(v);
    s_many_filters(buf, sizeof buf, ZF_TPL_FILTERS_MAX + 1);
    assert_null(zf_tpl_render(&scope, buf, err, sizeof err));
    assert_non_null(strstr(err, "more than 16 filters"));
    assert_int_equal(zf_tpl_check(buf, err, sizeof err), ZF_ELIMIT);

    //  expression length: 1024 bytes between the braces is fine, 1025 not
    memset(buf, 0, sizeof buf);
    memcpy(buf, "{{\"", 3);
    memset(buf + 3, 'a', ZF_TPL_EXPR_MAX - 2);
    memcpy(buf + 3 + ZF_TPL_EXPR_MAX - 2, "\"}}", 4);
    assert_int_equal(zf_tpl_check(buf, err, sizeof err), 0);
    memcpy(buf + 3 + ZF_TPL_EXPR_MAX - 2, "a\"}}", 5);
    assert_int_equal(zf_tpl_check(buf, err, sizeof err), ZF_ELIMIT);
    assert_non_null(strstr(err, "longer than 1024 bytes"));
    assert_null(zf_tpl_render(&scope, buf, err, sizeof err));

    //  path segments: root + 31 more is fine, root + 32 is not
    size_t len = (size_t)snprintf(buf, sizeof buf, "{{record");
    for (int i = 0; i < 31; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, ".a");
    snprintf(buf + len, sizeof buf - len, "}}");
    assert_int_equal(zf_tpl_check(buf, err, sizeof err), 0);
    snprintf(buf + len, sizeof buf - len, ".a}}");
    assert_int_not_equal(zf_tpl_check(buf, err, sizeof err), 0);
    assert_non_null(strstr(err, "32 segments"));
    json_decref(root);
}

static json_t *
s_nested(int depth, json_t *leaf)
{
    json_t *v = leaf;
    for (int i = 0; i < depth; i++) {
        json_t *a = json_array();
        json_array_append_new(a, v);
        v = a;
    }
    return v;
}

static void
test_output_and_depth_limits(void **state)
{
    (void)state;
    char err[256];
    json_t *root = s_json(s_root_text);
    char *blob = malloc(100 * 1024 + 1);
    memset(blob, 'x', 100 * 1024);
    blob[100 * 1024] = '\0';
    json_object_set_new(json_object_get(root, "record"), "blob", json_string(blob));
    free(blob);
    zf_tpl_scope_t scope = {.root = root, .now_ms = NOW_MS};

    json_t *v = zf_tpl_render(&scope, "{{record.blob}}{{record.blob}}", err, sizeof err);
    assert_non_null(v);
    assert_int_equal(json_string_length(v), 200 * 1024);
    json_decref(v);
    assert_null(
        zf_tpl_render(&scope, "{{record.blob}}{{record.blob}}{{record.blob}}", err, sizeof err));
    assert_non_null(strstr(err, "larger than 262144 bytes"));

    //  the budget spans the whole value, typed results included
    json_t *tpl = s_json("[\"{{record.blob}}\", \"{{record.blob}}\", \"{{record.blob | json}}\"]");
    assert_null(zf_tpl_render_value(&scope, tpl, err, sizeof err));
    assert_non_null(strstr(err, "[2]: offset 0:"));
    json_decref(tpl);

    //  template nesting: 32 levels render, 33 do not
    tpl = s_nested(ZF_TPL_DEPTH_MAX, json_string("{{vars.x}}"));
    v = zf_tpl_render_value(&scope, tpl, err, sizeof err);
    assert_non_null(v);
    json_decref(v);
    assert_int_equal(zf_tpl_check_value(tpl, err, sizeof err), 0);
    json_decref(tpl);
    tpl = s_nested(ZF_TPL_DEPTH_MAX + 1, json_string("{{vars.x}}"));
    assert_null(zf_tpl_render_value(&scope, tpl, err, sizeof err));
    assert_non_null(strstr(err, "nesting deeper than 32"));
    assert_int_equal(zf_tpl_check_value(tpl, err, sizeof err), ZF_ELIMIT);
    json_decref(tpl);

    //  deeply nested scope data is an error when written out, not a crash
    json_object_set_new(json_object_get(root, "record"), "deep", s_nested(2000, json_integer(1)));
    assert_null(zf_tpl_render(&scope, "x {{record.deep}}", err, sizeof err));
    assert_null(zf_tpl_render(&scope, "{{record.deep}}", err, sizeof err));
    assert_null(zf_tpl_render(&scope, "{{record.deep | json}}", err, sizeof err));
    assert_non_null(strstr(err, "filter 'json'"));
    json_decref(root);
}

static void
test_many_expressions(void **state)
{
    (void)state;
    char err[256];
    json_t *root = s_json(s_root_text);
    zf_tpl_scope_t scope = {.root = root, .now_ms = NOW_MS};
    const char *unit = "{{record.none}}";
    size_t n = 20000, ulen = strlen(unit);
    char *tpl = malloc(n * ulen + 2);
    for (size_t i = 0; i < n; i++)
        memcpy(tpl + i * ulen, unit, ulen);
    memcpy(tpl + n * ulen, "!", 2);
    json_t *v = zf_tpl_render(&scope, tpl, err, sizeof err);
    assert_non_null(v);
    assert_string_equal(json_string_value(v), "!");
    json_decref(v);
    free(tpl);
    json_decref(root);
}

static void
test_render_value_nested(void **state)
{
    (void)state;
    char err[256];
    json_t *root = s_json(s_root_text);
    zf_tpl_scope_t scope = {.root = root, .now_ms = NOW_MS};
    json_t *tpl =
        s_json("{\"to\": \"{{record.email | lowercase}}\", \"n\": \"{{record.value}}\","
               " \"list\": [\"{{record.name}}\", 5, 2.5, true, null, {\"k\": \"v {{vars.x}}\"}],"
               " \"owner\": \"{{record.owner}}\", \"plain\": \"text }} {\","
               " \"{{record.name}}\": \"keys stay\", \"due\": \"{{now | add_days: 3}}\"}");
    json_t *before = json_deep_copy(tpl);
    json_t *want =
        s_json("{\"to\": \"john@example.com\", \"n\": 50000,"
               " \"list\": [\"John Smith\", 5, 2.5, true, null, {\"k\": \"v 3\"}],"
               " \"owner\": {\"id\": \"u1\"}, \"plain\": \"text }} {\","
               " \"{{record.name}}\": \"keys stay\", \"due\": \"2026-03-22T18:00:00.000Z\"}");
    json_t *got = zf_tpl_render_value(&scope, tpl, err, sizeof err);
    assert_non_null(got);
    assert_true(json_equal(got, want));
    assert_true(json_equal(tpl, before));
    assert_int_equal(zf_tpl_check_value(tpl, err, sizeof err), 0);

    //  the result is independent of the scope: changing it leaves the record alone
    json_object_set_new(json_object_get(got, "owner"), "id", json_string("changed"));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(root, "record"), "owner"), "id")),
                        "u1");
    json_decref(got);
    json_decref(want);
    json_decref(before);
    json_decref(tpl);

    //  a scalar value and a scope without a root
    zf_tpl_scope_t empty = {.root = NULL, .now_ms = NOW_MS};
    tpl = s_json("[\"{{record.name}}\", \"a{{user.id}}b\", 7]");
    got = zf_tpl_render_value(&empty, tpl, err, sizeof err);
    want = s_json("[null, \"ab\", 7]");
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    json_decref(tpl);
    json_decref(root);
}

static void
test_errors_name_the_location(void **state)
{
    (void)state;
    char err[256];
    json_t *root = s_json(s_root_text);
    zf_tpl_scope_t scope = {.root = root, .now_ms = NOW_MS};
    json_t *tpl = s_json("{\"a\": {\"b\": [\"ok\", \"{{ nope }}\"]}}");
    assert_null(zf_tpl_render_value(&scope, tpl, err, sizeof err));
    assert_string_equal(err, "a.b[1]: offset 3: unknown variable 'nope' (use record, previous, "
                             "user, trigger, steps, vars, inputs, event, submission, run, item, "
                             "index, approval, form or now)");
    assert_int_equal(zf_tpl_check_value(tpl, err, sizeof err), ZF_EINVAL);
    assert_non_null(strstr(err, "a.b[1]: offset 3"));
    json_decref(tpl);

    tpl = s_json("{\"body\": {\"text\": \"Hi {{record.owner | uppercase}}\"}}");
    assert_int_equal(zf_tpl_check_value(tpl, err, sizeof err), 0);
    assert_null(zf_tpl_render_value(&scope, tpl, err, sizeof err));
    assert_string_equal(err, "body.text: offset 20: filter 'uppercase': needs a string, got an "
                             "object");
    json_decref(tpl);

    //  error text stays valid UTF-8 whatever the data holds
    tpl = s_json("{\"k\\u00e9y\": \"{{ \\\"\\u00e9\\u00e9\\\" | add_days: 1 }}\"}");
    assert_null(zf_tpl_render_value(&scope, tpl, err, sizeof err));
    json_t *as_json = json_string(err);
    assert_non_null(as_json);
    json_decref(as_json);
    json_decref(tpl);
    json_decref(root);
}

static void
test_has_and_null_arguments(void **state)
{
    (void)state;
    char err[64];
    zf_tpl_scope_t scope = {.root = NULL, .now_ms = 0};
    assert_true(zf_tpl_has("a {{x}}"));
    assert_true(zf_tpl_has("{{"));
    assert_false(zf_tpl_has("a { {x} }"));
    assert_false(zf_tpl_has(NULL));
    assert_null(zf_tpl_render(&scope, NULL, err, sizeof err));
    assert_null(zf_tpl_render(NULL, "x", NULL, 0));
    assert_null(zf_tpl_render_value(&scope, NULL, err, sizeof err));
    assert_int_not_equal(zf_tpl_check(NULL, err, sizeof err), 0);
    assert_int_not_equal(zf_tpl_check_value(NULL, NULL, 0), 0);
    json_t *v = zf_tpl_render(&scope, "{{now}}", NULL, 0);
    assert_string_equal(json_string_value(v), "1970-01-01T00:00:00.000Z");
    json_decref(v);
    //  a NUL inside a JSON string is data, not the end of the template
    json_t *tpl = json_stringn("a\0{{ now }}", 11);
    v = zf_tpl_render_value(&scope, tpl, err, sizeof err);
    assert_non_null(v);
    assert_int_equal(json_string_length(v), 26);
    json_decref(v);
    json_decref(tpl);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typed_single_expression),
        cmocka_unit_test(test_interpolation_of_every_type),
        cmocka_unit_test(test_rendered_output_is_never_rerendered),
        cmocka_unit_test(test_case_filters),
        cmocka_unit_test(test_add_days),
        cmocka_unit_test(test_date_format_tokens),
        cmocka_unit_test(test_date_format_ordinals),
        cmocka_unit_test(test_default_json_truncate),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_expression_limits),
        cmocka_unit_test(test_output_and_depth_limits),
        cmocka_unit_test(test_many_expressions),
        cmocka_unit_test(test_render_value_nested),
        cmocka_unit_test(test_errors_name_the_location),
        cmocka_unit_test(test_has_and_null_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
