/*  tools/bench.c — zf-bench: the W1 benchmark driver over the zmq API.

        zf-bench --key KEY [--connect EP] [--inflight N] [--duration S]
                 [--warmup S] [--workflow-id ID]

    W1 is a three-step workflow (set -> condition -> set), created with
    wf.create unless --workflow-id names an existing one. The driver keeps N
    `run.start {wait: true}` requests in flight on one DEALER socket, matches
    replies by corr, and measures each run from send to reply. Replies that
    arrive during the warmup are not counted; the measured window is
    --duration seconds after it. The last line of output is one JSON object
    with throughput and latency percentiles (nearest rank over all samples).
    Exit status: 0 if any run completed, 1 otherwise, 2 on bad arguments.
*/
#include "broker/msg.h"
#include "tools/bench_util.h"

#include <czmq.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_WAIT_TIMEOUT_MS 30000     // run.start wait_timeout_ms
#define S_CLIENT_GRACE_US 10000000  // beyond that, a missing reply counts as lost
#define S_SWEEP_US        1000000   // how often lost requests are looked for
#define S_DRAIN_US        10000000  // after the window, wait this long for stragglers
#define S_SETUP_TIMEOUT   30000     // ms for ping and wf.create

typedef struct {
    const char *endpoint;     // API endpoint
    const char *key;          // API key (header auth)
    const char *workflow_id;  // existing workflow, or NULL to create W1
    long inflight;            // requests kept outstanding
    double duration_s;        // measured window
    double warmup_s;          // unmeasured lead-in
} s_opts_t;

typedef struct {
    char id[40];      // request id (the reply's corr)
    int64_t sent_us;  // monotonic send time
} s_slot_t;

typedef struct {
    s_opts_t opts;           // parsed options
    zsock_t *dealer;         // the one DEALER socket
    zpoller_t *poller;       // polls dealer
    char workflow_id[64];    // W1's id
    zhashx_t *pending;       // request id -> s_slot_t* (owned by the hash)
    int64_t start_us;        // benchmark start
    int64_t warm_end_us;     // measuring starts
    int64_t end_us;          // measuring ends (moved earlier on SIGINT)
    int64_t next_sweep_us;   // next look for lost requests
    zf_bench_samples_t lat;  // latencies (us) of measured requests/runs
    uint64_t errors;         // measured error replies, non-completed runs, lost
    zhashx_t *error_codes;   // code -> count (uintptr_t) for the summary
} s_bench_t;

// --------------------------------------------------------------------------
// Options

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: zf-bench --key KEY [--connect ENDPOINT] [--inflight N]\n"
                 "                [--duration SECONDS] [--warmup SECONDS] [--workflow-id ID]\n"
                 "  --connect      API endpoint (default tcp://127.0.0.1:5559)\n"
                 "  --key          API key, role member or above (admin to create W1)\n"
                 "  --inflight     run.start requests kept in flight (default 64)\n"
                 "  --duration     measured seconds (default 10)\n"
                 "  --warmup       unmeasured seconds before that (default 2)\n"
                 "  --workflow-id  use this workflow instead of creating W1\n"
                 "The last output line is a JSON summary.\n");
}

//  One option into *o. Returns 0, or -1 if its value is bad.
static int
s_parse_opt(int c, const char *arg, s_opts_t *o)
{
    double v = 0;
    switch (c) {
    case 'c':
        o->endpoint = arg;
        return 0;
    case 'k':
        o->key = arg;
        return 0;
    case 'w':
        o->workflow_id = arg;
        return 0;
    case 'n':
        if (zf_bench_parse_number(arg, 1, 100000, &v) || v != (double)(long)v) return -1;
        o->inflight = (long)v;
        return 0;
    case 'd':
        return zf_bench_parse_number(arg, 0.001, 86400, &o->duration_s);
    case 'u':
        return zf_bench_parse_number(arg, 0, 86400, &o->warmup_s);
    default:
        return -1;
    }
}

static int
s_parse_opt_cb(int c, const char *arg, void *o)
{
    return s_parse_opt(c, arg, o);
}

