/*  tools/bench_util.c — see bench_util.h. */
#include "tools/bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t
zf_bench_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int
zf_bench_parse_number(const char *text, double min, double max, double *out)
{
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || !(v >= min && v <= max)) return -1;  // also NaN
    *out = v;
    return 0;
}

zf_msg_t *
zf_bench_request(const char *key, const char *type, json_t *body)
{
    zf_msg_t *msg = zf_msg_new(type);
    msg->route = zmsg_new();
    zmsg_addmem(msg->route, "", 0);
    snprintf(msg->auth, sizeof msg->auth, "%s", key);
    zf_msg_set_body(msg, body);
    return msg;
}

zf_msg_t *
zf_bench_call(zsock_t *sock, const char *key, const char *type, json_t *body, int timeout_ms)
{
    zf_msg_t *req = zf_bench_request(key, type, body);
    char id[sizeof req->id];
    memcpy(id, req->id, sizeof id);
    if (zf_msg_send(&req, zsock_resolve(sock), 0) != 0) return NULL;
    int64_t deadline = zclock_mono() + timeout_ms;
    zmq_pollitem_t item = {.socket = zsock_resolve(sock), .events = ZMQ_POLLIN};
    while (zclock_mono() < deadline && !zsys_interrupted) {
        if (zmq_poll(&item, 1, (long)(deadline - zclock_mono()) + 1) <= 0) continue;
        const char *why = NULL;
        zf_msg_t *rep = zf_msg_recv(zsock_resolve(sock), true, NULL, &why);
        if (rep && rep->kind != ZF_MSG_REQUEST && streq(rep->corr, id)) return rep;
        zf_msg_destroy(&rep);
    }
    return NULL;
}

void
zf_bench_samples_add(zf_bench_samples_t *s, int64_t us)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 65536;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) abort();
    }
    s->v[s->n++] = us;
}

static int
s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void
zf_bench_samples_sort(zf_bench_samples_t *s)
{
    if (s->n > 1) qsort(s->v, s->n, sizeof *s->v, s_cmp_i64);
}

void
zf_bench_samples_free(zf_bench_samples_t *s)
{
    free(s->v);
    *s = (zf_bench_samples_t){0};
}

double
zf_bench_round3(double v)
{
    return v < 0 ? 0 : (double)(int64_t)(v * 1000.0 + 0.5) / 1000.0;
}

json_t *
zf_bench_pct_ms(const zf_bench_samples_t *s, size_t pct)
{
    if (s->n == 0) return json_null();
    size_t rank = (pct * s->n + 99) / 100;
    size_t idx = rank == 0 ? 0 : rank - 1;
    if (idx >= s->n) idx = s->n - 1;
    return json_real(zf_bench_round3((double)s->v[idx] / 1000.0));
}

int
zf_bench_getopt(const char *prog, int argc, char **argv, const struct option *opts,
                int (*parse_opt)(int c, const char *arg, void *opts_arg), void *opts_arg,
                const char *const *key)
{
    int c, li = -1;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, &li)) != -1) {
        if (c == 'h') return 1;
        if (parse_opt(c, optarg, opts_arg) != 0) {
            if (c == '?' || c == ':')
                fprintf(stderr, "%s: bad option %s\n", prog, argv[optind - 1]);
            else
                fprintf(stderr, "%s: bad value for --%s: %s\n", prog, opts[li].name, optarg);
            return -1;
        }
    }
    if (optind != argc) return -1;
    if (!*key || !**key || strlen(*key) >= sizeof(((zf_msg_t *)0)->auth)) {
        fprintf(stderr, "%s: --key (or $ZF_KEY) is required, at most 95 bytes\n", prog);
        return -1;
    }
    return 0;
}
