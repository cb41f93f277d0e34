/*  http/ratelimit.h — fixed-window request limits per user.

    Each key (the front end uses tenant + user) gets a window of window_ms
    starting at its first request; within it the first `limit` requests
    pass and the rest are refused until the window ends, when the next
    request opens a new window. Exact (a mutex, no sharding), thread-safe.

    Memory is bounded: expired windows are swept at most once per window
    length, and when max_keys live windows exist a new key is refused (the
    server is then under a flood of distinct users; refusing is safer than
    evicting someone's live window, which would reset their limit).
*/
#ifndef ZF_HTTP_RATELIMIT_H
#define ZF_HTTP_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct zf_ratelimit_t zf_ratelimit_t;

typedef struct {
    bool allowed;         // this request may proceed
    int limit;            // requests per window
    int remaining;        // requests left in the window after this one
    int64_t reset_s;      // Unix seconds when the window ends (rounded up)
    int64_t retry_after;  // seconds until the window ends, >= 1 (for refusals)
} zf_ratelimit_info_t;

//  limit >= 1 requests per window_ms >= 1; max_keys >= 1.
zf_ratelimit_t *zf_ratelimit_new(int limit, int64_t window_ms, size_t max_keys);
void zf_ratelimit_destroy(zf_ratelimit_t **self_p);

//  Counts one request of key at now_ms (Unix ms) and fills out. Returns
//  out->allowed.
bool zf_ratelimit_hit(zf_ratelimit_t *self, const char *key, int64_t now_ms,
                      zf_ratelimit_info_t *out);

//  Number of windows held (live or not yet swept).
size_t zf_ratelimit_size(zf_ratelimit_t *self);

#endif
