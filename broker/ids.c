/*  broker/ids.c — UUIDv7 (RFC 9562), random bytes, wall clock, ISO-8601. */
#include "broker/ids.h"

#include <stdatomic.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/random.h>
#include <time.h>

#define S_POOL_SIZE 256  // per-thread random bytes fetched per getrandom call

//  Per-thread state: a small pool of random bytes (ids are minted on the hot
//  path, one getrandom(2) per id would be a syscall each) and the last
//  timestamp/counter so ids from one thread are strictly increasing.
typedef struct {
    unsigned char pool[S_POOL_SIZE];  // unread random bytes are pool[used..]
    size_t used;                      // S_POOL_SIZE = empty
    uint64_t last_ms;                 // timestamp of the previous id
    uint16_t counter;                 // 12-bit rand_a counter within last_ms
} s_idstate_t;

static _Thread_local s_idstate_t s_state = {.used = S_POOL_SIZE};
static pthread_once_t s_fork_once = PTHREAD_ONCE_INIT;

//  A forked child must not replay the parent's pooled bytes.
static void
s_after_fork_child(void)
{
    s_state.used = S_POOL_SIZE;
}

static void
s_register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, s_after_fork_child);
}

void
zf_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            abort();
        }
        p += got;
        n -= (size_t)got;
    }
}

static void
s_pool_take(void *out, size_t n)
{
    if (S_POOL_SIZE - s_state.used < n) {
        pthread_once(&s_fork_once, s_register_fork_handler);
        zf_random_bytes(s_state.pool, S_POOL_SIZE);
        s_state.used = 0;
    }
    memcpy(out, s_state.pool + s_state.used, n);
    s_state.used += n;
}

static _Atomic int64_t s_clock_offset;  // zf_clock_set: simulated minus real time (tests)

int64_t
zf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + atomic_load(&s_clock_offset);
}

void
zf_clock_set(int64_t now_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    atomic_store(&s_clock_offset, now_ms - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
}

//  RFC 9562 method 1: rand_a is a 12-bit counter, seeded randomly (top bit
//  clear) at each new millisecond and incremented within one; on overflow,
//  or if the clock steps back, the timestamp is advanced past the last one.
static void
s_next_stamp(uint64_t *ms_out, uint16_t *counter_out)
{
    uint64_t now = (uint64_t)zf_now_ms() & 0xFFFFFFFFFFFFull;
    if (now > s_state.last_ms) {
        uint16_t seed;
        s_pool_take(&seed, sizeof seed);
        s_state.last_ms = now;
        s_state.counter = seed & 0x7FF;
    } else if (++s_state.counter > 0xFFF) {
        s_state.last_ms++;
        s_state.counter = 0;
    }
    *ms_out = s_state.last_ms;
    *counter_out = s_state.counter;
}

void
zf_uuid7(char out[ZF_UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    uint64_t ms;
    uint16_t counter;
    s_next_stamp(&ms, &counter);
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (counter >> 8));
    b[7] = (unsigned char)counter;
    s_pool_take(b + 8, 8);
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3F));
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 0xF];
    }
    *o = '\0';
}

void
zf_iso8601(int64_t ms, char out[32])
{
    int64_t sec = ms / 1000, milli = ms % 1000;
    if (milli < 0) {
        milli += 1000;
        sec -= 1;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, 32, "%s", "invalid-time");
        return;
    }
    //  At most 31 characters (11-digit signed year); the compiler cannot
    //  prove it, so format into a roomier buffer first.
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)milli);
    snprintf(out, 32, "%.31s", tmp);
}

static int
s_is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int
zf_uuid_valid(const char *s)
{
    if (!s) return 0;
    for (int i = 0; i < ZF_UUID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return 0;
        } else if (!s_is_hex(s[i]))
            return 0;
    }
    return s[ZF_UUID_LEN] == '\0';
}

static EVP_MD *s_sha256;
static pthread_once_t s_sha256_once = PTHREAD_ONCE_INIT;

static void
s_sha256_fetch(void)
{
    s_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void
zf_sha256(const void *data, size_t len, unsigned char out[32])
{
    pthread_once(&s_sha256_once, s_sha256_fetch);
    if (!s_sha256 || !EVP_Digest(data, len, out, NULL, s_sha256, NULL)) SHA256(data, len, out);
}

void
zf_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}
