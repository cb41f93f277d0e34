/*  tests/breaker_test.c — per-host circuit breakers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "actors/breaker.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const zf_breaker_conf_t s_conf = {3, 1000, 4000};

static void
test_closed_until_threshold(void **state)
{
    (void)state;
    zf_breakers_t *b = zf_breakers_new(&s_conf);
    assert_int_equal(zf_breaker_acquire(b, "api.example.com", 0), 0);
    assert_string_equal(zf_breaker_state(b, "api.example.com", 0), "closed");
    zf_breaker_failure(b, "api.example.com", 10, 0);
    zf_breaker_failure(b, "api.example.com", 20, 0);
    assert_string_equal(zf_breaker_state(b, "api.example.com", 20), "closed");
    assert_int_equal(zf_breaker_acquire(b, "api.example.com", 20), 0);
    //  A success in between resets the count.
    zf_breaker_success(b, "api.example.com");
    zf_breaker_failure(b, "api.example.com", 30, 0);
    zf_breaker_failure(b, "api.example.com", 40, 0);
    assert_string_equal(zf_breaker_state(b, "api.example.com", 40), "closed");
    zf_breaker_failure(b, "api.example.com", 50, 0);
    assert_string_equal(zf_breaker_state(b, "api.example.com", 50), "open");
    //  Host names compare case-insensitively; other hosts are unaffected.
    assert_string_equal(zf_breaker_state(b, "API.Example.COM", 50), "open");
    assert_int_equal(zf_breaker_acquire(b, "other.example.com", 50), 0);
    zf_breakers_destroy(&b);
    assert_null(b);
    zf_breakers_destroy(&b);
}

//  Opens the breaker for host at time t with s_conf's threshold.
static void
s_open(zf_breakers_t *b, const char *host, int64_t t)
{
    for (int i = 0; i < s_conf.failure_threshold; i++)
        zf_breaker_failure(b, host, t, 0);
}

static void
test_open_returns_reopen_time(void **state)
{
    (void)state;
    zf_breakers_t *b = zf_breakers_new(&s_conf);
    s_open(b, "h", 100);
    assert_int_equal(zf_breaker_acquire(b, "h", 100), 1100);
    assert_int_equal(zf_breaker_acquire(b, "h", 1099), 1100);
    assert_string_equal(zf_breaker_state(b, "h", 1099), "open");
    assert_string_equal(zf_breaker_state(b, "h", 1100), "half_open");
    zf_breakers_destroy(&b);
}

static void
test_half_open_single_probe(void **state)
{
    (void)state;
    zf_breakers_t *b = zf_breakers_new(&s_conf);
    s_open(b, "h", 0);
    assert_int_equal(zf_breaker_acquire(b, "h", 1000), 0);  // the probe
    assert_string_equal(zf_breaker_state(b, "h", 1000), "half_open");
    int64_t again = zf_breaker_acquire(b, "h", 1001);
    assert_true(again > 1001);
    assert_true(zf_breaker_acquire(b, "h", 1500) > 1500);
    //  Probe success closes the breaker.
    zf_breaker_success(b, "h");
    assert_string_equal(zf_breaker_state(b, "h", 1600), "closed");
    assert_int_equal(zf_breaker_acquire(b, "h", 1600), 0);
    assert_int_equal(zf_breaker_acquire(b, "h", 1601), 0);
    zf_breakers_destroy(&b);
}

static void
test_lost_probe_is_replaced(void **state)
{
    (void)state;
    zf_breakers_t *b = zf_breakers_new(&s_conf);
    s_open(b, "h", 0);
    assert_int_equal(zf_breaker_acquire(b, "h", 1000), 0);
    assert_true(zf_breaker_acquire(b, "h", 1999) > 0);
    //  The probe never reported: after its deadline a new caller probes.
    assert_int_equal(zf_breaker_acquire(b, "h", 2000), 0);
    zf_breakers_destroy(&b);
}

static void
test_probe_failure_doubles_cooldown_capped(void **state)
{
    (void)state;
    zf_breakers_t *b = zf_breakers_new(&s_conf);
    s_open(b, "h", 0);  // open until 1000
    int64_t t = 1000;
    const int64_t want[] = {2000, 4000, 4000, 4000};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(zf_breaker_acquire(b, "h", t), 0);
        zf_breaker_failure(b, "h", t, 0);
        assert_string_equal(zf_breaker_state(b, "h", t), "open");
        assert_int_equal(zf_breaker_acquire(b, "h", t), t + want[i]);
        t += want[i];
    }
    assert_int_equal(zf_breaker_acquire(b, "h", t), 0);
    zf_breaker_success(b, "h");
    //  After closing, the next opening starts from the base cooldown again.
    s_open(b, "h", t);
    assert_int_equal(zf_breaker_acquire(b, "h", t), t + 1000);
    zf_breakers_destroy(&b);
}

static void
test_retry_after_opens_until_then(void **state)
{
    (void)state;
    zf_breakers_t *b = zf_breakers_new(&s_conf);
    zf_breaker_failure(b, "rl.example", 500, 7000);
    assert_string_equal(zf_breaker_state(b, "rl.example", 500), "open");
    assert_int_equal(zf_breaker_acquire(b, "rl.example", 600), 7500);
    //  A shorter Retry-After does not shorten an open period.
    zf_breaker_failure(b, "rl.example", 700, 1000);
    assert_int_equal(zf_breaker_acquire(b, "rl.example", 800), 7500);
    assert_int_equal(zf_breaker_acquire(b, "rl.example", 7500), 0);
    zf_breakers_destroy(&b);
}

static void
test_defaults_and_many_hosts(void **state)
{
    (void)state;
    zf_breakers_t *b = zf_breakers_new(NULL);
    char host[64];
    //  More hosts than the table tracks: the oldest closed ones are evicted.
    for (int i = 0; i < 5000; i++) {
        snprintf(host, sizeof host, "h%d.example", i);
        zf_breaker_failure(b, host, 0, 0);
    }
    for (int i = 0; i < 4; i++)
        zf_breaker_failure(b, "h4999.example", 0, 0);
    assert_string_equal(zf_breaker_state(b, "h4999.example", 0), "open");
    assert_int_equal(zf_breaker_acquire(b, "h4999.example", 0), 30000);
    assert_int_equal(zf_breaker_acquire(b, "h0.example", 0), 0);
    zf_breakers_destroy(&b);
}

typedef struct {
    zf_breakers_t *b;
    int id;
    int allowed;
    int refused;
} s_worker_t;

static void *
s_hammer(void *arg)
{
    s_worker_t *w = arg;
    char host[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(host, sizeof host, "host%d", (i + w->id) % 7);
        int64_t now = i;
        if (zf_breaker_acquire(w->b, host, now) == 0) {
            w->allowed++;
            if ((i + w->id) % 3 == 0)
                zf_breaker_success(w->b, host);
            else
                zf_breaker_failure(w->b, host, now, (i % 97) == 0 ? 50 : 0);
        } else {
            w->refused++;
        }
        (void)zf_breaker_state(w->b, host, now);
    }
    return NULL;
}

static void
test_concurrent_hammering(void **state)
{
    (void)state;
    zf_breakers_t *b = zf_breakers_new(&(zf_breaker_conf_t){2, 10, 100});
    pthread_t th[4];
    s_worker_t w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (s_worker_t){.b = b, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, s_hammer, &w[i]), 0);
    }
    int allowed = 0, refused = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        allowed += w[i].allowed;
        refused += w[i].refused;
    }
    assert_int_equal(allowed + refused, 4 * 20000);
    assert_true(allowed > 0);
    assert_true(refused > 0);
    //  After all the noise a success closes every host.
    char host[32];
    for (int i = 0; i < 7; i++) {
        snprintf(host, sizeof host, "host%d", i);
        zf_breaker_success(b, host);
        assert_string_equal(zf_breaker_state(b, host, 0), "closed");
    }
    zf_breakers_destroy(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_until_threshold),
        cmocka_unit_test(test_open_returns_reopen_time),
        cmocka_unit_test(test_half_open_single_probe),
        cmocka_unit_test(test_lost_probe_is_replaced),
        cmocka_unit_test(test_probe_failure_doubles_cooldown_capped),
        cmocka_unit_test(test_retry_after_opens_until_then),
        cmocka_unit_test(test_defaults_and_many_hosts),
        cmocka_unit_test(test_concurrent_hammering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
