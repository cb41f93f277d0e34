/*  http/ratelimit.c — fixed-window limiter. See ratelimit.h. */
#include "http/ratelimit.h"

#include <assert.h>
#include <czmq.h>
#include <pthread.h>

typedef struct {
    int64_t start;  // window start, Unix ms
    int count;      // requests counted in the window
} s_window_t;

struct zf_ratelimit_t {
    pthread_mutex_t lock;  // guards everything below
    zhashx_t *windows;     // key -> s_window_t (owned)
    int limit;             // requests per window
    int64_t window_ms;     // window length
    size_t max_keys;       // windows held at most
    int64_t last_sweep;    // Unix ms of the last sweep of expired windows
};

static void
s_window_free(void **item)
{
    free(*item);
    *item = NULL;
}

zf_ratelimit_t *
zf_ratelimit_new(int limit, int64_t window_ms, size_t max_keys)
{
    assert(limit >= 1 && window_ms >= 1 && max_keys >= 1);
    zf_ratelimit_t *self = calloc(1, sizeof *self);
    assert(self);
    pthread_mutex_init(&self->lock, NULL);
    self->windows = zhashx_new();
    zhashx_set_destructor(self->windows, s_window_free);
    self->limit = limit;
    self->window_ms = window_ms;
    self->max_keys = max_keys;
    return self;
}

void
zf_ratelimit_destroy(zf_ratelimit_t **self_p)
{
    if (!self_p || !*self_p) return;
    zf_ratelimit_t *self = *self_p;
    zhashx_destroy(&self->windows);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

//  Drops every window that has ended. O(n), so it runs at most once per
//  window length, or when the table is full.
static void
s_sweep(zf_ratelimit_t *self, int64_t now)
{
    zlistx_t *dead = zlistx_new();
    for (s_window_t *w = zhashx_first(self->windows); w; w = zhashx_next(self->windows)) {
        if (now >= w->start + self->window_ms)
            zlistx_add_end(dead, (void *)zhashx_cursor(self->windows));
    }
    for (const char *k = zlistx_first(dead); k; k = zlistx_next(dead))
        zhashx_delete(self->windows, k);
    zlistx_destroy(&dead);
    self->last_sweep = now;
}

//  The live window of key at now, opening one if needed; NULL when the
//  table is full of live windows.
static s_window_t *
s_window(zf_ratelimit_t *self, const char *key, int64_t now)
{
    if (now - self->last_sweep >= self->window_ms) s_sweep(self, now);
    s_window_t *w = zhashx_lookup(self->windows, key);
    if (w && now >= w->start + self->window_ms) {
        w->start = now;
        w->count = 0;
    }
    if (w) return w;
    if (zhashx_size(self->windows) >= self->max_keys) s_sweep(self, now);
    if (zhashx_size(self->windows) >= self->max_keys) return NULL;
    w = calloc(1, sizeof *w);
    assert(w);
    w->start = now;
    zhashx_insert(self->windows, key, w);
    return w;
}

bool
zf_ratelimit_hit(zf_ratelimit_t *self, const char *key, int64_t now_ms, zf_ratelimit_info_t *out)
{
    pthread_mutex_lock(&self->lock);
    s_window_t *w = s_window(self, key, now_ms);
    int64_t end = w ? w->start + self->window_ms : now_ms + self->window_ms;
    out->limit = self->limit;
    out->allowed = w && w->count < self->limit;
    if (out->allowed) w->count++;
    out->remaining = w ? self->limit - w->count : 0;
    pthread_mutex_unlock(&self->lock);
    out->reset_s = (end + 999) / 1000;
    out->retry_after = (end - now_ms + 999) / 1000;
    if (out->retry_after < 1) out->retry_after = 1;
    return out->allowed;
}

size_t
zf_ratelimit_size(zf_ratelimit_t *self)
{
    pthread_mutex_lock(&self->lock);
    size_t n = zhashx_size(self->windows);
    pthread_mutex_unlock(&self->lock);
    return n;
}
