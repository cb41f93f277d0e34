/*  tools/bench_floor.c — zf-bench-floor: what this machine allows W1 at most.

        zf-bench-floor [--inflight N] [--duration S] [--warmup S]
                       [--steps K] [--entries E] [--value-bytes B] [--cfs C]
                       [--dir DIR]

    The bare loop that issue "Engine core" uses to size the W1 target, run
    on the machine at hand: zmq + msgpack + RocksDB group commit, no engine.
    A client thread keeps N runs in flight over tcp loopback; each run is K
    steps (default 3), and each step is one msgpack request that a server
    thread stores durably before it acks: the server drains every request
    waiting, writes them as ONE WriteBatch with sync=true (E entries per
    step of B bytes each, spread over C column families), and only then
    sends the acks. The client sends a
    run's next step when the previous one is acked, so, as in zflow, every
    step of a run waits for its own fsync.

    It measures the floor that fsync, memtable inserts and zmq hand-offs put
    under W1 on this machine; zflow's W1 figures are to be read against it
    (BENCHMARKS.md). The database lives in a fresh directory under DIR
    (default /tmp), removed at exit. The last output line is one JSON object
    like zf-bench's. Exit status: 0 if any run completed, 1 otherwise, 2 on
    bad arguments.
*/
#include "tools/bench_util.h"

#include <czmq.h>
#include <getopt.h>
#include <inttypes.h>
#include <msgpack.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_DRAIN 4096   // requests in one group commit
#define S_MAX_CFS   16     // --cfs at most
#define S_MAX_VALUE 65536  // --value-bytes at most

typedef struct {
    long inflight;       // runs kept in flight
    double duration_s;   // measured window
    double warmup_s;     // unmeasured lead-in
    long steps;          // durable steps per run
    long entries;        // entries written per step
    long value_bytes;    // bytes per entry value
    long cfs;            // column families the entries are spread over
    const char *parent;  // where the database directory is made
} s_opts_t;

typedef struct {
    s_opts_t opts;                                  // options
    char dir[256];                                  // the database directory
    char endpoint[64];                              // tcp loopback endpoint the server bound
    rocksdb_t *db;                                  // the database
    rocksdb_column_family_handle_t *cf[S_MAX_CFS];  // its column families
    uint64_t commits;                               // group commits (read after the server stopped)
    uint64_t requests;                              // steps stored (read after the server stopped)
    atomic_bool failed;                             // set by the server thread when a write fails
} s_floor_t;

/* ---- options ------------------------------------------------------------- */

static void
s_usage(FILE *out)
{
    fprintf(out,
            "usage: zf-bench-floor [--inflight N] [--duration SECONDS] [--warmup SECONDS]\n"
            "                      [--steps K] [--entries E] [--value-bytes B] [--cfs C]\n"
            "                      [--dir DIR]\n"
            "  --inflight     runs kept in flight (default 64)\n"
            "  --duration     measured seconds (default 10)\n"
            "  --warmup       unmeasured seconds before that (default 2)\n"
            "  --steps        durable steps per run (default 3, as W1)\n"
            "  --entries      RocksDB entries written per step (default 1)\n"
            "  --value-bytes  bytes per entry value (default 200)\n"
            "  --cfs          column families the entries of a step are spread over (default 1)\n"
            "  --dir          parent of the temporary database directory (default /tmp)\n"
            "The last output line is a JSON summary.\n");
}

