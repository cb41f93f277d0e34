/*  actors/breaker.h — per outbound host circuit breakers (thread-safe).

    closed --N consecutive failures--> open --cooldown--> half-open
    half-open: one probe at a time; success closes, failure re-opens with a
    doubled cooldown (capped). A 429/503 with Retry-After opens the breaker
    until that time. While open, callers get the time to come back and the
    run passivates until then (it does not fail, it does not burn attempts).
*/
#ifndef ZF_BREAKER_H
#define ZF_BREAKER_H

#include <stdint.h>

typedef struct zf_breakers_t zf_breakers_t;

typedef struct {
    int failure_threshold;    // consecutive failures to open (default 5)
    int64_t cooldown_ms;      // first open period (default 30,000)
    int64_t max_cooldown_ms;  // cap for doubling (default 600,000)
} zf_breaker_conf_t;

zf_breakers_t *zf_breakers_new(const zf_breaker_conf_t *conf);  // NULL conf = defaults
void zf_breakers_destroy(zf_breakers_t **self_p);

//  0 if a request to host may go now (closed, or this caller is the
//  half-open probe); otherwise returns the Unix ms when to try again.
int64_t zf_breaker_acquire(zf_breakers_t *self, const char *host, int64_t now_ms);
//  Outcome of a request that acquire() allowed. retry_after_ms > 0 opens
//  until now + retry_after_ms (429/503 with Retry-After).
void zf_breaker_success(zf_breakers_t *self, const char *host);
void zf_breaker_failure(zf_breakers_t *self, const char *host, int64_t now_ms,
                        int64_t retry_after_ms);
//  "closed" | "open" | "half_open" (for stats/tests).
const char *zf_breaker_state(zf_breakers_t *self, const char *host, int64_t now_ms);

#endif
