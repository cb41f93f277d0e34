/*  actors/breaker.c — per outbound host circuit breakers (thread-safe).

    One mutex guards a sorted array of host entries (binary search, memmove
    on insert/remove). A host is tracked only once it fails; a success
    forgets it. At most S_HOSTS_MAX hosts are tracked: when full, the least
    recently used closed entry is evicted, and if every entry is open the
    new host simply goes untracked (it behaves as closed).
*/
#include "actors/breaker.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define S_HOSTS_MAX  4096  // tracked hosts
#define S_HOST_LEN   256   // bytes kept of a host name (lower-cased)
#define S_PROBE_WAIT 1000  // ms a caller waits while another caller probes

typedef enum { S_CLOSED, S_OPEN, S_HALF_OPEN } s_state_t;

typedef struct {
    char host[S_HOST_LEN];   // lower-cased host name (sort key)
    s_state_t state;         // breaker state
    int failures;            // consecutive failures while closed
    int64_t open_until;      // S_OPEN: Unix ms when a probe may go
    int64_t cooldown;        // current open period (doubles on probe failure)
    int64_t probe_deadline;  // S_HALF_OPEN: a probe not reported by then is lost
    uint64_t used;           // last-use tick for eviction
} s_entry_t;

struct zf_breakers_t {
    pthread_mutex_t lock;    // guards everything below
    zf_breaker_conf_t conf;  // thresholds and cooldowns
    s_entry_t **entries;     // sorted by host; S_HOSTS_MAX slots
    size_t count;            // used slots
    uint64_t tick;           // use counter
};

zf_breakers_t *
zf_breakers_new(const zf_breaker_conf_t *conf)
{
    zf_breakers_t *self = calloc(1, sizeof *self);
    if (!self) abort();
    self->conf = (zf_breaker_conf_t){5, 30000, 600000};
    if (conf && conf->failure_threshold > 0) self->conf.failure_threshold = conf->failure_threshold;
    if (conf && conf->cooldown_ms > 0) self->conf.cooldown_ms = conf->cooldown_ms;
    if (conf && conf->max_cooldown_ms > 0) self->conf.max_cooldown_ms = conf->max_cooldown_ms;
    if (self->conf.max_cooldown_ms < self->conf.cooldown_ms)
        self->conf.max_cooldown_ms = self->conf.cooldown_ms;
    self->entries = calloc(S_HOSTS_MAX, sizeof *self->entries);
    if (!self->entries) abort();
    pthread_mutex_init(&self->lock, NULL);
    return self;
}

