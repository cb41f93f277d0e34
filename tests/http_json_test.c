/*  tests/http_json_test.c — strict request-body parsing and the time
    helpers of the dialect framework. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "http/dialect.h"
#include "http/json.h"

static json_t *
s_parse(const char *text, size_t len, char *msg)
{
    msg[0] = '\0';
    return zf_http_json_parse(text, len, ZF_HTTP_JSON_MAX_DEPTH, msg, 160);
}

static void
test_valid_object(void **state)
{
    (void)state;
    char msg[160];
    const char *t = "{\"name\": \"caf\xc3\xa9 \\u00e9\", \"n\": [1, 2.5, {\"x\": null}], \"big\": "
                    "9007199254740993}";
    json_t *v = s_parse(t, strlen(t), msg);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "name")), "caf\xc3\xa9 \xc3\xa9");
    assert_int_equal(json_integer_value(json_object_get(v, "big")), 9007199254740993LL);
    json_decref(v);
}

static void
test_duplicate_keys_rejected(void **state)
{
    (void)state;
    char msg[160];
    const char *t = "{\"a\": 1, \"b\": {\"c\": 1, \"c\": 2}}";
    assert_null(s_parse(t, strlen(t), msg));
    assert_non_null(strstr(msg, "duplicate"));
}

//  n nested arrays around 1: depth n.
static char *
s_nested(size_t n)
{
    char *t = malloc(2 * n + 2);
    memset(t, '[', n);
    t[n] = '1';
    memset(t + n + 1, ']', n);
    t[2 * n + 1] = '\0';
    return t;
}

static void
test_depth_limit(void **state)
{
    (void)state;
    char msg[160];
    char *t = s_nested(64);
    json_t *v = s_parse(t, strlen(t), msg);
    assert_non_null(v);
    json_decref(v);
    free(t);
    t = s_nested(65);
    assert_null(s_parse(t, strlen(t), msg));
    assert_non_null(strstr(msg, "nested deeper than 64"));
    free(t);
    t = s_nested(10000);
    assert_null(s_parse(t, strlen(t), msg));
    free(t);
    //  brackets inside strings (and escaped quotes) do not count
    char buf[512];
    snprintf(buf, sizeof buf, "{\"s\": \"%s\\\"[[[\"}",
             "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
             "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
    v = s_parse(buf, strlen(buf), msg);
    assert_non_null(v);
    json_decref(v);
    assert_int_equal(zf_http_json_depth("{\"a\":[{}]}", 10, 64), 3);
}

static void
test_invalid_utf8_rejected(void **state)
{
    (void)state;
    char msg[160];
    const char *bad[] = {"{\"a\": \"\xff\"}", "{\"a\": \"\xc0\x80\"}", "{\"a\": \"\xed\xa0\x80\"}",
                         "{\"\xfe\": 1}", "{\"a\": \"\xe2\x82\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(s_parse(bad[i], strlen(bad[i]), msg));
        assert_non_null(strstr(msg, "UTF-8"));
        for (const char *p = msg; *p; p++)  // the message never quotes the bytes
            assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
    }
}

static void
test_other_malformed_input(void **state)
{
    (void)state;
    char msg[160];
    const char *bad[] = {"",
                         "{",
                         "{\"a\": 1} x",
                         "{\"a\": NaN}",
                         "{\"a\": \"\\u0000\"}",
                         "{'a': 1}",
                         "{\"a\": 0x10}",
                         "{\"a\": 1,}",
                         "  "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(s_parse(bad[i], strlen(bad[i]), msg));
        assert_non_null(strstr(msg, "invalid JSON body"));
        assert_null(strstr(msg, "0x"));
    }
    //  an embedded NUL byte ends nothing: the length is what counts
    assert_null(s_parse("{\"a\": 1}\0garbage", 16, msg));
    //  arrays parse (the pipeline then insists on an object); a bare
    //  scalar is valid JSON but no request, and says so
    json_t *v = s_parse("[1]", 3, msg);
    assert_true(json_is_array(v));
    json_decref(v);
    const char *scalars[][2] = {{"42", "not a number"},     {" -1.5e3 ", "not a number"},
                                {"\"x\"", "not a string"},  {"true", "not a boolean"},
                                {"false", "not a boolean"}, {"null", "not null"}};
    for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
        assert_null(s_parse(scalars[i][0], strlen(scalars[i][0]), msg));
        assert_non_null(strstr(msg, "expected a JSON object"));
        assert_non_null(strstr(msg, scalars[i][1]));
    }
}

static void
test_iso_time(void **state)
{
    (void)state;
    char out[32];
    zf_http_iso(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    zf_http_iso(1773943200000LL, out);
    assert_string_equal(out, "2026-03-19T18:00:00.000Z");
    zf_http_iso(1773943247047LL, out);
    assert_string_equal(out, "2026-03-19T18:00:47.047Z");
    zf_http_iso(-1, out);
    assert_string_equal(out, "1969-12-31T23:59:59.999Z");
    zf_http_iso(951782400000LL, out);  // leap day 2000
    assert_string_equal(out, "2000-02-29T00:00:00.000Z");
    zf_http_iso(253402300799999LL, out);
    assert_string_equal(out, "9999-12-31T23:59:59.999Z");
}

static void
test_time_json(void **state)
{
    (void)state;
    json_t *ms = json_integer(1773943200123LL), *s = zf_http_time_json(ms);
    assert_string_equal(json_string_value(s), "2026-03-19T18:00:00.123Z");
    json_decref(s);
    json_decref(ms);
    json_t *nul = json_null(), *str = json_string("x");
    json_t *a = zf_http_time_json(NULL), *b = zf_http_time_json(nul), *c = zf_http_time_json(str);
    assert_true(json_is_null(a) && json_is_null(b) && json_is_null(c));
    json_decref(str);
    json_t *d = zf_http_or_null(NULL);
    assert_true(json_is_null(d));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_object),
        cmocka_unit_test(test_duplicate_keys_rejected),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_invalid_utf8_rejected),
        cmocka_unit_test(test_other_malformed_input),
        cmocka_unit_test(test_iso_time),
        cmocka_unit_test(test_time_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
