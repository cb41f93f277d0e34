/*  tools/bench_util.h — what the benchmark drivers share: clocks, option
    numbers, requests with an API key, latency samples and percentiles. */
#ifndef ZF_BENCH_UTIL_H
#define ZF_BENCH_UTIL_H

#include "broker/msg.h"

#include <czmq.h>
#include <getopt.h>
#include <jansson.h>
#include <stdint.h>

//  Monotonic clock in microseconds.
int64_t zf_bench_mono_us(void);
//  Parses a number in [min, max] (NaN refused). 0 or -1.
//  The getopt_long loop of a benchmark driver: each option goes to
//  parse_opt(c, optarg, opts_arg) (0 ok); then no operands may be left and
//  *key (--key or $ZF_KEY) must be set and fit a message header. Returns 0,
//  1 for --help ('h'), -1 on bad arguments (reason printed with prog).
int zf_bench_getopt(const char *prog, int argc, char **argv, const struct option *opts,
                    int (*parse_opt)(int c, const char *arg, void *opts_arg), void *opts_arg,
                    const char *const *key);
int zf_bench_parse_number(const char *text, double min, double max, double *out);

//  A request for a DEALER (route = the "" delimiter), carrying key; takes body.
zf_msg_t *zf_bench_request(const char *key, const char *type, json_t *body);
//  Synchronous round trip on sock: waits up to timeout_ms for the reply to
//  this request, discarding others. NULL on timeout or interrupt.
zf_msg_t *zf_bench_call(zsock_t *sock, const char *key, const char *type, json_t *body,
                        int timeout_ms);

//  Latency samples in microseconds.
typedef struct {
    int64_t *v;  // samples (malloc'd)
    size_t n;    // used
    size_t cap;  // allocated
} zf_bench_samples_t;

void zf_bench_samples_add(zf_bench_samples_t *s, int64_t us);
void zf_bench_samples_sort(zf_bench_samples_t *s);
void zf_bench_samples_free(zf_bench_samples_t *s);
//  Nearest-rank percentile of the SORTED samples in ms (3 decimals); JSON
//  null when there are none.
json_t *zf_bench_pct_ms(const zf_bench_samples_t *s, size_t pct);
//  v rounded to 3 decimals (negative values give 0).
double zf_bench_round3(double v);

#endif