void
zf_breakers_destroy(zf_breakers_t **self_p)
{
    if (!self_p || !*self_p) return;
    zf_breakers_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        free(self->entries[i]);
    free(self->entries);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

static void
s_key(const char *host, char *key)
{
    size_t i = 0;
    for (; host && host[i] && i < S_HOST_LEN - 1; i++)
        key[i] = (char)tolower((unsigned char)host[i]);
    key[i] = '\0';
}

//  Binary search: index of key, or where it would be inserted (*found = 0).
static size_t
s_search(const zf_breakers_t *self, const char *key, int *found)
{
    size_t lo = 0, hi = self->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(self->entries[mid]->host, key);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static s_entry_t *
s_find(zf_breakers_t *self, const char *key)
{
    int found;
    size_t i = s_search(self, key, &found);
    if (!found) return NULL;
    self->entries[i]->used = ++self->tick;
    return self->entries[i];
}

static void
s_remove_at(zf_breakers_t *self, size_t i)
{
    free(self->entries[i]);
    memmove(&self->entries[i], &self->entries[i + 1],
            (self->count - i - 1) * sizeof *self->entries);
    self->count--;
}

//  Makes room by evicting the least recently used closed entry.
static int
s_evict(zf_breakers_t *self)
{
    size_t victim = self->count;
    for (size_t i = 0; i < self->count; i++)
        if (self->entries[i]->state == S_CLOSED &&
            (victim == self->count || self->entries[i]->used < self->entries[victim]->used))
            victim = i;
    if (victim == self->count) return -1;
    s_remove_at(self, victim);
    return 0;
}

//  Entry for key, created closed if new; NULL if the table is full of
//  open breakers.
static s_entry_t *
s_find_or_add(zf_breakers_t *self, const char *key)
{
    s_entry_t *e = s_find(self, key);
    if (e) return e;
    if (self->count == S_HOSTS_MAX && s_evict(self) != 0) return NULL;
    int found;
    size_t i = s_search(self, key, &found);
    e = calloc(1, sizeof *e);
    if (!e) abort();
    strcpy(e->host, key);
    e->state = S_CLOSED;
    e->cooldown = self->conf.cooldown_ms;
    e->used = ++self->tick;
    memmove(&self->entries[i + 1], &self->entries[i], (self->count - i) * sizeof *self->entries);
    self->entries[i] = e;
    self->count++;
    return e;
}

//  Open: callers wait until open_until, after which the first caller becomes
//  the half-open probe. Half-open: others wait briefly while the probe runs;
//  a probe that never reports (crashed run) is replaced after its deadline.
int64_t
zf_breaker_acquire(zf_breakers_t *self, const char *host, int64_t now_ms)
{
    char key[S_HOST_LEN];
    s_key(host, key);
    int64_t wait = 0;
    pthread_mutex_lock(&self->lock);
    s_entry_t *e = s_find(self, key);
    if (e && e->state == S_OPEN && now_ms < e->open_until) {
        wait = e->open_until;
    } else if (e && e->state == S_HALF_OPEN && now_ms < e->probe_deadline) {
        wait =
            now_ms + S_PROBE_WAIT < e->probe_deadline ? now_ms + S_PROBE_WAIT : e->probe_deadline;
    } else if (e && e->state != S_CLOSED) {
        e->state = S_HALF_OPEN;
        e->probe_deadline = now_ms + e->cooldown;
    }
    pthread_mutex_unlock(&self->lock);
    return wait;
}

void
zf_breaker_success(zf_breakers_t *self, const char *host)
{
    char key[S_HOST_LEN];
    s_key(host, key);
    pthread_mutex_lock(&self->lock);
    int found;
    size_t i = s_search(self, key, &found);
    if (found) s_remove_at(self, i);
    pthread_mutex_unlock(&self->lock);
}

//  Retry-After opens until then; a failed probe re-opens with a doubled
//  (capped) cooldown; the threshold-th consecutive failure opens.
void
zf_breaker_failure(zf_breakers_t *self, const char *host, int64_t now_ms, int64_t retry_after_ms)
{
    char key[S_HOST_LEN];
    s_key(host, key);
    pthread_mutex_lock(&self->lock);
    s_entry_t *e = s_find_or_add(self, key);
    if (!e) {
        pthread_mutex_unlock(&self->lock);
        return;
    }
    e->failures++;
    if (retry_after_ms > 0) {
        int64_t until = now_ms + retry_after_ms;
        if (e->state != S_OPEN || until > e->open_until) e->open_until = until;
        e->state = S_OPEN;
    } else if (e->state == S_HALF_OPEN) {
        e->cooldown = e->cooldown * 2 > self->conf.max_cooldown_ms ? self->conf.max_cooldown_ms
                                                                   : e->cooldown * 2;
        e->state = S_OPEN;
        e->open_until = now_ms + e->cooldown;
    } else if (e->state == S_CLOSED && e->failures >= self->conf.failure_threshold) {
        e->state = S_OPEN;
        e->open_until = now_ms + e->cooldown;
    }
    pthread_mutex_unlock(&self->lock);
}

const char *
zf_breaker_state(zf_breakers_t *self, const char *host, int64_t now_ms)
{
    char key[S_HOST_LEN];
    s_key(host, key);
    const char *name = "closed";
    pthread_mutex_lock(&self->lock);
    int found;
    size_t i = s_search(self, key, &found);
    if (found && self->entries[i]->state == S_HALF_OPEN)
        name = "half_open";
    else if (found && self->entries[i]->state == S_OPEN)
        name = now_ms < self->entries[i]->open_until ? "open" : "half_open";
    pthread_mutex_unlock(&self->lock);
    return name;
}
