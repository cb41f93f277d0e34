/*  tests/http_ratelimit_test.c — fixed one-minute windows per key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>

#include "http/ratelimit.h"

#define T0  1773943200000LL  // 2026-03-19T18:00:00.000Z
#define MIN 60000

static void
test_exactly_limit_of_150(void **state)
{
    (void)state;
    zf_ratelimit_t *rl = zf_ratelimit_new(100, MIN, 1000);
    zf_ratelimit_info_t info;
    int ok = 0, refused = 0;
    for (int i = 0; i < 150; i++) {
        if (zf_ratelimit_hit(rl, "t\x1fu", T0 + i * 10, &info))
            ok++;
        else
            refused++;
        assert_int_equal(info.limit, 100);
        assert_int_equal(info.remaining, i < 100 ? 99 - i : 0);
        assert_int_equal(info.reset_s, (T0 + MIN) / 1000);
    }
    assert_int_equal(ok, 100);
    assert_int_equal(refused, 50);
    zf_ratelimit_destroy(&rl);
    assert_null(rl);
}

static void
test_window_resets(void **state)
{
    (void)state;
    zf_ratelimit_t *rl = zf_ratelimit_new(3, MIN, 1000);
    zf_ratelimit_info_t info;
    int64_t start = T0 + 500;  // the window starts at the first request
    for (int i = 0; i < 3; i++)
        assert_true(zf_ratelimit_hit(rl, "k", start + i, &info));
    assert_false(zf_ratelimit_hit(rl, "k", start + 1000, &info));
    assert_int_equal(info.retry_after, 59);
    assert_int_equal(info.reset_s, (start + MIN + 999) / 1000);
    assert_false(zf_ratelimit_hit(rl, "k", start + MIN - 1, &info));
    assert_int_equal(info.retry_after, 1);                       // never 0
    assert_true(zf_ratelimit_hit(rl, "k", start + MIN, &info));  // a new window
    assert_int_equal(info.remaining, 2);
    assert_int_equal(info.reset_s, (start + 2 * MIN + 999) / 1000);
    zf_ratelimit_destroy(&rl);
}

static void
test_keys_are_independent(void **state)
{
    (void)state;
    zf_ratelimit_t *rl = zf_ratelimit_new(1, MIN, 1000);
    zf_ratelimit_info_t info;
    assert_true(zf_ratelimit_hit(rl, "acme\x1fu1", T0, &info));
    assert_false(zf_ratelimit_hit(rl, "acme\x1fu1", T0, &info));
    assert_true(zf_ratelimit_hit(rl, "acme\x1fu2", T0, &info));
    assert_true(zf_ratelimit_hit(rl, "other\x1fu1", T0, &info));
    zf_ratelimit_destroy(&rl);
}

static void
test_expired_windows_are_evicted(void **state)
{
    (void)state;
    zf_ratelimit_t *rl = zf_ratelimit_new(5, MIN, 100000);
    zf_ratelimit_info_t info;
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "user-%d", i);
        zf_ratelimit_hit(rl, key, T0, &info);
    }
    assert_int_equal(zf_ratelimit_size(rl), 1000);
    zf_ratelimit_hit(rl, "late", T0 + MIN, &info);  // one window later: a sweep
    assert_int_equal(zf_ratelimit_size(rl), 1);
    zf_ratelimit_destroy(&rl);
}

static void
test_bounded_table(void **state)
{
    (void)state;
    zf_ratelimit_t *rl = zf_ratelimit_new(5, MIN, 10);
    zf_ratelimit_info_t info;
    char key[32];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "user-%d", i);
        assert_true(zf_ratelimit_hit(rl, key, T0, &info));
    }
    assert_false(zf_ratelimit_hit(rl, "user-new", T0 + 1, &info));  // full of live windows
    assert_true(info.retry_after >= 1);
    assert_true(zf_ratelimit_hit(rl, "user-3", T0 + 2, &info));  // known keys still counted
    assert_int_equal(zf_ratelimit_size(rl), 10);
    assert_true(zf_ratelimit_hit(rl, "user-new", T0 + MIN, &info));  // expired ones make room
    assert_int_equal(zf_ratelimit_size(rl), 1);
    zf_ratelimit_destroy(&rl);
}

typedef struct {
    zf_ratelimit_t *rl;  // shared limiter
    int allowed;         // hits this thread got through
} s_worker_t;

static void *
s_hammer(void *arg)
{
    s_worker_t *w = arg;
    zf_ratelimit_info_t info;
    for (int i = 0; i < 5000; i++)
        w->allowed += zf_ratelimit_hit(w->rl, "shared", T0 + i % 100, &info);
    return NULL;
}

static void
test_thread_safe_exactness(void **state)
{
    (void)state;
    zf_ratelimit_t *rl = zf_ratelimit_new(1234, MIN, 10);
    s_worker_t w[4] = {{rl, 0}, {rl, 0}, {rl, 0}, {rl, 0}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, s_hammer, &w[i]);
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        total += w[i].allowed;
    }
    assert_int_equal(total, 1234);
    zf_ratelimit_destroy(&rl);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exactly_limit_of_150),
        cmocka_unit_test(test_window_resets),
        cmocka_unit_test(test_keys_are_independent),
        cmocka_unit_test(test_expired_windows_are_evicted),
        cmocka_unit_test(test_bounded_table),
        cmocka_unit_test(test_thread_safe_exactness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
