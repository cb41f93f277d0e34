/*  tools/bench_events.c — zf-bench-events: the W3 benchmark driver, event
    ingestion over the zmq API.

        zf-bench-events --key KEY [--connect EP] [--inflight N] [--batch B]
                        [--duration S] [--warmup S] [--seed N] [--count-runs]

    Keeps N `events.ingest` requests in flight on one DEALER socket, each
    carrying B events, and measures each request from send to its reply.
    The engine replies after the runs the batch started are durable (and at
    once when it started none), so a reply is a durable ack. The events are
    a realistic mix: record.created, record.updated (with `previous`) and
    record.deleted in equal parts over ten modules, records with a uniform
    integer `score` in 0..9999 that automations' guards can select on.
    Request bodies are built and msgpack-encoded once (16 variants) so the
    driver spends its CPU on the socket, not on JSON.

    An `unavailable` reply (the server's run queue is full, --max-queued)
    counts as an error and as `refused`, and the driver sends nothing for
    20 ms, as a well-behaved client backs off.

    --count-runs reads the tenant's run counters (wf.list stats) when the
    window opens and closes, reports the runs completed in the window, and
    afterwards waits (at most 120 s) for the backlog of started runs to
    finish. The last line of output is a JSON summary. Exit status: 0 if
    any request was acknowledged, 1 otherwise, 2 on bad arguments or when
    the key check (wf.list) fails.
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

#define S_VARIANTS      16         // distinct pre-encoded request bodies
#define S_LOST_US       60000000   // a reply later than this counts as lost
#define S_SWEEP_US      1000000    // how often lost requests are looked for
#define S_BACKOFF_US    20000      // pause after an `unavailable` (run queue full)
#define S_DRAIN_US      10000000   // after the window, wait this long for stragglers
#define S_SETUP_TIMEOUT 30000      // ms for control calls
#define S_BACKLOG_US    120000000  // --count-runs: longest wait for the run backlog

static const char *const s_modules[] = {"contacts", "deals",    "tickets", "orders",   "invoices",
                                        "leads",    "accounts", "tasks",   "products", "campaigns"};
static const char *const s_types[] = {"record.created", "record.updated", "record.deleted"};
static const char *const s_statuses[] = {"new", "open", "won", "lost"};

typedef struct {
    const char *endpoint;  // API endpoint
    const char *key;       // API key
    long inflight;         // requests kept outstanding
    long batch;            // events per request
    double duration_s;     // measured window
    double warmup_s;       // unmeasured lead-in
    unsigned seed;         // event generator seed
    bool count_runs;       // read run counters and wait for the backlog
} s_opts_t;

typedef struct {
    char id[40];      // request id (the reply's corr)
    int64_t sent_us;  // monotonic send time
} s_slot_t;

typedef struct {
    s_opts_t opts;               // parsed options
    zsock_t *dealer;             // the measured DEALER socket
    zsock_t *control;            // a second DEALER for setup and counters
    zpoller_t *poller;           // polls dealer
    zframe_t *body[S_VARIANTS];  // pre-encoded events.ingest bodies
    size_t body_bytes;           // mean encoded body size
    size_t next_body;            // round-robin index into body
    zhashx_t *pending;           // request id -> s_slot_t* (owned)
    int64_t warm_end_us;         // measuring starts
    int64_t end_us;              // measuring ends
    zf_bench_samples_t lat;      // latencies (us) of measured requests/runs
    uint64_t errors;             // measured error replies and lost requests
    uint64_t refused;            // of those, `unavailable`: the server's run queue was full
    int64_t resume_us;           // no new request before this (back-off after a refusal)
    uint64_t runs_window;        // runs_started summed over measured replies
    uint64_t runs_total;         // runs_started summed over all replies
    int64_t runs_base;           // run counter before the first batch
    int64_t runs_at_start;       // --count-runs: counter when the window opened
    int64_t runs_at_end;         // ... and when it closed
    double backlog_s;            // time after the window until all runs ended
    int64_t runs_after;          // counter after the backlog wait
    char first_error[160];       // the first error reply, for the summary
} s_bench_t;

// --------------------------------------------------------------------------
// Options

static void
s_usage(FILE *out)
{
    fprintf(out, "usage: zf-bench-events --key KEY [--connect ENDPOINT] [--inflight N]\n"
                 "         [--batch B] [--duration S] [--warmup S] [--seed N] [--count-runs]\n"
                 "  --connect     API endpoint (default tcp://127.0.0.1:5559)\n"
                 "  --key         API key, role member or above (or $ZF_KEY)\n"
                 "  --inflight    events.ingest requests kept in flight (default 16)\n"
                 "  --batch       events per request, 1..10000 (default 100)\n"
                 "  --duration    measured seconds (default 10)\n"
                 "  --warmup      unmeasured seconds before that (default 2)\n"
                 "  --seed        event generator seed (default 1)\n"
                 "  --count-runs  report runs completed (wf.list stats), wait for the backlog\n"
                 "The last output line is a JSON summary.\n");
}

static int
s_parse_int(const char *text, long min, long max, long *out)
{
    double v = 0;
    if (zf_bench_parse_number(text, (double)min, (double)max, &v) || v != (double)(long)v)
        return -1;
    *out = (long)v;
    return 0;
}

//  One option into *o. Returns 0, or -1 if its value is bad.
static int
s_parse_opt(int c, const char *arg, s_opts_t *o)
{
    long v = 0;
    switch (c) {
    case 'c':
        o->endpoint = arg;
        return 0;
    case 'k':
        o->key = arg;
        return 0;
    case 'r':
        o->count_runs = true;
        return 0;
    case 'n':
        return s_parse_int(arg, 1, 100000, &o->inflight);
    case 'b':
        return s_parse_int(arg, 1, 10000, &o->batch);
    case 'd':
        return zf_bench_parse_number(arg, 0.001, 86400, &o->duration_s);
    case 'u':
        return zf_bench_parse_number(arg, 0, 86400, &o->warmup_s);
    case 's':
        if (s_parse_int(arg, 0, 2147483647L, &v)) return -1;
        o->seed = (unsigned)v;
        return 0;
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
        {"inflight", required_argument, NULL, 'n'}, {"batch", required_argument, NULL, 'b'},
        {"duration", required_argument, NULL, 'd'}, {"warmup", required_argument, NULL, 'u'},
        {"seed", required_argument, NULL, 's'},     {"count-runs", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    *o = (s_opts_t){"tcp://127.0.0.1:5559", getenv("ZF_KEY"), 16, 100, 10, 2, 1, false};
    int rc = zf_bench_getopt("zf-bench-events", argc, argv, opts, s_parse_opt_cb, o, &o->key);
    if (rc) return rc;
    return 0;
}

// --------------------------------------------------------------------------
// The events

//  One record: a few typical CRM fields and the `score` guards select on.
static json_t *
s_record(unsigned *seed, size_t n)
{
    char id[32], email[48];
    snprintf(id, sizeof id, "rec-%zu", n);
    snprintf(email, sizeof email, "user%zu@example.com", n);
    return json_pack("{s:s, s:s, s:s, s:i, s:f, s:s}", "id", id, "name", "Ada Lovelace", "email",
                     email, "score", rand_r(seed) % 10000, "amount",
                     (double)(rand_r(seed) % 100000) / 100.0, "status",
                     s_statuses[rand_r(seed) % 4]);
}

//  Event n of a batch: the type cycles, the module is random; updates
//  carry the previous values of two fields.
static json_t *
s_event(unsigned *seed, size_t n)
{
    const char *type = s_types[n % 3];
    json_t *rec = s_record(seed, n);
    json_t *ev = json_pack("{s:s, s:s, s:o}", "type", type, "module", s_modules[rand_r(seed) % 10],
                           "record", rec);
    if (n % 3 == 1) {
        json_t *prev = json_deep_copy(rec);
        json_object_set_new(prev, "status", json_string("new"));
        json_object_set_new(prev, "amount", json_real(0));
        json_object_set_new(ev, "previous", prev);
    }
    return ev;
}

//  msgpack-encodes S_VARIANTS bodies {"events": [...]} once. The body is
//  the last frame of an encoded message.
static void
s_build_bodies(s_bench_t *self)
{
    unsigned seed = self->opts.seed;
    size_t total = 0;
    for (size_t k = 0; k < S_VARIANTS; k++) {
        json_t *events = json_array();
        for (long i = 0; i < self->opts.batch; i++)
            json_array_append_new(events, s_event(&seed, k * (size_t)self->opts.batch + (size_t)i));
        zf_msg_t *m = zf_msg_new("events.ingest");
        zf_msg_set_body(m, json_pack("{s:o}", "events", events));
        zmsg_t *z = zf_msg_encode(m);
        self->body[k] = zframe_dup(zmsg_last(z));
        total += zframe_size(self->body[k]);
        zmsg_destroy(&z);
        zf_msg_destroy(&m);
    }
    self->body_bytes = total / S_VARIANTS;
}

// --------------------------------------------------------------------------
// Requests

//  Sum of stats.run_count over the tenant's workflows (wf.list), or -1.
static int64_t
s_run_count(s_bench_t *self)
{
    zf_msg_t *rep = zf_bench_call(self->control, self->opts.key, "wf.list",
                                  json_pack("{s:i}", "limit", 500), S_SETUP_TIMEOUT);
    if (!rep || rep->kind != ZF_MSG_REPLY_OK) {
        zf_msg_destroy(&rep);
        return -1;
    }
    int64_t sum = 0;
    size_t i;
    json_t *wf;
    json_array_foreach (json_object_get(rep->body, "workflows"), i, wf)
        sum += json_integer_value(json_object_get(json_object_get(wf, "stats"), "run_count"));
    zf_msg_destroy(&rep);
    return sum;
}

//  Sends one batch: a fresh header, a copy of a pre-encoded body.
static void
s_send_batch(s_bench_t *self)
{
    zf_msg_t *msg = zf_bench_request(self->opts.key, "events.ingest", json_object());
    zmsg_t *z = zf_msg_encode(msg);
    zframe_t *empty = zmsg_last(z);
    zmsg_remove(z, empty);
    zframe_destroy(&empty);
    zframe_t *body = zframe_dup(self->body[self->next_body++ % S_VARIANTS]);
    zmsg_append(z, &body);
    s_slot_t *slot = calloc(1, sizeof *slot);
    if (!slot) abort();
    memcpy(slot->id, msg->id, sizeof slot->id);
    zf_msg_destroy(&msg);
    slot->sent_us = zf_bench_mono_us();
    zhashx_insert(self->pending, slot->id, slot);
    zmsg_send(&z, self->dealer);  // HWM > inflight: never blocks
}

// --------------------------------------------------------------------------
// The measured loop

static void
s_slot_destroy(void **item)
{
    free(*item);
    *item = NULL;
}

static bool
s_measuring(const s_bench_t *self, int64_t now)
{
    return now >= self->warm_end_us && now <= self->end_us;
}

//  A sample when the whole batch was accepted inside the window; an error
//  otherwise (the first one is kept for the summary).
static void
s_on_reply(s_bench_t *self, zf_msg_t *rep, int64_t now)
{
    s_slot_t *slot = zhashx_lookup(self->pending, rep->corr);
    if (!slot) return;
    json_int_t accepted = json_integer_value(json_object_get(rep->body, "accepted"));
    json_int_t runs = json_integer_value(json_object_get(rep->body, "runs_started"));
    bool ok = rep->kind == ZF_MSG_REPLY_OK && accepted == self->opts.batch;
    //  A full run queue answers `unavailable`: back off, as a client should,
    //  instead of resending at once into the same refusal.
    const char *code = rep->kind == ZF_MSG_REPLY_OK ? NULL : zf_msg_error_code(rep);
    if (code && streq(code, "unavailable")) self->resume_us = now + S_BACKOFF_US;
    if (ok) self->runs_total += (uint64_t)runs;
    if (s_measuring(self, now)) {
        if (ok) {
            zf_bench_samples_add(&self->lat, now - slot->sent_us);
            self->runs_window += (uint64_t)runs;
        } else {
            self->errors++;
            if (rep->kind != ZF_MSG_REPLY_OK && streq(zf_msg_error_code(rep), "unavailable"))
                self->refused++;
            if (!self->first_error[0])
                snprintf(self->first_error, sizeof self->first_error, "%s: %s",
                         rep->kind == ZF_MSG_REPLY_OK ? "short_accept" : zf_msg_error_code(rep),
                         rep->kind == ZF_MSG_REPLY_OK ? "" : zf_msg_error_message(rep));
        }
    }
    zhashx_delete(self->pending, rep->corr);
}

static void
s_drain_replies(s_bench_t *self)
{
    while (zsock_events(self->dealer) & ZMQ_POLLIN) {
        const char *why = NULL;
        zf_msg_t *rep = zf_msg_recv(zsock_resolve(self->dealer), true, NULL, &why);
        if (!rep) {
            fprintf(stderr, "zf-bench-events: malformed reply: %s\n", why ? why : "?");
            continue;
        }
        if (rep->kind != ZF_MSG_REQUEST) s_on_reply(self, rep, zf_bench_mono_us());
        zf_msg_destroy(&rep);
    }
}

static void
s_sweep_lost(s_bench_t *self, int64_t now)
{
    zlistx_t *keys = zhashx_keys(self->pending);
    for (const char *id = zlistx_first(keys); id; id = zlistx_next(keys)) {
        s_slot_t *slot = zhashx_lookup(self->pending, id);
        if (now - slot->sent_us <= S_LOST_US) continue;
        if (s_measuring(self, now)) self->errors++;
        zhashx_delete(self->pending, id);
    }
    zlistx_destroy(&keys);
}

//  Keeps `inflight` batches outstanding until the window closes; reads the
//  run counter once when the window opens (--count-runs).
static void
s_run(s_bench_t *self)
{
    int64_t start = zf_bench_mono_us(), next_sweep = start + S_SWEEP_US;
    self->warm_end_us = start + (int64_t)(self->opts.warmup_s * 1e6);
    self->end_us = self->warm_end_us + (int64_t)(self->opts.duration_s * 1e6);
    bool counted = !self->opts.count_runs;
    for (int64_t now = start; now < self->end_us; now = zf_bench_mono_us()) {
        while (now >= self->resume_us && (long)zhashx_size(self->pending) < self->opts.inflight)
            s_send_batch(self);
        if (!counted && now >= self->warm_end_us) {
            self->runs_at_start = s_run_count(self);
            counted = true;
        }
        int64_t next = self->end_us < next_sweep ? self->end_us : next_sweep;
        if (!counted && self->warm_end_us < next) next = self->warm_end_us;
        if (self->resume_us > now && self->resume_us < next) next = self->resume_us;
        void *which = zpoller_wait(self->poller, (int)((next - now + 999) / 1000));
        if (zpoller_terminated(self->poller)) {
            self->end_us = zf_bench_mono_us();
            return;
        }
        if (which) s_drain_replies(self);
        now = zf_bench_mono_us();
        if (now >= next_sweep) {
            s_sweep_lost(self, now);
            next_sweep = now + S_SWEEP_US;
        }
    }
    if (self->opts.count_runs) self->runs_at_end = s_run_count(self);
}

//  After the window: waits (bounded) for outstanding replies, then with
//  --count-runs for every started run to finish.
static void
s_drain(s_bench_t *self)
{
    int64_t t0 = zf_bench_mono_us(), deadline = t0 + S_DRAIN_US;
    while (zhashx_size(self->pending) > 0 && !zsys_interrupted) {
        int64_t now = zf_bench_mono_us();
        if (now >= deadline) break;
        if (zpoller_wait(self->poller, (int)((deadline - now + 999) / 1000))) s_drain_replies(self);
    }
    if (!self->opts.count_runs) return;
    deadline = t0 + S_BACKLOG_US;
    int64_t n = s_run_count(self);
    int64_t want = self->runs_base + (int64_t)self->runs_total;
    while (n >= 0 && n < want && zf_bench_mono_us() < deadline && !zsys_interrupted) {
        zclock_sleep(100);
        n = s_run_count(self);
    }
    self->runs_after = n - self->runs_base;
    self->backlog_s = (double)(zf_bench_mono_us() - t0) / 1e6;
}

// --------------------------------------------------------------------------
// Report

static void
s_report_runs(const s_bench_t *self, json_t *out, double dur)
{
    json_object_set_new(out, "runs_started", json_integer((json_int_t)self->runs_window));
    if (!self->opts.count_runs) return;
    double done = (double)(self->runs_at_end - self->runs_at_start);
    json_object_set_new(out, "runs_completed", json_integer((json_int_t)done));
    json_object_set_new(out, "runs_completed_per_s",
                        json_real(zf_bench_round3(dur > 0 ? done / dur : 0)));
    json_object_set_new(out, "runs_total_started", json_integer((json_int_t)self->runs_total));
    json_object_set_new(out, "runs_total_completed", json_integer(self->runs_after));
    json_object_set_new(out, "backlog_drain_s", json_real(zf_bench_round3(self->backlog_s)));
    printf("runs: started %" PRIu64 " in the window, completed %.0f (%.0f/s); backlog of %" PRIu64
           " started runs finished %.1f s after the window (%" PRId64 " counted)\n",
           self->runs_window, done, dur > 0 ? done / dur : 0, self->runs_total, self->backlog_s,
           self->runs_after);
}

//  Human summary, then the JSON line (always last). Returns the exit status.
static int
s_report(s_bench_t *self)
{
    if (self->lat.n > 0) zf_bench_samples_sort(&self->lat);
    double dur = (double)(self->end_us - self->warm_end_us) / 1e6;
    if (dur < 0) dur = 0;
    double rps = dur > 0 ? (double)self->lat.n / dur : 0;
    json_t *out = json_pack(
        "{s:s, s:i, s:i, s:f, s:I, s:I, s:I, s:f, s:f, s:o, s:o, s:o, s:o}", "workload", "W3",
        "inflight", (int)self->opts.inflight, "batch", (int)self->opts.batch, "duration_s",
        zf_bench_round3(dur), "requests", (json_int_t)self->lat.n, "errors",
        (json_int_t)self->errors, "refused", (json_int_t)self->refused, "requests_per_s",
        zf_bench_round3(rps), "events_per_s", zf_bench_round3(rps * (double)self->opts.batch),
        "p50_ms", zf_bench_pct_ms(&self->lat, 50), "p90_ms", zf_bench_pct_ms(&self->lat, 90),
        "p99_ms", zf_bench_pct_ms(&self->lat, 99), "max_ms", zf_bench_pct_ms(&self->lat, 100));
    printf("zf-bench-events W3 on %s: inflight %ld x batch %ld (%zu bytes), measured %.3f s\n",
           self->opts.endpoint, self->opts.inflight, self->opts.batch, self->body_bytes, dur);
    printf("acked %zu requests (%.1f/s) = %.0f events/s, errors %" PRIu64
           " (refused: queue full %" PRIu64 ")%s%s\n",
           self->lat.n, rps, rps * (double)self->opts.batch, self->errors, self->refused,
           self->first_error[0] ? ", first: " : "", self->first_error);
    if (self->lat.n > 0)
        printf("ack latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n",
               json_real_value(json_object_get(out, "p50_ms")),
               json_real_value(json_object_get(out, "p90_ms")),
               json_real_value(json_object_get(out, "p99_ms")),
               json_real_value(json_object_get(out, "max_ms")));
    s_report_runs(self, out, dur);
    json_dumpf(out, stdout, JSON_COMPACT | JSON_REAL_PRECISION(12));
    printf("\n");
    fflush(stdout);
    json_decref(out);
    return self->lat.n > 0 ? 0 : 1;
}

// --------------------------------------------------------------------------

static zsock_t *
s_dealer(const s_bench_t *self, int hwm)
{
    zsock_t *s = zsock_new(ZMQ_DEALER);
    zsock_set_linger(s, 0);
    zsock_set_sndhwm(s, hwm);
    zsock_set_rcvhwm(s, hwm);
    zsock_set_maxmsgsize(s, (int64_t)ZF_MAX_FRAME * 2);
    if (zsock_connect(s, "%s", self->opts.endpoint) != 0) zsock_destroy(&s);
    return s;
}

//  Opens both sockets and checks endpoint and key (ping takes any key, so
//  the check reads the run counter instead), which becomes the base.
static int
s_open(s_bench_t *self)
{
    self->dealer = s_dealer(self, (int)(self->opts.inflight * 2 + 1000));
    self->control = s_dealer(self, 1000);
    if (!self->dealer || !self->control) {
        fprintf(stderr, "zf-bench-events: cannot connect to %s\n", self->opts.endpoint);
        return -1;
    }
    self->poller = zpoller_new(self->dealer, NULL);
    self->pending = zhashx_new();
    zhashx_set_destructor(self->pending, s_slot_destroy);
    self->runs_base = s_run_count(self);
    if (self->runs_base < 0)
        fprintf(stderr, "zf-bench-events: wf.list failed (endpoint, key or role: member)\n");
    return self->runs_base < 0 ? -1 : 0;
}

static void
s_close(s_bench_t *self)
{
    zpoller_destroy(&self->poller);
    zsock_destroy(&self->dealer);
    zsock_destroy(&self->control);
    zhashx_destroy(&self->pending);
    for (size_t k = 0; k < S_VARIANTS; k++)
        zframe_destroy(&self->body[k]);
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
        s_build_bodies(&self);
        s_run(&self);
        s_drain(&self);
        status = s_report(&self);
    }
    s_close(&self);
    return status;
}
