/*  tests/writer_test.c — the group-commit writer with real DEALER producers
    over inproc, on a real RocksDB (sync WAL) in a temporary directory.
*/
#include "storage/writer.h"
#include "broker/codec.h"
#include "broker/msg.h"

#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define PRODUCERS    8
#define PER_PRODUCER 500
#define WINDOW       64  // requests a producer keeps in flight

/* ---- fixture ---------------------------------------------------------------- */

typedef struct {
    char dir[64];         // mkdtemp directory
    char endpoint[64];    // inproc endpoint of this test's writer
    zf_store_t *store;    // open store
    zf_writer_t *writer;  // running writer
} fixture_t;

static int
s_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int
s_setup(void **state)
{
    static int seq;
    fixture_t *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/zf-writer-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->endpoint, sizeof f->endpoint, "inproc://zf-writer-test-%d", seq++);
    f->store = zf_store_open(f->dir, true, NULL);
    assert_non_null(f->store);
    f->writer = zf_writer_new(f->store, f->endpoint);
    assert_non_null(f->writer);
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *f = *state;
    zf_writer_destroy(&f->writer);
    zf_store_destroy(&f->store);
    nftw(f->dir, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static zsock_t *
s_dealer(const char *endpoint)
{
    zsock_t *d = zsock_new(ZMQ_DEALER);
    assert(d);
    zsock_set_rcvtimeo(d, 10000);
    zsock_set_sndtimeo(d, 10000);
    int rc = zsock_connect(d, "%s", endpoint);
    assert(rc == 0);
    (void)rc;
    return d;
}

/* ---- batch builders ----------------------------------------------------------- */

//  Stages one run's snapshot as a run host does (zf_rec_snapshot_put):
//  record {id, workflow_id, status} unless keep, state {vars: {who}}, and
//  a log entry when log_seq >= 0. snap carries the tenant, run id, status
//  and the optional fields (prev_status, timers, token).
static void
s_stage_snapshot(zf_batch_t *b, zf_rec_snapshot_t snap, const char *who, int64_t log_seq, bool keep)
{
    json_t *rec = json_pack("{s:s, s:s, s:s}", "id", snap.run_id, "workflow_id", "wf-1", "status",
                            snap.status);
    json_t *st = json_pack("{s:{s:s}}", "vars", "who", who);
    json_t *log = json_pack("{s:I, s:s}", "seq", (json_int_t)log_seq, "msg", "step done");
    void *lb = zf_codec_encode(log, &snap.log_len);
    snap.wf_id = "wf-1";
    snap.rec = keep ? NULL : rec;
    snap.state = st;
    snap.log = log_seq >= 0 ? lb : NULL;
    snap.log_seq = log_seq >= 0 ? (uint32_t)log_seq : 0;
    zf_rec_snapshot_put(b, &snap);
    free(lb);
    json_decref(rec);
    json_decref(st);
    json_decref(log);
}

//  A batch holding one snapshot (see s_stage_snapshot).
static zf_batch_t *
s_snapshot_batch(zf_rec_snapshot_t snap, const char *who, int64_t log_seq)
{
    zf_batch_t *b = zf_batch_new();
    s_stage_snapshot(b, snap, who, log_seq, false);
    return b;
}

static zf_batch_t *
s_commit_batch(const char *key, const char *val)
{
    zf_batch_t *b = zf_batch_new();
    zf_batch_put(b, ZF_CF_RECORDS, key, strlen(key), val, strlen(val));
    zf_batch_put(b, ZF_CF_INDEXES, key, strlen(key), "", 0);
    return b;
}

static bool
s_has(zf_store_t *s, zf_cf_t cf, const char *key)
{
    size_t len = 0;
    void *v = zf_store_get(s, cf, key, strlen(key), &len);
    free(v);
    return v != NULL;
}

/* ---- concurrent producers ------------------------------------------------------- */

typedef struct {
    fixture_t *f;        // shared fixture
    int index;           // producer number
    atomic_int *errors;  // shared failure count (cmocka asserts only in main)
    bool seen[PER_PRODUCER];
} s_producer_t;

static void
s_fail(s_producer_t *p, const char *what, int i)
{
    fprintf(stderr, "producer %d request %d: %s\n", p->index, i, what);
    atomic_fetch_add(p->errors, 1);
}

//  Checks one ack: ok, known corr, first time, and the data already readable.
static void
s_check_ack(s_producer_t *p, zf_msg_t *reply)
{
    int i = -1, prod = -1;
    if (sscanf(reply->corr, "p%d-%d", &prod, &i) != 2 || prod != p->index || i < 0 ||
        i >= PER_PRODUCER) {
        s_fail(p, "unknown corr", i);
        return;
    }
    if (reply->kind != ZF_MSG_REPLY_OK) s_fail(p, "error reply", i);
    if (p->seen[i]) s_fail(p, "acked twice", i);
    p->seen[i] = true;
    char key[48];
    snprintf(key, sizeof key, "p%d-%d", p->index, i);
    if (i % 2 == 0 && !s_has(p->f->store, ZF_CF_RECORDS, key)) s_fail(p, "commit not visible", i);
    char tenant[16];
    snprintf(tenant, sizeof tenant, "t%d", p->index);
    json_t *run = i % 2 ? zf_rec_run_get(p->f->store, tenant, key) : NULL;
    if (i % 2 && !run) s_fail(p, "snapshot not visible", i);
    json_decref(run);
}

static void
s_send_request(s_producer_t *p, zsock_t *d, int i)
{
    char id[48];
    snprintf(id, sizeof id, "p%d-%d", p->index, i);
    if (i % 2 == 0) {
        zf_batch_t *b = s_commit_batch(id, "value");
        if (zf_writer_submit(d, &b, id) != 0) s_fail(p, "submit failed", i);
        return;
    }
    char tenant[16];
    snprintf(tenant, sizeof tenant, "t%d", p->index);
    zf_batch_t *b = s_snapshot_batch((zf_rec_snapshot_t){.tenant = tenant,
                                                         .run_id = id,
                                                         .status = i % 3 ? "running" : "completed"},
                                     id, i);
    if (zf_writer_submit(d, &b, id) != 0) s_fail(p, "snapshot submit failed", i);
}

static void *
s_producer(void *arg)
{
    s_producer_t *p = arg;
    zsock_t *d = s_dealer(p->f->endpoint);
    int sent = 0, acked = 0;
    while (acked < PER_PRODUCER) {
        while (sent < PER_PRODUCER && sent - acked < WINDOW)
            s_send_request(p, d, sent++);
        zf_msg_t *reply = zf_msg_recv(zsock_resolve(d), true, NULL, NULL);
        if (!reply) {
            s_fail(p, "no reply (timeout)", acked);
            break;
        }
        s_check_ack(p, reply);
        zf_msg_destroy(&reply);
        acked++;
    }
    zsock_destroy(&d);
    return NULL;
}

static void
s_check_all_stored(zf_store_t *s)
{
    for (int p = 0; p < PRODUCERS; p++) {
        char tenant[16];
        snprintf(tenant, sizeof tenant, "t%d", p);
        for (int i = 0; i < PER_PRODUCER; i++) {
            char key[48];
            snprintf(key, sizeof key, "p%d-%d", p, i);
            if (i % 2 == 0) {
                assert_true(s_has(s, ZF_CF_RECORDS, key));
                assert_true(s_has(s, ZF_CF_INDEXES, key));
                continue;
            }
            json_t *run = zf_rec_run_get(s, tenant, key);
            assert_non_null(run);
            json_decref(run);
            json_t *logs = zf_rec_logs_get(s, tenant, key);
            assert_int_equal(json_array_size(logs), 1);
            json_decref(logs);
        }
    }
}

static void
test_concurrent_producers_group_commit(void **state)
{
    fixture_t *f = *state;
    atomic_int errors = 0;
    s_producer_t *prods = calloc(PRODUCERS, sizeof(s_producer_t));
    pthread_t th[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        prods[i] = (s_producer_t){.f = f, .index = i, .errors = &errors};
        assert_int_equal(pthread_create(&th[i], NULL, s_producer, &prods[i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&errors), 0);
    for (int i = 0; i < PRODUCERS; i++)
        for (int j = 0; j < PER_PRODUCER; j++)
            assert_true(prods[i].seen[j]);
    free(prods);

    uint64_t commits = 0, requests = 0;
    zf_writer_stats(f->writer, &commits, &requests);
    assert_int_equal(requests, PRODUCERS * PER_PRODUCER);
    assert_true(commits > 0);
    assert_true(commits < requests / 2);  // grouping actually happened
    printf("writer: %lu requests in %lu commits\n", (unsigned long)requests,
           (unsigned long)commits);

    //  Everything acknowledged survives a restart.
    zf_writer_destroy(&f->writer);
    zf_store_destroy(&f->store);
    f->store = zf_store_open(f->dir, true, NULL);
    assert_non_null(f->store);
    s_check_all_stored(f->store);
}

/* ---- single-producer behaviour -------------------------------------------------- */

static zf_msg_t *
s_roundtrip(zsock_t *d, zf_msg_t **req_p)
{
    assert_int_equal(zf_msg_send(req_p, zsock_resolve(d), 0), 0);
    zf_msg_t *reply = zf_msg_recv(zsock_resolve(d), true, NULL, NULL);
    assert_non_null(reply);
    return reply;
}

//  Sends req, expects a validation error answering it, and checks that the
//  run it names was not stored.
static void
s_expect_invalid(fixture_t *f, zsock_t *d, zf_msg_t *req, const char *run_id)
{
    char id[40];
    snprintf(id, sizeof id, "%s", req->id);
    zf_msg_t *reply = s_roundtrip(d, &req);
    assert_int_equal(reply->kind, ZF_MSG_REPLY_ERR);
    assert_string_equal(reply->corr, id);
    assert_string_equal(zf_msg_error_code(reply), "validation");
    assert_non_null(zf_msg_error_message(reply));
    zf_msg_destroy(&reply);
    if (run_id) assert_null(zf_rec_run_get(f->store, "t", run_id));
}

static void
test_invalid_requests_rejected(void **state)
{
    fixture_t *f = *state;
    zsock_t *d = s_dealer(f->endpoint);

    zf_msg_t *m = zf_msg_new("store.commit");  // no batch frame
    m->route = zmsg_new();
    zmsg_addmem(m->route, "", 0);
    s_expect_invalid(f, d, m, NULL);

    m = zf_msg_new("store.commit");  // a frame that is not a pointer
    m->route = zmsg_new();
    zmsg_addmem(m->route, "", 0);
    m->extra = zmsg_new();
    zmsg_addmem(m->extra, "abc", 3);
    s_expect_invalid(f, d, m, NULL);

    m = zf_msg_new("run.snapshots");  // the message of earlier versions: gone
    m->route = zmsg_new();
    zmsg_addmem(m->route, "", 0);
    s_expect_invalid(f, d, m, NULL);

    m = zf_msg_new("wf.create");  // not the writer's business
    m->route = zmsg_new();
    zmsg_addmem(m->route, "", 0);
    s_expect_invalid(f, d, m, NULL);

    //  The writer is still healthy and nothing of the above got in.
    zf_batch_t *b = s_snapshot_batch(
        (zf_rec_snapshot_t){.tenant = "t", .run_id = "r-good", .status = "running"}, "good", 0);
    assert_int_equal(zf_writer_submit(d, &b, "good-1"), 0);
    zf_msg_t *reply = zf_msg_recv(zsock_resolve(d), true, NULL, NULL);
    assert_non_null(reply);
    assert_int_equal(reply->kind, ZF_MSG_REPLY_OK);
    assert_string_equal(reply->corr, "good-1");
    zf_msg_destroy(&reply);
    json_t *rec = zf_rec_run_get(f->store, "t", "r-good");
    assert_string_equal(json_string_value(json_object_get(rec, "status")), "running");
    json_decref(rec);
    uint64_t commits = 0, requests = 0;
    zf_writer_stats(f->writer, &commits, &requests);
    assert_int_equal(requests, 5);
    assert_int_equal(commits, 1);
    zsock_destroy(&d);
}

typedef struct {
    int n;
    int64_t due[4];
    char kind[4][16];
} s_timers_t;

static void
s_timer_collect(int64_t due, const char *tenant, const char *run_id, const char *kind, void *arg)
{
    (void)tenant, (void)run_id;
    s_timers_t *t = arg;
    if (t->n < 4) {
        t->due[t->n] = due;
        snprintf(t->kind[t->n], 16, "%s", kind);
    }
    t->n++;
}

//  Commits b through the writer and expects its ok.
static void
s_send_ok(zsock_t *d, zf_batch_t *b)
{
    assert_int_equal(zf_writer_submit(d, &b, "ok"), 0);
    zf_msg_t *reply = zf_msg_recv(zsock_resolve(d), true, NULL, NULL);
    assert_non_null(reply);
    assert_int_equal(reply->kind, ZF_MSG_REPLY_OK);
    zf_msg_destroy(&reply);
}

static void
test_snapshot_timers_logs_active(void **state)
{
    fixture_t *f = *state;
    zsock_t *d = s_dealer(f->endpoint);
    s_send_ok(d, s_snapshot_batch((zf_rec_snapshot_t){.tenant = "t",
                                                      .run_id = "r1",
                                                      .status = "waiting",
                                                      .timer_due = 1000,
                                                      .timer_kind = "delay"},
                                  "s1", 0));
    s_send_ok(d, s_snapshot_batch((zf_rec_snapshot_t){.tenant = "t",
                                                      .run_id = "r1",
                                                      .status = "waiting",
                                                      .prev_status = "waiting",
                                                      .timer_clear = 1000,
                                                      .timer_due = 2000,
                                                      .timer_kind = "retry"},
                                  "s2", 1));

    s_timers_t tm = {0};
    assert_int_equal(zf_rec_timers_due(f->store, 10000, 10, s_timer_collect, &tm, NULL), 1);
    assert_int_equal(tm.due[0], 2000);
    assert_string_equal(tm.kind[0], "retry");
    json_t *logs = zf_rec_logs_get(f->store, "t", "r1");
    assert_int_equal(json_array_size(logs), 2);
    json_decref(logs);
    json_t *st = zf_rec_state_get(f->store, "t", "r1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(st, "vars"), "who")),
                        "s2");
    json_decref(st);
    size_t total = 0;
    json_t *runs = zf_rec_runs_list(f->store, "t", "wf-1", "waiting", 0, 10, &total);
    assert_int_equal(total, 1);
    json_decref(runs);

    //  Terminal: leaves the active set, the index says completed.
    s_send_ok(d, s_snapshot_batch((zf_rec_snapshot_t){.tenant = "t",
                                                      .run_id = "r1",
                                                      .status = "completed",
                                                      .prev_status = "waiting",
                                                      .timer_clear = 2000},
                                  "s3", -1));
    tm = (s_timers_t){0};
    assert_int_equal(zf_rec_timers_due(f->store, 10000, 10, s_timer_collect, &tm, NULL), 0);
    runs = zf_rec_runs_list(f->store, "t", "wf-1", "completed", 0, 10, &total);
    assert_int_equal(total, 1);
    json_decref(runs);
    runs = zf_rec_runs_list(f->store, "t", "wf-1", "waiting", 0, 10, &total);
    assert_int_equal(total, 0);
    json_decref(runs);
    size_t len = 0;
    void *active = zf_store_get(f->store, ZF_CF_ACTIVE, "t\0r1", 4, &len);
    assert_null(active);
    zsock_destroy(&d);
}

//  Several runs (of several tenants) in one batch, one request, one ack;
//  a kept record stays as stored; a token is indexed with its run.
static void
test_snapshots_many_in_one_batch(void **state)
{
    fixture_t *f = *state;
    zsock_t *d = s_dealer(f->endpoint);
    zf_batch_t *b = zf_batch_new();
    s_stage_snapshot(b, (zf_rec_snapshot_t){.tenant = "ta", .run_id = "ra", .status = "running"},
                     "x", 0, false);
    s_stage_snapshot(b, (zf_rec_snapshot_t){.tenant = "tb", .run_id = "rb", .status = "running"},
                     "y", -1, false);
    s_send_ok(d, b);
    json_t *ra = zf_rec_run_get(f->store, "ta", "ra"), *rb = zf_rec_run_get(f->store, "tb", "rb");
    assert_non_null(ra);
    assert_non_null(rb);
    assert_null(zf_rec_run_get(f->store, "ta", "rb"));  // each under its own tenant
    json_decref(ra);
    json_decref(rb);

    //  keep: state and log are written, the record is not.
    b = zf_batch_new();
    s_stage_snapshot(
        b,
        (zf_rec_snapshot_t){
            .tenant = "ta", .run_id = "ra", .status = "completed", .prev_status = "running"},
        "z", 1, true);
    s_send_ok(d, b);
    ra = zf_rec_run_get(f->store, "ta", "ra");
    assert_string_equal(json_string_value(json_object_get(ra, "status")), "running");
    json_decref(ra);
    json_t *st = zf_rec_state_get(f->store, "ta", "ra");
    assert_string_equal(json_string_value(json_object_get(json_object_get(st, "vars"), "who")),
                        "z");
    json_decref(st);
    json_t *logs = zf_rec_logs_get(f->store, "ta", "ra");
    assert_int_equal(json_array_size(logs), 2);
    json_decref(logs);

    //  A paused run's callback token: indexed by its hash, with the run.
    static const char hash[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    json_t *tok = json_pack("{s:s, s:s, s:s}", "hash", hash, "node_id", "ask", "kind", "approval");
    b = zf_batch_new();
    s_stage_snapshot(b,
                     (zf_rec_snapshot_t){.tenant = "tb",
                                         .run_id = "rb",
                                         .status = "paused",
                                         .prev_status = "running",
                                         .token = tok},
                     "w", 0, false);
    json_decref(tok);
    s_send_ok(d, b);
    json_t *entry = zf_rec_token_get(f->store, hash);
    assert_non_null(entry);
    assert_string_equal(json_string_value(json_object_get(entry, "tenant")), "tb");
    assert_string_equal(json_string_value(json_object_get(entry, "run_id")), "rb");
    assert_string_equal(json_string_value(json_object_get(entry, "node_id")), "ask");
    assert_null(json_object_get(entry, "hash"));  // the key, not stored twice
    json_decref(entry);
    zsock_destroy(&d);
}

//  Requests queued when the writer is told to stop are still committed and
//  acknowledged.
static void
test_term_flushes_queue(void **state)
{
    fixture_t *f = *state;
    zsock_t *d = s_dealer(f->endpoint);
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "q-%d", i);
        zf_batch_t *b = s_commit_batch(id, "queued");
        assert_int_equal(zf_writer_submit(d, &b, id), 0);
        assert_null(b);
    }
    zf_writer_destroy(&f->writer);
    assert_null(f->writer);
    bool seen[N] = {false};
    for (int i = 0; i < N; i++) {
        zf_msg_t *reply = zf_msg_recv(zsock_resolve(d), true, NULL, NULL);
        assert_non_null(reply);
        int k = -1;
        assert_int_equal(sscanf(reply->corr, "q-%d", &k), 1);
        assert_true(k >= 0 && k < N && !seen[k]);
        seen[k] = true;
        assert_int_equal(reply->kind, ZF_MSG_REPLY_OK);
        zf_msg_destroy(&reply);
        char key[32];
        snprintf(key, sizeof key, "q-%d", k);
        assert_true(s_has(f->store, ZF_CF_RECORDS, key));
    }
    zsock_destroy(&d);
}

static void
test_new_rejects_bad_endpoints(void **state)
{
    fixture_t *f = *state;
    assert_null(zf_writer_new(f->store, "tcp://127.0.0.1:5999"));  // pointers stay in-process
    assert_null(zf_writer_new(f->store, f->endpoint));             // already bound
    zf_writer_destroy(&f->writer);
    zf_writer_destroy(&f->writer);  // idempotent
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_concurrent_producers_group_commit, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_requests_rejected, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_timers_logs_active, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_snapshots_many_in_one_batch, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_term_flushes_queue, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_new_rejects_bad_endpoints, s_setup, s_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    zsys_shutdown();
    return rc;
}
