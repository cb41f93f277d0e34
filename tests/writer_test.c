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

/* ---- message builders --------------------------------------------------------- */

static void
s_add_json_frame(zmsg_t *m, json_t *v)
{
    size_t len = 0;
    void *enc = zf_codec_encode(v, &len);
    zmsg_addmem(m, enc, len);
    free(enc);
    json_decref(v);
}

//  A run.snapshots of one run as a run host sends it. log_seq < 0: no log
//  frame.
static zf_msg_t *
s_snapshot(const char *id, const char *tenant, const char *run_id, const char *status,
           int64_t log_seq)
{
    zf_msg_t *m = zf_msg_new("run.snapshots");
    snprintf(m->id, sizeof m->id, "%s", id);
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "tenant", tenant, "run_id", run_id,
                             "workflow_id", "wf-1", "status", status);
    if (log_seq >= 0) json_object_set_new(body, "log_seq", json_integer(log_seq));
    zf_msg_set_body(m, json_pack("{s:[o]}", "items", body));
    m->route = zmsg_new();
    zmsg_addmem(m->route, "", 0);
    m->extra = zmsg_new();
    s_add_json_frame(m->extra, json_pack("{s:s, s:s, s:s}", "id", run_id, "workflow_id", "wf-1",
                                         "status", status));
    s_add_json_frame(m->extra, json_pack("{s:{s:s}}", "vars", "who", id));
    if (log_seq >= 0)
        s_add_json_frame(m->extra,
                         json_pack("{s:I, s:s}", "seq", (json_int_t)log_seq, "msg", "step done"));
    return m;
}