static int
s_parse(int argc, char **argv, s_opts_t *o)
{
    static const struct option longopts[] = {
        {"inflight", required_argument, NULL, 'n'}, {"duration", required_argument, NULL, 'd'},
        {"warmup", required_argument, NULL, 'w'},   {"steps", required_argument, NULL, 's'},
        {"entries", required_argument, NULL, 'e'},  {"value-bytes", required_argument, NULL, 'b'},
        {"cfs", required_argument, NULL, 'c'},      {"dir", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    int c;
    double v;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
        case 's':
        case 'e':
        case 'c':
        case 'b': {
            double max = c == 'n' ? 100000 : c == 'b' ? S_MAX_VALUE : c == 'c' ? S_MAX_CFS : 1000;
            if (zf_bench_parse_number(optarg, c == 'b' ? 0 : 1, max, &v) != 0 || v != (long)v) {
                fprintf(stderr, "zf-bench-floor: bad number '%s'\n", optarg);
                return -1;
            }
            long *slot = c == 'n'   ? &o->inflight
                         : c == 's' ? &o->steps
                         : c == 'e' ? &o->entries
                         : c == 'c' ? &o->cfs
                                    : &o->value_bytes;
            *slot = (long)v;
            break;
        }
        case 'd':
        case 'w':
            if (zf_bench_parse_number(optarg, c == 'd' ? 0.1 : 0, 3600, &v) != 0) {
                fprintf(stderr, "zf-bench-floor: bad number of seconds '%s'\n", optarg);
                return -1;
            }
            *(c == 'd' ? &o->duration_s : &o->warmup_s) = v;
            break;
        case 'D':
            o->parent = optarg;
            break;
        case 'h':
            s_usage(stdout);
            return 1;
        default:
            s_usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "zf-bench-floor: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* ---- messages: msgpack [run, step] ----------------------------------------- */

static zframe_t *
s_step_frame(uint64_t run, uint32_t step)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint64(&pk, run);
    msgpack_pack_uint32(&pk, step);
    zframe_t *f = zframe_new(buf.data, buf.size);
    msgpack_sbuffer_destroy(&buf);
    return f;
}

static int
s_step_decode(zframe_t *f, uint64_t *run, uint32_t *step)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int rc = -1;
    if (f && msgpack_unpack_next(&u, (const char *)zframe_data(f), zframe_size(f), NULL) ==
                 MSGPACK_UNPACK_SUCCESS) {
        msgpack_object o = u.data;
        if (o.type == MSGPACK_OBJECT_ARRAY && o.via.array.size == 2 &&
            o.via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
            o.via.array.ptr[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            *run = o.via.array.ptr[0].via.u64;
            *step = (uint32_t)o.via.array.ptr[1].via.u64;
            rc = 0;
        }
    }
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* ---- the server: drain, one WriteBatch + fsync, then ack ------------------- */

//  Padding bytes of entry values.
static char s_filler[S_MAX_VALUE];

//  The stored value of one entry: msgpack {run, step, entry, pad}, padded
//  to value_bytes like a small run snapshot.
static void
s_entry(msgpack_sbuffer *buf, uint64_t run, uint32_t step, long entry, long bytes)
{
    msgpack_sbuffer_clear(buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    msgpack_pack_str_with_body(&pk, "run", 3);
    msgpack_pack_uint64(&pk, run);
    msgpack_pack_str_with_body(&pk, "step", 4);
    msgpack_pack_uint32(&pk, step);
    msgpack_pack_str_with_body(&pk, "entry", 5);
    msgpack_pack_long(&pk, entry);
    msgpack_pack_str_with_body(&pk, "pad", 3);
    size_t pad = bytes > (long)buf->size + 8 ? (size_t)bytes - buf->size - 8 : 0;
    msgpack_pack_str_with_body(&pk, s_filler, pad);
}

static void
s_server(zsock_t *pipe, void *arg)
{
    s_floor_t *fl = arg;
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    zsock_set_sndhwm(router, 100000);
    zsock_set_rcvhwm(router, 100000);
    int port = zsock_bind(router, "tcp://127.0.0.1:*");
    snprintf(fl->endpoint, sizeof fl->endpoint, "tcp://127.0.0.1:%d", port);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(wo, 1);
    zmsg_t **held = calloc(S_MAX_DRAIN, sizeof *held);
    msgpack_sbuffer val;
    msgpack_sbuffer_init(&val);
    zpoller_t *poller = zpoller_new(pipe, router, NULL);
    zsock_signal(pipe, port > 0 ? 0 : 1);
    while (port > 0 && held) {
        void *which = zpoller_wait(poller, -1);
        if (which != router) break;  // $TERM on the pipe, or interrupted
        size_t n = 0;
        rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
        while (n < S_MAX_DRAIN && (zsock_events(router) & ZMQ_POLLIN)) {
            zmsg_t *m = zmsg_recv(router);  // [identity][step]
            uint64_t run;
            uint32_t step;
            if (!m || zmsg_size(m) != 2 || s_step_decode(zmsg_last(m), &run, &step) != 0) {
                zmsg_destroy(&m);
                continue;
            }
            for (long e = 0; e < fl->opts.entries; e++) {
                char key[48];
                int klen = snprintf(key, sizeof key, "run\1%016" PRIx64 "\1%04" PRIx32 "\1%ld", run,
                                    step, e);
                s_entry(&val, run, step, e, fl->opts.value_bytes);
                rocksdb_writebatch_put_cf(wb, fl->cf[e % fl->opts.cfs], key, (size_t)klen, val.data,
                                          val.size);
            }
            held[n++] = m;
        }
        char *err = NULL;
        if (n) rocksdb_write(fl->db, wo, wb, &err);
        rocksdb_writebatch_destroy(wb);
        if (err) {
            fprintf(stderr, "zf-bench-floor: RocksDB write failed: %s\n", err);
            rocksdb_free(err);
            atomic_store(&fl->failed, true);
            break;
        }
        fl->commits += n > 0;
        fl->requests += n;
        for (size_t i = 0; i < n; i++)
            zmsg_send(&held[i], router);  // the ack is the request itself
    }
    zpoller_destroy(&poller);
    msgpack_sbuffer_destroy(&val);
    free(held);
    rocksdb_writeoptions_destroy(wo);
    zsock_destroy(&router);
}

/* ---- the client: N runs of K steps ------------------------------------------ */

typedef struct {
    int64_t started_us;  // the run's first send
} s_run_t;

static json_t *
s_client(s_floor_t *fl)
{
    const s_opts_t *o = &fl->opts;
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    zsock_set_sndhwm(dealer, 0);
    zsock_set_rcvhwm(dealer, 0);
    if (zsock_connect(dealer, "%s", fl->endpoint) != 0) {
        zsock_destroy(&dealer);
        return NULL;
    }
    s_run_t *runs = calloc((size_t)o->inflight, sizeof *runs);
    if (!runs) abort();
    zf_bench_samples_t lat = {0};
    int64_t start = zf_bench_mono_us();
    int64_t warm_end = start + (int64_t)(o->warmup_s * 1e6);
    int64_t end = warm_end + (int64_t)(o->duration_s * 1e6);
    uint64_t next_run = 0;
    //  Slot i always holds run i + k * inflight: the run number tells the slot.
    for (long i = 0; i < o->inflight; i++) {
        runs[i] = (s_run_t){.started_us = zf_bench_mono_us()};
        zframe_t *f = s_step_frame(next_run++, 0);
        zframe_send(&f, dealer, 0);
    }
    zpoller_t *poller = zpoller_new(dealer, NULL);
    long outstanding = o->inflight;
    while (outstanding > 0 && !atomic_load(&fl->failed)) {
        int64_t now = zf_bench_mono_us();
        if (!zpoller_wait(poller, 1000)) {
            if (zpoller_terminated(poller) || now > end + 10000000) break;
            continue;
        }
        zframe_t *f = zframe_recv(dealer);
        uint64_t run;
        uint32_t step;
        int bad = s_step_decode(f, &run, &step);
        zframe_destroy(&f);
        if (bad) continue;
        s_run_t *r = &runs[run % (uint64_t)o->inflight];
        now = zf_bench_mono_us();
        if (step + 1 < (uint32_t)o->steps) {  // the run's next step
            f = s_step_frame(run, step + 1);
            zframe_send(&f, dealer, 0);
            continue;
        }
        if (now > warm_end && now <= end) zf_bench_samples_add(&lat, now - r->started_us);
        if (now > end) {  // the window is over: let this slot drain
            outstanding--;
            continue;
        }
        *r = (s_run_t){.started_us = now};
        f = s_step_frame(run + (uint64_t)o->inflight, 0);
        zframe_send(&f, dealer, 0);
    }
    zpoller_destroy(&poller);
    zsock_destroy(&dealer);
    free(runs);
    zf_bench_samples_sort(&lat);
    json_t *out = json_pack(
        "{s:s, s:i, s:i, s:i, s:i, s:i, s:f, s:I, s:f}", "workload", "floor", "inflight",
        (int)o->inflight, "steps", (int)o->steps, "entries_per_step", (int)o->entries, "cfs",
        (int)o->cfs, "value_bytes", (int)o->value_bytes, "duration_s", o->duration_s, "runs",
        (json_int_t)lat.n, "runs_per_s", zf_bench_round3((double)lat.n / o->duration_s));
    json_object_set_new(out, "p50_ms", zf_bench_pct_ms(&lat, 50));
    json_object_set_new(out, "p90_ms", zf_bench_pct_ms(&lat, 90));
    json_object_set_new(out, "p99_ms", zf_bench_pct_ms(&lat, 99));
    zf_bench_samples_free(&lat);
    return out;
}

/* ---- main ------------------------------------------------------------------- */

static rocksdb_t *
s_open(s_floor_t *fl)
{
    rocksdb_options_t *opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(opts, 1);
    rocksdb_options_set_create_missing_column_families(opts, 1);
    rocksdb_options_increase_parallelism(opts, 2);
    char names[S_MAX_CFS][16];
    const char *name_p[S_MAX_CFS];
    const rocksdb_options_t *cf_opts[S_MAX_CFS];
    for (int i = 0; i < fl->opts.cfs; i++) {
        snprintf(names[i], sizeof names[i], i ? "cf%d" : "default", i);
        name_p[i] = names[i];
        cf_opts[i] = opts;
    }
    char *err = NULL;
    rocksdb_t *db = rocksdb_open_column_families(opts, fl->dir, (int)fl->opts.cfs, name_p, cf_opts,
                                                 fl->cf, &err);
    rocksdb_options_destroy(opts);
    if (err) {
        fprintf(stderr, "zf-bench-floor: cannot open %s: %s\n", fl->dir, err);
        rocksdb_free(err);
        return NULL;
    }
    return db;
}

int
main(int argc, char **argv)
{
    s_floor_t fl = {.opts = {.inflight = 64,
                             .duration_s = 10,
                             .warmup_s = 2,
                             .steps = 3,
                             .entries = 1,
                             .value_bytes = 200,
                             .cfs = 1,
                             .parent = "/tmp"}};
    int rc = s_parse(argc, argv, &fl.opts);
    if (rc != 0) return rc > 0 ? 0 : 2;
    zsys_init();
    memset(s_filler, 'x', sizeof s_filler);
    zsys_set_sndhwm(0);
    snprintf(fl.dir, sizeof fl.dir, "%s/zf-floor-XXXXXX", fl.opts.parent);
    if (!mkdtemp(fl.dir)) {
        fprintf(stderr, "zf-bench-floor: cannot create a directory in %s\n", fl.opts.parent);
        return 1;
    }
    fl.db = s_open(&fl);
    json_t *out = NULL;
    if (fl.db) {
        zactor_t *server = zactor_new(s_server, &fl);
        if (server && fl.endpoint[0]) out = s_client(&fl);
        zactor_destroy(&server);
        for (long i = 0; i < fl.opts.cfs; i++)
            rocksdb_column_family_handle_destroy(fl.cf[i]);
        rocksdb_close(fl.db);
    }
    char *err = NULL;
    rocksdb_options_t *opts = rocksdb_options_create();
    rocksdb_destroy_db(opts, fl.dir, &err);
    rocksdb_options_destroy(opts);
    if (err) rocksdb_free(err);
    rmdir(fl.dir);
    if (!out) return 1;
    json_object_set_new(out, "commits", json_integer((json_int_t)fl.commits));
    json_object_set_new(out, "steps_stored", json_integer((json_int_t)fl.requests));
    char *line = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(10));
    printf("%s\n", line);
    free(line);
    bool any = json_integer_value(json_object_get(out, "runs")) > 0;
    json_decref(out);
    return any ? 0 : 1;
}
