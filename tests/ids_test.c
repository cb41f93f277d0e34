/*  tests/ids_test.c — UUIDv7, random bytes, clock, ISO-8601. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/errors.h"
#include "broker/ids.h"

static int
s_hexval(char c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

//  The 48-bit timestamp encoded in the first 12 hex digits.
static int64_t
s_uuid_ms(const char *u)
{
    int64_t ms = 0;
    for (int i = 0; i < 13; i++)
        if (u[i] != '-') ms = ms * 16 + s_hexval(u[i]);
    return ms;
}

static void
test_uuid7_format_version_variant(void **state)
{
    (void)state;
    for (int i = 0; i < 1000; i++) {
        char u[ZF_UUID_LEN + 1];
        memset(u, 'x', sizeof u);
        zf_uuid7(u);
        assert_int_equal(strlen(u), ZF_UUID_LEN);
        assert_true(zf_uuid_valid(u));
        assert_int_equal(u[14], '7');            // version nibble
        assert_non_null(strchr("89ab", u[19]));  // variant 10xx
        for (int k = 0; k < ZF_UUID_LEN; k++)    // canonical lower case
            assert_false(u[k] >= 'A' && u[k] <= 'F');
    }
}

static void
test_uuid7_timestamp_is_now(void **state)
{
    (void)state;
    int64_t before = zf_now_ms();
    char u[ZF_UUID_LEN + 1];
    zf_uuid7(u);
    int64_t after = zf_now_ms();
    int64_t ms = s_uuid_ms(u);
    assert_true(ms >= before);
    assert_true(ms <= after + 1);  // counter overflow may bump by 1 ms
}

static void
test_uuid7_sortable_over_time(void **state)
{
    (void)state;
    char a[ZF_UUID_LEN + 1], b[ZF_UUID_LEN + 1];
    zf_uuid7(a);
    struct timespec ts = {0, 3 * 1000 * 1000};
    nanosleep(&ts, NULL);
    zf_uuid7(b);
    assert_true(strcmp(a, b) < 0);
    assert_true(s_uuid_ms(b) > s_uuid_ms(a));
}

static int
s_cmp(const void *x, const void *y)
{
    return strcmp(x, y);
}

//  100k ids from one thread: all distinct and, being per-thread monotonic,
//  generated in strictly increasing order.
static void
test_uuid7_unique_and_monotonic_100k(void **state)
{
    (void)state;
    enum { N = 100000 };
    char(*ids)[ZF_UUID_LEN + 1] = malloc(N * sizeof *ids);
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        zf_uuid7(ids[i]);
        if (i > 0) assert_true(strcmp(ids[i - 1], ids[i]) < 0);
    }
    qsort(ids, N, sizeof *ids, s_cmp);
    for (int i = 1; i < N; i++)
        assert_int_not_equal(strcmp(ids[i - 1], ids[i]), 0);
    free(ids);
}

static void
test_random_bytes_fill(void **state)
{
    (void)state;
    unsigned char a[64] = {0}, b[64] = {0}, zero[64] = {0};
    zf_random_bytes(a, sizeof a);
    zf_random_bytes(b, sizeof b);
    assert_memory_not_equal(a, zero, sizeof a);
    assert_memory_not_equal(a, b, sizeof a);
    zf_random_bytes(a, 0);  // no-op
}

static void
test_now_ms_matches_time(void **state)
{
    (void)state;
    int64_t ms = zf_now_ms();
    int64_t s = (int64_t)time(NULL);
    assert_true(ms / 1000 >= s - 1 && ms / 1000 <= s + 1);
}

static void
test_iso8601_known_instants(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *text;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {1709210096789, "2024-02-29T12:34:56.789Z"},
        {1773943200000, "2026-03-19T18:00:00.000Z"},
        {951782400000, "2000-02-29T00:00:00.000Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {253402300799999, "9999-12-31T23:59:59.999Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[32];
        zf_iso8601(cases[i].ms, out);
        assert_string_equal(out, cases[i].text);
    }
}

static void
test_uuid_valid(void **state)
{
    (void)state;
    const char *good[] = {
        "01890a5d-ac96-774b-bcce-b302099a8057", "01890A5D-AC96-774B-BCCE-B302099A8057",
        "00000000-0000-0000-0000-000000000000",
        "550e8400-e29b-41d4-a716-446655440000",  // v4 is fine too
    };
    const char *bad[] = {
        NULL,
        "",
        "01890a5d-ac96-774b-bcce-b302099a805",    // short
        "01890a5d-ac96-774b-bcce-b302099a80577",  // long
        "01890a5dac96-774b-bcce-b302099a80577",   // hyphen missing
        "01890a5d-ac96-774b-bcce_b302099a8057",   // wrong separator
        "01890g5d-ac96-774b-bcce-b302099a8057",   // not hex
        "{1890a5d-ac96-774b-bcce-b302099a8057}",
        "01890a5d-ac96-774b-bcce-b302099a805 ",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(zf_uuid_valid(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(zf_uuid_valid(bad[i]));
}

static void
test_err_names_round_trip(void **state)
{
    (void)state;
    static const struct {
        int code;
        const char *name;
    } cases[] = {
        {ZF_ENOTFOUND, "not_found"},
        {ZF_EINVAL, "validation"},
        {ZF_ECONFLICT, "conflict"},
        {ZF_EFORBIDDEN, "forbidden"},
        {ZF_EUNAUTH, "unauthorized"},
        {ZF_EUNAVAIL, "unavailable"},
        {ZF_ELIMIT, "too_large"},
        {ZF_ETIMEOUT, "timeout"},
        {ZF_EIO, "internal"},
        {ZF_ERATE, "rate_limited"},
        {ZF_EUNSUPPORTED, "not_implemented"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_string_equal(zf_err_name(cases[i].code), cases[i].name);
        assert_int_equal(zf_err_from_name(cases[i].name), cases[i].code);
    }
    assert_string_equal(zf_err_name(-999), "internal");
    assert_string_equal(zf_err_name(5), "internal");
    assert_int_equal(zf_err_from_name("nope"), ZF_EIO);
    assert_int_equal(zf_err_from_name(NULL), ZF_EIO);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid7_format_version_variant),
        cmocka_unit_test(test_uuid7_timestamp_is_now),
        cmocka_unit_test(test_uuid7_sortable_over_time),
        cmocka_unit_test(test_uuid7_unique_and_monotonic_100k),
        cmocka_unit_test(test_random_bytes_fill),
        cmocka_unit_test(test_now_ms_matches_time),
        cmocka_unit_test(test_iso8601_known_instants),
        cmocka_unit_test(test_uuid_valid),
        cmocka_unit_test(test_err_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