//  The one snapshot of a message made by s_snapshot (borrowed).
static json_t *
s_item(zf_msg_t *m)
{
    return json_array_get(json_object_get(m->body, "items"), 0);
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
    zf_msg_t *m = s_snapshot(id, tenant, id, i % 3 ? "running" : "completed", i);
    if (zf_msg_send(&m, zsock_resolve(d), 0) != 0) s_fail(p, "snapshot send failed", i);
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
test_invalid_snapshots_rejected(void **state)
{
    fixture_t *f = *state;
    zsock_t *d = s_dealer(f->endpoint);

    zf_msg_t *m = s_snapshot("bad-1", "t", "r-bad1", "running", -1);
    zframe_t *state_frame = zmsg_last(m->extra);
    zframe_reset(state_frame, "\xc1", 1);  // not msgpack
    s_expect_invalid(f, d, m, "r-bad1");

    m = s_snapshot("bad-2", "t", "r-bad2", "running", -1);
    json_object_del(s_item(m), "run_id");
    s_expect_invalid(f, d, m, "r-bad2");

    m = s_snapshot("bad-3", "t", "r-bad3", "running", -1);
    zframe_reset(zmsg_first(m->extra), "\x93\x01\x02\x03", 4);  // array, not map
    s_expect_invalid(f, d, m, "r-bad3");

    m = s_snapshot("bad-4", "t", "r-bad4", "running", 7);
    zframe_t *log = zmsg_last(m->extra);
    zmsg_remove(m->extra, log);  // log_seq without a log frame
    zframe_destroy(&log);
    s_expect_invalid(f, d, m, "r-bad4");

    m = s_snapshot("bad-5", "", "r-bad5", "running", -1);  // no tenant
    s_expect_invalid(f, d, m, NULL);

    m = s_snapshot("bad-6", "t", "r-bad6", "running", -1);
    json_object_set_new(s_item(m), "timer", json_pack("{s:s}", "due", "soon"));
    s_expect_invalid(f, d, m, "r-bad6");

    m = zf_msg_new("store.commit");  // no batch frame
    m->route = zmsg_new();
    zmsg_addmem(m->route, "", 0);
    s_expect_invalid(f, d, m, NULL);

    m = zf_msg_new("wf.create");  // not the writer's business
    m->route = zmsg_new();
    zmsg_addmem(m->route, "", 0);
    s_expect_invalid(f, d, m, NULL);

    //  The writer is still healthy and nothing of the above got in.
    m = s_snapshot("good-1", "t", "r-good", "running", 0);
    zf_msg_t *reply = s_roundtrip(d, &m);
    assert_int_equal(reply->kind, ZF_MSG_REPLY_OK);
    assert_string_equal(reply->corr, "good-1");
    zf_msg_destroy(&reply);
    json_t *rec = zf_rec_run_get(f->store, "t", "r-good");
    assert_string_equal(json_string_value(json_object_get(rec, "status")), "running");
    json_decref(rec);
    uint64_t commits = 0, requests = 0;
    zf_writer_stats(f->writer, &commits, &requests);
    assert_int_equal(requests, 9);
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

static void
s_send_ok(zsock_t *d, zf_msg_t *m)
{
    zf_msg_t *reply = s_roundtrip(d, &m);
    assert_int_equal(reply->kind, ZF_MSG_REPLY_OK);
    zf_msg_destroy(&reply);
}

static void
test_snapshot_timers_logs_active(void **state)
{
    fixture_t *f = *state;
    zsock_t *d = s_dealer(f->endpoint);
    zf_msg_t *m = s_snapshot("s1", "t", "r1", "waiting", 0);
    json_object_set_new(s_item(m), "timer",
                        json_pack("{s:I, s:s}", "due", (json_int_t)1000, "kind", "delay"));
    s_send_ok(d, m);
    m = s_snapshot("s2", "t", "r1", "waiting", 1);
    json_object_set_new(s_item(m), "timer_clear", json_integer(1000));
    json_object_set_new(s_item(m), "timer",
                        json_pack("{s:I, s:s}", "due", (json_int_t)2000, "kind", "retry"));
    s_send_ok(d, m);

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

    m = s_snapshot("s3", "t", "r1", "completed", -1);  // terminal: leaves the active set
    json_object_set_new(s_item(m), "timer_clear", json_integer(2000));
    s_send_ok(d, m);
    tm = (s_timers_t){0};
    assert_int_equal(zf_rec_timers_due(f->store, 10000, 10, s_timer_collect, &tm, NULL), 0);
    runs = zf_rec_runs_list(f->store, "t", "wf-1", "completed", 0, 10, &total);
    assert_int_equal(total, 1);
    json_decref(runs);
    size_t len = 0;
    void *active = zf_store_get(f->store, ZF_CF_ACTIVE, "t\0r1", 4, &len);
    assert_null(active);
    zsock_destroy(&d);
}

//  Moves the snapshot of a one-run message (s_snapshot), body and frames,
//  into a message of several.
static void
s_add_item(zf_msg_t *many, zf_msg_t **one_p)
{
    zf_msg_t *one = *one_p;
    json_array_append(json_object_get(many->body, "items"), s_item(one));
    zframe_t *fr;
    while ((fr = zmsg_pop(one->extra)))
        zmsg_append(many->extra, &fr);
    zf_msg_destroy(one_p);
}

static zf_msg_t *
s_snapshots_new(const char *id)
{
    zf_msg_t *m = zf_msg_new("run.snapshots");
    snprintf(m->id, sizeof m->id, "%s", id);
    zf_msg_set_body(m, json_pack("{s:[]}", "items"));
    m->route = zmsg_new();
    zmsg_addmem(m->route, "", 0);
    m->extra = zmsg_new();
    return m;
}

//  run.snapshots: several runs (of several tenants) in one request and one
//  ack; keep_record leaves the stored record alone; one bad item refuses
//  the whole message.
static void
test_snapshots_many_in_one_request(void **state)
{
    fixture_t *f = *state;
    zsock_t *d = s_dealer(f->endpoint);
    zf_msg_t *m = s_snapshots_new("many-1");
    zf_msg_t *one = s_snapshot("x", "ta", "ra", "running", 0);
    s_add_item(m, &one);
    one = s_snapshot("y", "tb", "rb", "running", -1);
    s_add_item(m, &one);
    s_send_ok(d, m);
    json_t *ra = zf_rec_run_get(f->store, "ta", "ra"), *rb = zf_rec_run_get(f->store, "tb", "rb");
    assert_non_null(ra);
    assert_non_null(rb);
    assert_null(zf_rec_run_get(f->store, "ta", "rb"));  // each under its own tenant
    json_decref(ra);
    json_decref(rb);

    //  keep_record: state and log are written, the record is not.
    m = s_snapshots_new("many-2");
    one = s_snapshot("z", "ta", "ra", "completed", 1);
    json_object_set_new(s_item(one), "keep_record", json_true());
    zframe_t *rec = zmsg_pop(one->extra);
    zframe_destroy(&rec);
    s_add_item(m, &one);
    s_send_ok(d, m);
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

    //  One good item and one without its log frame: nothing is stored.
    m = s_snapshots_new("many-3");
    one = s_snapshot("g", "ta", "rgood", "running", -1);
    s_add_item(m, &one);
    one = s_snapshot("b", "ta", "rbad", "running", 3);
    zframe_t *log = zmsg_last(one->extra);
    zmsg_remove(one->extra, log);
    zframe_destroy(&log);
    s_add_item(m, &one);
    s_expect_invalid(f, d, m, "rgood");
    //  A frame that no item uses, and an item without its tenant.
    m = s_snapshots_new("many-4");
    one = s_snapshot("g", "ta", "rgood", "running", -1);
    s_add_item(m, &one);
    zmsg_addmem(m->extra, "\x80", 1);
    s_expect_invalid(f, d, m, "rgood");
    m = s_snapshots_new("many-5");
    one = s_snapshot("g", "ta", "rgood", "running", -1);
    s_add_item(m, &one);
    json_object_del(json_array_get(json_object_get(m->body, "items"), 0), "tenant");
    s_expect_invalid(f, d, m, "rgood");
    m = s_snapshots_new("many-6");  // no items
    s_expect_invalid(f, d, m, NULL);
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
        cmocka_unit_test_setup_teardown(test_invalid_snapshots_rejected, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_timers_logs_active, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_snapshots_many_in_one_request, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_term_flushes_queue, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_new_rejects_bad_endpoints, s_setup, s_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    zsys_shutdown();
    return rc;
}