//  Returns 0, 1 for --help, -1 on bad arguments (reason printed).
static int
s_parse_args(int argc, char **argv, s_opts_t *o)
{
    static const struct option opts[] = {
        {"connect", required_argument, NULL, 'c'},  {"key", required_argument, NULL, 'k'},
        {"inflight", required_argument, NULL, 'n'}, {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'u'},   {"workflow-id", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    *o = (s_opts_t){"tcp://127.0.0.1:5559", getenv("ZF_KEY"), NULL, 64, 10, 2};
    int rc = zf_bench_getopt("zf-bench", argc, argv, opts, s_parse_opt_cb, o, &o->key);
    if (rc) return rc;
    if (o->workflow_id && (!*o->workflow_id || strlen(o->workflow_id) >= 64)) {
        fprintf(stderr, "zf-bench: bad --workflow-id\n");
        return -1;
    }
    return 0;
}

// --------------------------------------------------------------------------
// Requests

//  Fails loudly when a setup reply is missing or an error.
static int
s_check_setup_reply(zf_msg_t *rep, const char *what)
{
    if (!rep) {
        fprintf(stderr, "zf-bench: no reply to %s within %d ms\n", what, S_SETUP_TIMEOUT);
        return -1;
    }
    if (rep->kind != ZF_MSG_REPLY_OK) {
        fprintf(stderr, "zf-bench: %s failed: %s: %s\n", what, zf_msg_error_code(rep),
                zf_msg_error_message(rep));
        return -1;
    }
    return 0;
}

static json_t *
s_w1_definition(void)
{
    return json_pack("{s:[{s:s, s:s, s:{s:{s:i}}}, {s:s, s:s, s:{s:s, s:s, s:i}},"
                     " {s:s, s:s, s:{s:{s:b}}}]}",
                     "nodes", "id", "s1", "type", "set", "config", "values", "x", 1, "id", "c1",
                     "type", "condition", "config", "field", "$vars.x", "operator", "equals",
                     "value", 1, "id", "s2", "type", "set", "config", "values", "done", 1);
}

//  Creates W1 under a unique name and remembers its id. 0 or -1.
static int
s_create_w1(s_bench_t *self)
{
    char name[96];
    snprintf(name, sizeof name, "bench-W1-%" PRId64 "-%d", zclock_time(), (int)getpid());
    json_t *wf = json_pack("{s:s, s:s, s:o}", "name", name, "description",
                           "zf-bench W1: set -> condition -> set", "definition", s_w1_definition());
    zf_msg_t *rep = zf_bench_call(self->dealer, self->opts.key, "wf.create",
                                  json_pack("{s:o}", "workflow", wf), S_SETUP_TIMEOUT);
    int rc = s_check_setup_reply(rep, "wf.create W1");
    if (rc == 0) {
        json_t *created = json_object_get(rep->body, "workflow");
        const char *id = json_string_value(json_object_get(created, "id"));
        if (!id || strlen(id) >= sizeof self->workflow_id) {
            fprintf(stderr, "zf-bench: wf.create reply has no usable workflow.id\n");
            rc = -1;
        } else {
            snprintf(self->workflow_id, sizeof self->workflow_id, "%s", id);
        }
    }
    zf_msg_destroy(&rep);
    return rc;
}

//  Pings (checks endpoint and key), then creates W1 unless a workflow id
//  was given. Returns 0 or -1 (reason printed).
static int
s_setup(s_bench_t *self)
{
    zf_msg_t *rep =
        zf_bench_call(self->dealer, self->opts.key, "ping", json_object(), S_SETUP_TIMEOUT);
    int rc = s_check_setup_reply(rep, "ping");
    zf_msg_destroy(&rep);
    if (rc != 0) return -1;
    if (!self->opts.workflow_id) return s_create_w1(self);
    snprintf(self->workflow_id, sizeof self->workflow_id, "%s", self->opts.workflow_id);
    return 0;
}

// --------------------------------------------------------------------------
// The measured loop

static void
s_slot_destroy(void **item)
{
    free(*item);
    *item = NULL;
}

static void
s_count_error(s_bench_t *self, const char *code)
{
    self->errors++;
    uintptr_t n = (uintptr_t)zhashx_lookup(self->error_codes, code);
    zhashx_update(self->error_codes, code, (void *)(n + 1));
}

//  Sends one run.start and records it as pending. -1 if zmq refused it
//  (no peer yet, or HWM): the caller retries after the next poll.
static int
s_send_run(s_bench_t *self)
{
    zf_msg_t *msg = zf_bench_request(self->opts.key, "run.start",
                                     json_pack("{s:s, s:b, s:i}", "workflow_id", self->workflow_id,
                                               "wait", 1, "wait_timeout_ms", S_WAIT_TIMEOUT_MS));
    s_slot_t *slot = calloc(1, sizeof *slot);
    if (!slot) abort();
    memcpy(slot->id, msg->id, sizeof slot->id);
    slot->sent_us = zf_bench_mono_us();
    if (zf_msg_send(&msg, zsock_resolve(self->dealer), ZMQ_DONTWAIT) != 0) {
        free(slot);
        return -1;
    }
    zhashx_insert(self->pending, slot->id, slot);
    return 0;
}

static bool
s_measuring(const s_bench_t *self, int64_t now)
{
    return now >= self->warm_end_us && now <= self->end_us;
}

//  Accounts one reply: a sample if the run completed inside the window,
//  an error (by code, or by run status) otherwise.
static void
s_on_reply(s_bench_t *self, zf_msg_t *rep, int64_t now)
{
    s_slot_t *slot = zhashx_lookup(self->pending, rep->corr);
    if (!slot) return;  // a reply to a request already given up as lost
    if (s_measuring(self, now)) {
        const char *status =
            json_string_value(json_object_get(json_object_get(rep->body, "run"), "status"));
        const char *code = zf_msg_error_code(rep);
        if (rep->kind == ZF_MSG_REPLY_OK && status && streq(status, "completed"))
            zf_bench_samples_add(&self->lat, now - slot->sent_us);
        else if (rep->kind == ZF_MSG_REPLY_OK)
            s_count_error(self, status ? status : "no_run_status");
        else
            s_count_error(self, code ? code : "malformed_error");
    }
    zhashx_delete(self->pending, rep->corr);
}

//  Reads every reply already queued on the socket, without blocking.
static void
s_drain_replies(s_bench_t *self)
{
    while (zsock_events(self->dealer) & ZMQ_POLLIN) {
        const char *why = NULL;
        zf_msg_t *rep = zf_msg_recv(zsock_resolve(self->dealer), true, NULL, &why);
        if (!rep) {
            fprintf(stderr, "zf-bench: malformed reply: %s\n", why ? why : "?");
            continue;
        }
        if (rep->kind != ZF_MSG_REQUEST) s_on_reply(self, rep, zf_bench_mono_us());
        zf_msg_destroy(&rep);
    }
}

//  Gives up on requests whose reply is overdue (the server answers every
//  run.start within wait_timeout_ms, so these were lost).
static void
s_sweep_lost(s_bench_t *self, int64_t now)
{
    const int64_t limit = (int64_t)S_WAIT_TIMEOUT_MS * 1000 + S_CLIENT_GRACE_US;
    zlistx_t *keys = zhashx_keys(self->pending);
    for (const char *id = zlistx_first(keys); id; id = zlistx_next(keys)) {
        s_slot_t *slot = zhashx_lookup(self->pending, id);
        if (now - slot->sent_us <= limit) continue;
        if (s_measuring(self, now)) s_count_error(self, "lost");
        zhashx_delete(self->pending, id);
    }
    zlistx_destroy(&keys);
}

//  Keeps `inflight` requests outstanding until the window closes. Sleeps
//  in zpoller_wait until the next reply, sweep or end of window.
static void
s_run(s_bench_t *self)
{
    self->start_us = zf_bench_mono_us();
    self->warm_end_us = self->start_us + (int64_t)(self->opts.warmup_s * 1e6);
    self->end_us = self->warm_end_us + (int64_t)(self->opts.duration_s * 1e6);
    self->next_sweep_us = self->start_us + S_SWEEP_US;
    for (int64_t now = self->start_us; now < self->end_us; now = zf_bench_mono_us()) {
        while ((long)zhashx_size(self->pending) < self->opts.inflight)
            if (s_send_run(self) != 0) break;
        int64_t next = self->end_us < self->next_sweep_us ? self->end_us : self->next_sweep_us;
        void *which = zpoller_wait(self->poller, (int)((next - now + 999) / 1000));
        if (zpoller_terminated(self->poller)) {
            self->end_us = zf_bench_mono_us();  // SIGINT: report what we have
            return;
        }
        if (which) s_drain_replies(self);
        now = zf_bench_mono_us();
        if (now >= self->next_sweep_us) {
            s_sweep_lost(self, now);
            self->next_sweep_us = now + S_SWEEP_US;
        }
    }
}

//  After the window: waits (bounded) for outstanding replies so the server
//  is idle when we exit; nothing is counted any more.
static void
s_drain_pending(s_bench_t *self)
{
    int64_t deadline = zf_bench_mono_us() + S_DRAIN_US;
    while (zhashx_size(self->pending) > 0 && !zsys_interrupted) {
        int64_t now = zf_bench_mono_us();
        if (now >= deadline) break;
        if (zpoller_wait(self->poller, (int)((deadline - now + 999) / 1000))) s_drain_replies(self);
    }
}

// --------------------------------------------------------------------------
// Report

static void
s_print_error_codes(const s_bench_t *self)
{
    if (zhashx_size(self->error_codes) == 0) return;
    printf("errors by kind:");
    for (void *n = zhashx_first(self->error_codes); n; n = zhashx_next(self->error_codes))
        printf(" %s=%lu", (const char *)zhashx_cursor(self->error_codes),
               (unsigned long)(uintptr_t)n);
    printf("\n");
}

//  Human summary, then the JSON line (always last). Returns the exit status.
static int
s_report(s_bench_t *self)
{
    zf_bench_samples_sort(&self->lat);
    double dur = (double)(self->end_us - self->warm_end_us) / 1e6;
    if (dur < 0) dur = 0;
    double rate = dur > 0 ? (double)self->lat.n / dur : 0;
    json_t *out = json_object();
    json_object_set_new(out, "workload", json_string("W1"));
    json_object_set_new(out, "inflight", json_integer(self->opts.inflight));
    json_object_set_new(out, "duration_s", json_real(zf_bench_round3(dur)));
    json_object_set_new(out, "runs", json_integer((json_int_t)self->lat.n));
    json_object_set_new(out, "errors", json_integer((json_int_t)self->errors));
    json_object_set_new(out, "runs_per_s", json_real(zf_bench_round3(rate)));
    json_object_set_new(out, "p50_ms", zf_bench_pct_ms(&self->lat, 50));
    json_object_set_new(out, "p90_ms", zf_bench_pct_ms(&self->lat, 90));
    json_object_set_new(out, "p99_ms", zf_bench_pct_ms(&self->lat, 99));
    json_object_set_new(out, "max_ms", zf_bench_pct_ms(&self->lat, 100));
    printf("zf-bench W1 on %s: workflow %s, inflight %ld, warmup %.1f s, measured %.3f s\n",
           self->opts.endpoint, self->workflow_id, self->opts.inflight, self->opts.warmup_s, dur);
    printf("runs completed %zu (%.1f/s), errors %lu\n", self->lat.n, rate,
           (unsigned long)self->errors);
    if (self->lat.n > 0)
        printf("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n",
               json_real_value(json_object_get(out, "p50_ms")),
               json_real_value(json_object_get(out, "p90_ms")),
               json_real_value(json_object_get(out, "p99_ms")),
               json_real_value(json_object_get(out, "max_ms")));
    s_print_error_codes(self);
    json_dumpf(out, stdout, JSON_COMPACT | JSON_REAL_PRECISION(12));
    printf("\n");
    fflush(stdout);
    json_decref(out);
    return self->lat.n > 0 ? 0 : 1;
}

// --------------------------------------------------------------------------

static int
s_open(s_bench_t *self)
{
    int hwm = (int)(self->opts.inflight * 2 + 1000);
    self->dealer = zsock_new(ZMQ_DEALER);
    zsock_set_linger(self->dealer, 0);
    zsock_set_sndhwm(self->dealer, hwm);
    zsock_set_rcvhwm(self->dealer, hwm);
    zsock_set_maxmsgsize(self->dealer, (int64_t)ZF_MAX_FRAME * 2);
    if (zsock_connect(self->dealer, "%s", self->opts.endpoint) != 0) {
        fprintf(stderr, "zf-bench: cannot connect to %s\n", self->opts.endpoint);
        return -1;
    }
    self->poller = zpoller_new(self->dealer, NULL);
    self->pending = zhashx_new();
    zhashx_set_destructor(self->pending, s_slot_destroy);
    self->error_codes = zhashx_new();
    return 0;
}

static void
s_close(s_bench_t *self)
{
    zpoller_destroy(&self->poller);
    zsock_destroy(&self->dealer);
    zhashx_destroy(&self->pending);
    zhashx_destroy(&self->error_codes);
    zf_bench_samples_free(&self->lat);
}

int
main(int argc, char **argv)
{
    s_bench_t self;
    memset(&self, 0, sizeof self);
    int rc = s_parse_args(argc, argv, &self.opts);
    if (rc != 0) {
        s_usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? 0 : 2;
    }
    int status = 2;
    if (s_open(&self) == 0) {
        status = 1;
        if (s_setup(&self) == 0) {
            s_run(&self);
            s_drain_pending(&self);
            status = s_report(&self);
        }
    }
    s_close(&self);
    return status;
}
