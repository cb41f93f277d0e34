/*  tests/store_test.c — storage/store.c and storage/records.c on a real
    RocksDB in a temporary directory.
*/
#include "storage/store.h"
#include "broker/codec.h"
#include "broker/ids.h"

#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- fixture ---------------------------------------------------------------- */

typedef struct {
    char dir[64];       // mkdtemp directory
    zf_store_t *store;  // open store
} fixture_t;

static int
s_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void
s_rm_tree(const char *dir)
{
    nftw(dir, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/zf-store-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char *err = NULL;
    f->store = zf_store_open(f->dir, false, &err);
    assert_null(err);
    assert_non_null(f->store);
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *f = *state;
    zf_store_destroy(&f->store);
    assert_null(f->store);
    s_rm_tree(f->dir);
    free(f);
    return 0;
}

static void
s_commit(zf_store_t *s, zf_batch_t **b)
{
    assert_int_equal(zf_store_write(s, *b), 0);
    zf_batch_destroy(b);
}

static bool
s_has(zf_store_t *s, zf_cf_t cf, const void *key, size_t klen)
{
    size_t len = 0;
    void *v = zf_store_get(s, cf, key, klen, &len);
    free(v);
    return v != NULL;
}

/* ---- raw store -------------------------------------------------------------- */

static void
test_open_close_reopen(void **state)
{
    fixture_t *f = *state;
    zf_batch_t *b = zf_batch_new();
    json_t *v = json_pack("{s:i}", "schema", 3);
    zf_rec_meta_put(b, "schema", v);
    zf_batch_put(b, ZF_CF_RECORDS, "k", 1, "raw", 3);
    s_commit(f->store, &b);
    zf_store_destroy(&f->store);
    zf_store_destroy(&f->store);  // idempotent

    char *err = NULL;
    f->store = zf_store_open(f->dir, true, &err);
    assert_non_null(f->store);
    json_t *got = zf_rec_meta_get(f->store, "schema");
    assert_true(json_equal(got, v));
    size_t len = 0;
    char *raw = zf_store_get(f->store, ZF_CF_RECORDS, "k", 1, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(raw, "raw", 3);
    free(raw);
    json_decref(got);
    json_decref(v);
}

static void
test_open_failure_reports(void **state)
{
    (void)state;
    char *err = NULL;
    //  A regular file where the directory should be.
    zf_store_t *s = zf_store_open("/dev/null", false, &err);
    assert_null(s);
    assert_non_null(err);
    assert_true(strlen(err) > 0);
    free(err);
}

static void
s_put_format(zf_store_t *s, const void *stamp, size_t len)
{
    zf_batch_t *b = zf_batch_new();
    zf_batch_put(b, ZF_CF_META, "format", 6, stamp, len);
    s_commit(s, &b);
}

//  A new directory is stamped with ZF_STORE_FORMAT; a directory without the
//  stamp (written before it existed) or of an older format opens and is
//  stamped; a newer or unreadable stamp is refused, and the refusal
//  changes nothing.
static void
test_format_stamp(void **state)
{
    fixture_t *f = *state;
    json_t *got = zf_rec_meta_get(f->store, "format");
    assert_true(json_is_integer(got));
    assert_int_equal(json_integer_value(got), ZF_STORE_FORMAT);
    json_decref(got);

    zf_batch_t *b = zf_batch_new();
    zf_batch_del(b, ZF_CF_META, "format", 6);
    zf_batch_put(b, ZF_CF_RECORDS, "k", 1, "kept", 4);
    s_commit(f->store, &b);
    zf_store_destroy(&f->store);
    char *err = NULL;
    f->store = zf_store_open(f->dir, true, &err);
    assert_non_null(f->store);
    assert_null(err);
    assert_true(s_has(f->store, ZF_CF_RECORDS, "k", 1));
    got = zf_rec_meta_get(f->store, "format");
    assert_int_equal(json_integer_value(got), ZF_STORE_FORMAT);
    json_decref(got);

    unsigned char older = 1;
    s_put_format(f->store, &older, 1);
    zf_store_destroy(&f->store);
    f->store = zf_store_open(f->dir, true, &err);
    assert_non_null(f->store);
    got = zf_rec_meta_get(f->store, "format");
    assert_int_equal(json_integer_value(got), ZF_STORE_FORMAT);
    json_decref(got);

    const struct {
        unsigned char v[3];
        size_t len;
        const char *says;
    } refused[] = {
        {{ZF_STORE_FORMAT + 1}, 1, "format 3 is newer than this zflow reads (2)"},
        {{0x7f}, 1, "format 127 is newer"},
        {{0xcd, 0x01, 0x00}, 3, "format stamp is corrupt"},  // uint16 256
        {{0xa1, '2'}, 2, "format stamp is corrupt"},         // the string "2"
        {{0}, 0, "format stamp is corrupt"},
    };
    //  Each case twice: a refused open leaves the stamp as it found it.
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        s_put_format(f->store, refused[i].v, refused[i].len);
        zf_store_destroy(&f->store);
        for (int again = 0; again < 2; again++) {
            err = NULL;
            assert_null(zf_store_open(f->dir, true, &err));
            assert_non_null(err);
            if (!strstr(err, refused[i].says)) fail_msg("case %zu: %s", i, err);
            free(err);
        }
        s_rm_tree(f->dir);
        assert_int_equal(mkdir(f->dir, 0700), 0);
        f->store = zf_store_open(f->dir, true, &err);
        assert_non_null(f->store);
    }
}

static void
test_batch_put_get_del(void **state)
{
    fixture_t *f = *state;
    zf_batch_t *b = zf_batch_new();
    zf_batch_put(b, ZF_CF_RUNS, "t\0r1", 4, "one", 3);
    zf_batch_put(b, ZF_CF_RUN_STATE, "t\0r1", 4, "two", 3);
    zf_batch_put(b, ZF_CF_INDEXES, "x", 1, "", 0);  // empty value is a value
    assert_int_equal(zf_batch_count(b), 3);
    assert_int_equal(zf_batch_bytes(b), 4 + 3 + 4 + 3 + 1);
    s_commit(f->store, &b);
    size_t len = 9;
    char *v = zf_store_get(f->store, ZF_CF_RUN_STATE, "t\0r1", 4, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(v, "two", 3);
    free(v);
    v = zf_store_get(f->store, ZF_CF_INDEXES, "x", 1, &len);
    assert_non_null(v);
    assert_int_equal(len, 0);
    free(v);
    //  Same key in another CF is a different key.
    assert_false(s_has(f->store, ZF_CF_ACTIVE, "t\0r1", 4));

    b = zf_batch_new();
    zf_batch_del(b, ZF_CF_RUNS, "t\0r1", 4);
    s_commit(f->store, &b);
    assert_false(s_has(f->store, ZF_CF_RUNS, "t\0r1", 4));
    assert_true(s_has(f->store, ZF_CF_RUN_STATE, "t\0r1", 4));
}

typedef struct {
    int n;
    zf_cf_t cf[8];
    char key[8][16];
    bool del[8];
} s_ops_seen_t;

static void
s_op_seen(zf_cf_t cf, const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)vlen;
    s_ops_seen_t *s = arg;
    s->cf[s->n] = cf;
    memcpy(s->key[s->n], key, klen);
    s->del[s->n] = val == NULL;
    s->n++;
}

static void
test_batch_append_and_order(void **state)
{
    fixture_t *f = *state;
    zf_batch_t *a = zf_batch_new();
    zf_batch_put(a, ZF_CF_RECORDS, "k1", 2, "v1", 2);
    zf_batch_t *c = zf_batch_new();
    zf_batch_del(c, ZF_CF_RECORDS, "k1", 2);  // later op wins
    zf_batch_put(c, ZF_CF_KEYS, "k2", 2, "v2", 2);
    zf_batch_append(a, &c);
    assert_null(c);
    assert_int_equal(zf_batch_count(a), 3);
    s_ops_seen_t seen = {0};
    zf_batch_each(a, s_op_seen, &seen);
    assert_int_equal(seen.n, 3);
    assert_int_equal(seen.cf[0], ZF_CF_RECORDS);
    assert_false(seen.del[0]);
    assert_true(seen.del[1]);
    assert_string_equal(seen.key[2], "k2");
    s_commit(f->store, &a);
    assert_false(s_has(f->store, ZF_CF_RECORDS, "k1", 2));
    assert_true(s_has(f->store, ZF_CF_KEYS, "k2", 2));
    zf_batch_destroy(&a);  // NULL is fine
}

//  A reader thread checks, while batches commit, that whenever the first
//  write of a batch is visible the second (other CF, written after it in
//  the same batch) is visible too: a batch is never half-applied.
typedef struct {
    zf_store_t *store;
    volatile int done;
    int violations;
    int seen;
} s_atomic_t;

static void *
s_atomic_reader(void *arg)
{
    s_atomic_t *a = arg;
    while (!a->done) {
        for (int i = 0; i < 200; i++) {
            char key[16];
            int klen = snprintf(key, sizeof key, "k%03d", i);
            if (!s_has(a->store, ZF_CF_RUNS, key, (size_t)klen)) continue;
            a->seen++;
            if (!s_has(a->store, ZF_CF_ACTIVE, key, (size_t)klen)) a->violations++;
        }
    }
    return NULL;
}

static void
test_batch_is_atomic_across_cfs(void **state)
{
    fixture_t *f = *state;
    s_atomic_t a = {.store = f->store};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_atomic_reader, &a), 0);
    for (int i = 0; i < 200; i++) {
        char key[16];
        int klen = snprintf(key, sizeof key, "k%03d", i);
        zf_batch_t *b = zf_batch_new();
        zf_batch_put(b, ZF_CF_RUNS, key, (size_t)klen, "r", 1);
        for (int j = 0; j < 50; j++)  // padding so the batch takes a while
            zf_batch_put(b, ZF_CF_RECORDS, key, (size_t)klen, "pad", 3);
        zf_batch_put(b, ZF_CF_ACTIVE, key, (size_t)klen, "", 0);
        s_commit(f->store, &b);
    }
    a.done = 1;
    pthread_join(th, NULL);
    assert_int_equal(a.violations, 0);
    assert_true(a.seen > 0);
    for (int i = 0; i < 200; i++) {
        char key[16];
        int klen = snprintf(key, sizeof key, "k%03d", i);
        assert_true(s_has(f->store, ZF_CF_ACTIVE, key, (size_t)klen));
    }
}

typedef struct {
    int n;
    int stop_after;  // 0 = never
    char keys[16][16];
    size_t lens[16];
} s_scan_t;

static int
s_scan_collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)val, (void)vlen;
    s_scan_t *s = arg;
    assert_true(s->n < 16 && klen < 16);
    memcpy(s->keys[s->n], key, klen);
    s->lens[s->n++] = klen;
    return s->stop_after && s->n >= s->stop_after;
}

static void
s_put_keys(zf_store_t *st, zf_cf_t cf, const char *const *keys, const size_t *lens, int n)
{
    zf_batch_t *b = zf_batch_new();
    for (int i = 0; i < n; i++)
        zf_batch_put(b, cf, keys[i], lens[i], "v", 1);
    s_commit(st, &b);
}

static void
test_scan_prefix_tenant_isolation(void **state)
{
    fixture_t *f = *state;
    const char *keys[] = {"a\0x", "a\0y", "a\0z", "ab\0x", "a", "b\0x", "\0x"};
    const size_t lens[] = {3, 3, 3, 4, 1, 3, 2};
    s_put_keys(f->store, ZF_CF_RECORDS, keys, lens, 7);

    s_scan_t s = {0};
    assert_int_equal(zf_store_scan(f->store, ZF_CF_RECORDS, "a\0", 2, false, s_scan_collect, &s),
                     3);
    assert_memory_equal(s.keys[0], "a\0x", 3);
    assert_memory_equal(s.keys[2], "a\0z", 3);
    s = (s_scan_t){0};
    assert_int_equal(zf_store_scan(f->store, ZF_CF_RECORDS, "a\0", 2, true, s_scan_collect, &s), 3);
    assert_memory_equal(s.keys[0], "a\0z", 3);
    assert_memory_equal(s.keys[2], "a\0x", 3);
    s = (s_scan_t){0};
    assert_int_equal(zf_store_scan(f->store, ZF_CF_RECORDS, "ab\0", 3, true, s_scan_collect, &s),
                     1);
    assert_memory_equal(s.keys[0], "ab\0x", 4);
    //  Early stop, and the empty prefix (whole CF, both directions).
    s = (s_scan_t){.stop_after = 2};
    assert_int_equal(zf_store_scan(f->store, ZF_CF_RECORDS, "a\0", 2, true, s_scan_collect, &s), 2);
    s = (s_scan_t){0};
    assert_int_equal(zf_store_scan(f->store, ZF_CF_RECORDS, NULL, 0, true, s_scan_collect, &s), 7);
    assert_memory_equal(s.keys[0], "b\0x", 3);
    assert_memory_equal(s.keys[6], "\0x", 2);
    s = (s_scan_t){0};
    assert_int_equal(zf_store_scan(f->store, ZF_CF_RECORDS, "c", 1, true, s_scan_collect, &s), 0);
    assert_int_equal(zf_store_scan(f->store, ZF_CF_RECORDS, "c", 1, false, s_scan_collect, &s), 0);
}

static void
test_scan_prefix_with_ff_bytes(void **state)
{
    fixture_t *f = *state;
    const char *keys[] = {"\xff\xfe\x01", "\xff\xff",         "\xff\xff\x01",
                          "\xff\xff\xff", "\xff\xff\xff\xff", "a\xff",
                          "a\xff\x00",    "a\xff\xff",        "b"};
    const size_t lens[] = {3, 2, 3, 3, 4, 2, 3, 3, 1};
    s_put_keys(f->store, ZF_CF_INDEXES, keys, lens, 9);

    s_scan_t s = {0};
    assert_int_equal(
        zf_store_scan(f->store, ZF_CF_INDEXES, "\xff\xff", 2, true, s_scan_collect, &s), 4);
    assert_memory_equal(s.keys[0], "\xff\xff\xff\xff", 4);
    assert_memory_equal(s.keys[3], "\xff\xff", 2);
    s = (s_scan_t){0};
    assert_int_equal(
        zf_store_scan(f->store, ZF_CF_INDEXES, "\xff\xff", 2, false, s_scan_collect, &s), 4);
    assert_memory_equal(s.keys[0], "\xff\xff", 2);
    //  "a\xff" has successor "b", which exists and must not be included.
    s = (s_scan_t){0};
    assert_int_equal(zf_store_scan(f->store, ZF_CF_INDEXES, "a\xff", 2, true, s_scan_collect, &s),
                     3);
    assert_memory_equal(s.keys[0], "a\xff\xff", 3);
    assert_int_equal(s.lens[2], 2);
    s = (s_scan_t){0};
    assert_int_equal(zf_store_scan(f->store, ZF_CF_INDEXES, "a\xff", 2, false, s_scan_collect, &s),
                     3);
    assert_memory_equal(s.keys[2], "a\xff\xff", 3);
}

/* ---- workflows -------------------------------------------------------------- */

static json_t *
s_wf(const char *name)
{
    char id[ZF_UUID_LEN + 1];
    zf_uuid7(id);
    return json_pack("{s:s, s:s, s:i}", "id", id, "name", name, "version", 1);
}

static const char *
s_id(const json_t *v)
{
    return json_string_value(json_object_get(v, "id"));
}

static void
test_wf_put_get_list_rename(void **state)
{
    fixture_t *f = *state;
    json_t *w1 = s_wf("first"), *w2 = s_wf("second"), *w3 = s_wf("third");
    json_t *other = s_wf("first");  // same name, other tenant
    zf_batch_t *b = zf_batch_new();
    zf_rec_wf_put(b, "acme", w1, NULL);
    zf_rec_wf_put(b, "acme", w2, NULL);
    zf_rec_wf_put(b, "acme", w3, NULL);
    zf_rec_wf_put(b, "acmex", other, NULL);
    s_commit(f->store, &b);

    json_t *got = zf_rec_wf_get(f->store, "acme", s_id(w2));
    assert_true(json_equal(got, w2));
    json_decref(got);
    assert_null(zf_rec_wf_get(f->store, "acmex", s_id(w2)));  // tenant isolation
    char *id = zf_rec_wf_by_name(f->store, "acme", "first");
    assert_string_equal(id, s_id(w1));
    free(id);
    id = zf_rec_wf_by_name(f->store, "acmex", "first");
    assert_string_equal(id, s_id(other));
    free(id);

    json_t *list = zf_rec_wf_list(f->store, "acme");
    assert_int_equal(json_array_size(list), 3);
    assert_string_equal(s_id(json_array_get(list, 0)), s_id(w3));  // newest first
    assert_string_equal(s_id(json_array_get(list, 2)), s_id(w1));
    json_decref(list);

    json_object_set_new(w1, "name", json_string("renamed"));
    b = zf_batch_new();
    zf_rec_wf_put(b, "acme", w1, "first");
    s_commit(f->store, &b);
    assert_null(zf_rec_wf_by_name(f->store, "acme", "first"));
    id = zf_rec_wf_by_name(f->store, "acme", "renamed");
    assert_string_equal(id, s_id(w1));
    free(id);
    json_decref(w1), json_decref(w2), json_decref(w3), json_decref(other);
}

static json_t *
s_run(const char *wf_id, const char *status)
{
    char id[ZF_UUID_LEN + 1];
    zf_uuid7(id);
    return json_pack("{s:s, s:s, s:s}", "id", id, "workflow_id", wf_id, "status", status);
}

typedef struct {
    int n;
    char tenant[16][16];
    char run_id[16][40];
} s_active_t;

static void
s_active_collect(const char *tenant, const char *run_id, void *arg)
{
    s_active_t *a = arg;
    assert_true(a->n < 16);
    snprintf(a->tenant[a->n], 16, "%s", tenant);
    snprintf(a->run_id[a->n], 40, "%s", run_id);
    a->n++;
}

typedef struct {
    int n;
    int64_t due[16];
    char tenant[16][16];
    char run_id[16][40];
    char kind[16][16];
} s_timers_t;

static void
s_timer_collect(int64_t due, const char *tenant, const char *run_id, const char *kind, void *arg)
{
    s_timers_t *t = arg;
    assert_true(t->n < 16);
    t->due[t->n] = due;
    snprintf(t->tenant[t->n], 16, "%s", tenant);
    snprintf(t->run_id[t->n], 40, "%s", run_id);
    snprintf(t->kind[t->n], 16, "%s", kind);
    t->n++;
}

static void
test_wf_delete_cascades(void **state)
{
    fixture_t *f = *state;
    json_t *wf = s_wf("doomed"), *keep = s_wf("kept");
    json_t *r1 = s_run(s_id(wf), "waiting"), *r2 = s_run(s_id(wf), "completed");
    json_t *rk = s_run(s_id(keep), "running");
    json_object_set_new(r1, "wake_at", json_integer(5000));
    zf_batch_t *b = zf_batch_new();
    zf_rec_wf_put(b, "t", wf, NULL);
    zf_rec_wf_put(b, "t", keep, NULL);
    zf_rec_run_put(b, "t", r1);
    zf_rec_run_put(b, "t", r2);
    zf_rec_run_put(b, "t", rk);
    json_t *st = json_pack("{s:{s:i}}", "vars", "x", 1);
    size_t len = 0;
    void *enc = zf_codec_encode(st, &len);
    zf_rec_state_put(b, "t", s_id(r1), st);
    zf_rec_log_put_raw(b, "t", s_id(r1), 0, enc, len);
    zf_rec_log_put_raw(b, "t", s_id(r2), 1, enc, len);
    zf_rec_timer_put(b, 5000, "t", s_id(r1), "delay");
    zf_rec_timer_put(b, 6000, "t", s_id(rk), "delay");
    s_commit(f->store, &b);
    free(enc);

    b = zf_batch_new();
    zf_rec_wf_del(f->store, b, "t", wf);
    s_commit(f->store, &b);
    assert_null(zf_rec_wf_get(f->store, "t", s_id(wf)));
    assert_null(zf_rec_wf_by_name(f->store, "t", "doomed"));
    assert_null(zf_rec_run_get(f->store, "t", s_id(r1)));
    assert_null(zf_rec_run_get(f->store, "t", s_id(r2)));
    assert_null(zf_rec_state_get(f->store, "t", s_id(r1)));
    json_t *logs = zf_rec_logs_get(f->store, "t", s_id(r1));
    assert_int_equal(json_array_size(logs), 0);
    json_decref(logs);
    logs = zf_rec_logs_get(f->store, "t", s_id(r2));
    assert_int_equal(json_array_size(logs), 0);
    json_decref(logs);
    size_t total = 99;
    json_t *runs = zf_rec_runs_list(f->store, "t", s_id(wf), NULL, 0, 10, &total);
    assert_int_equal(total, 0);
    json_decref(runs);
    s_active_t act = {0};
    zf_rec_active_each(f->store, s_active_collect, &act);
    assert_int_equal(act.n, 1);  // only the kept run is still active
    assert_string_equal(act.run_id[0], s_id(rk));
    s_timers_t tm = {0};
    assert_int_equal(zf_rec_timers_due(f->store, 10000, 10, s_timer_collect, &tm, NULL), 1);
    assert_string_equal(tm.run_id[0], s_id(rk));  // r1's timer went with it
    //  Only the kept run is still active and still has its timer.
    json_t *got = zf_rec_run_get(f->store, "t", s_id(rk));
    assert_non_null(got);
    json_decref(got);
    json_decref(wf), json_decref(keep), json_decref(r1), json_decref(r2), json_decref(rk);
    json_decref(st);
}

/* ---- runs ------------------------------------------------------------------- */

static void
test_runs_list_filter_page_total(void **state)
{
    fixture_t *f = *state;
    json_t *wf = s_wf("w");
    const char *statuses[] = {"running", "completed", "running", "failed", "running", "running"};
    json_t *runs[6];
    zf_batch_t *b = zf_batch_new();
    for (int i = 0; i < 6; i++) {
        runs[i] = s_run(s_id(wf), statuses[i]);
        zf_rec_run_put(b, "t", runs[i]);
    }
    json_t *foreign = s_run(s_id(wf), "running");  // same wf id, other tenant
    zf_rec_run_put(b, "u", foreign);
    s_commit(f->store, &b);

    size_t total = 0;
    json_t *all = zf_rec_runs_list(f->store, "t", s_id(wf), NULL, 0, 100, &total);
    assert_int_equal(total, 6);
    assert_int_equal(json_array_size(all), 6);
    assert_true(json_equal(json_array_get(all, 0), runs[5]));  // newest first, full record
    json_decref(all);

    json_t *page = zf_rec_runs_list(f->store, "t", s_id(wf), "running", 1, 2, &total);
    assert_int_equal(total, 4);  // running: runs 0, 2, 4, 5
    assert_int_equal(json_array_size(page), 2);
    assert_string_equal(s_id(json_array_get(page, 0)), s_id(runs[4]));
    assert_string_equal(s_id(json_array_get(page, 1)), s_id(runs[2]));
    json_decref(page);

    page = zf_rec_runs_list(f->store, "t", s_id(wf), "running", 3, SIZE_MAX, &total);
    assert_int_equal(json_array_size(page), 1);
    assert_string_equal(s_id(json_array_get(page, 0)), s_id(runs[0]));
    json_decref(page);
    page = zf_rec_runs_list(f->store, "t", s_id(wf), "cancelled", 0, 10, &total);
    assert_int_equal(total, 0);
    assert_int_equal(json_array_size(page), 0);
    json_decref(page);

    //  A status change moves the run between filters.
    json_object_set_new(runs[1], "status", json_string("running"));
    b = zf_batch_new();
    zf_rec_run_put(b, "t", runs[1]);
    s_commit(f->store, &b);
    page = zf_rec_runs_list(f->store, "t", s_id(wf), "completed", 0, 10, &total);
    assert_int_equal(total, 0);
    json_decref(page);
    for (int i = 0; i < 6; i++)
        json_decref(runs[i]);
    json_decref(foreign);
    json_decref(wf);
}

static void
test_active_follows_status(void **state)
{
    fixture_t *f = *state;
    json_t *r1 = s_run("wf", "running"), *r2 = s_run("wf", "waiting");
    json_t *r3 = s_run("wf", "completed");
    zf_batch_t *b = zf_batch_new();
    zf_rec_run_put(b, "t1", r1);
    zf_rec_run_put(b, "t2", r2);
    zf_rec_run_put(b, "t1", r3);
    s_commit(f->store, &b);
    s_active_t act = {0};
    assert_int_equal(zf_rec_active_each(f->store, s_active_collect, &act), 2);
    assert_int_equal(act.n, 2);
    assert_string_equal(act.tenant[0], "t1");
    assert_string_equal(act.run_id[0], s_id(r1));
    assert_string_equal(act.tenant[1], "t2");
    assert_string_equal(act.run_id[1], s_id(r2));

    const char *terminal[] = {"failed", "cancelled"};
    b = zf_batch_new();
    json_object_set_new(r1, "status", json_string(terminal[0]));
    json_object_set_new(r2, "status", json_string(terminal[1]));
    zf_rec_run_put(b, "t1", r1);
    zf_rec_run_put(b, "t2", r2);
    s_commit(f->store, &b);
    act = (s_active_t){0};
    assert_int_equal(zf_rec_active_each(f->store, s_active_collect, &act), 0);
    json_decref(r1), json_decref(r2), json_decref(r3);
}

static void
test_state_and_logs(void **state)
{
    fixture_t *f = *state;
    zf_batch_t *b = zf_batch_new();
    const uint32_t seqs[] = {256, 1, 2, 65536};
    for (int i = 0; i < 4; i++) {
        json_t *e = json_pack("{s:i}", "seq", (json_int_t)seqs[i]);
        size_t len = 0;
        void *enc = zf_codec_encode(e, &len);
        zf_rec_log_put_raw(b, "t", "run", seqs[i], enc, len);
        zf_rec_log_put_raw(b, "t", "run2", seqs[i], enc, len);  // "run" is a prefix of "run2"
        if (i == 0) zf_rec_state_put(b, "t", "run", e);
        free(enc);
        json_decref(e);
    }
    s_commit(f->store, &b);
    json_t *logs = zf_rec_logs_get(f->store, "t", "run");
    assert_int_equal(json_array_size(logs), 4);
    const json_int_t order[] = {1, 2, 256, 65536};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(logs, i), "seq")),
                         order[i]);
    json_decref(logs);
    json_t *st = zf_rec_state_get(f->store, "t", "run");
    assert_int_equal(json_integer_value(json_object_get(st, "seq")), 256);
    json_decref(st);
    assert_null(zf_rec_state_get(f->store, "u", "run"));
}

static int
s_continue_visit(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)key, (void)klen, (void)val, (void)vlen, (void)arg;
    return 0;
}

//  A string output of n bytes of c.
static json_t *
s_blob(size_t n, char c)
{
    char *buf = malloc(n);
    assert_non_null(buf);
    memset(buf, c, n);
    json_t *v = json_stringn(buf, n);
    free(buf);
    return v;
}

//  Bytes of the stored state value itself (outputs stored apart excluded).
static size_t
s_state_bytes(zf_store_t *s, const char *tenant, const char *run_id)
{
    char key[128];
    int n = snprintf(key, sizeof key, "%s%c%s", tenant, '\0', run_id);
    size_t len = 0;
    void *v = zf_store_get(s, ZF_CF_RUN_STATE, key, (size_t)n, &len);
    assert_non_null(v);
    free(v);
    return len;
}

static size_t
s_outputs_apart_stored(zf_store_t *s, const char *tenant, const char *run_id)
{
    char prefix[128];
    int n = snprintf(prefix, sizeof prefix, "%s%c%s%c", tenant, '\0', run_id, '\0');
    return zf_store_scan(s, ZF_CF_RUN_STATE, prefix, (size_t)n, false, s_continue_visit, NULL);
}

//  Replaces stepOutputs[node] of run rid (tenant "t") with v (taken) as
//  the run host does, and commits the state: ops entries staged.
static void
s_replace_output(zf_store_t *s, const char *rid, json_t *st, const char *node, json_t *v,
                 size_t ops)
{
    json_object_set_new(json_object_get(st, "stepOutputs"), node, v);
    zf_rec_state_changed(st, "stepOutputs", node);
    zf_batch_t *b = zf_batch_new();
    zf_rec_state_put(b, "t", rid, st);
    assert_int_equal(zf_batch_count(b), ops);
    s_commit(s, &b);
}

//  A large step output is written once, in its own entry, and left out of
//  every later snapshot of the run; reads see the whole state again. A
//  replaced output is stored anew (inline when small, and the old entry
//  goes); deleting the run
//  deletes its outputs too, and a run whose id extends this one's keeps
//  its own.
static void
test_large_outputs_stored_apart_once(void **state)
{
    fixture_t *f = *state;
    json_t *wf = s_wf("outs");
    json_t *run = s_run(s_id(wf), "running"), *other = s_run(s_id(wf), "running");
    const char *rid = s_id(run);
    char rid2[64];
    snprintf(rid2, sizeof rid2, "%s2", rid);  // rid is a prefix of rid2
    json_t *big = s_blob(ZF_REC_APART_BYTES, 'b');
    json_t *st = json_pack("{s:{}, s:{s:{s:i}, s:O}}", "variables", "stepOutputs", "small", "a", 1,
                           "big", big);
    json_t *st2 = json_deep_copy(st);

    zf_batch_t *b = zf_batch_new();
    zf_rec_run_put(b, "t", run);
    size_t before = zf_batch_count(b);
    zf_rec_state_put(b, "t", rid, st);
    assert_int_equal(zf_batch_count(b) - before, 2);  // the big output + the state
    zf_rec_state_put(b, "t", rid2, st2);
    s_commit(f->store, &b);
    json_t *apart = json_object_get(st, "outputsApart");
    assert_true(json_is_object(apart) && json_object_size(apart) == 1);
    assert_true(json_integer_value(json_object_get(apart, "big")) >= ZF_REC_APART_BYTES);
    assert_true(s_state_bytes(f->store, "t", rid) < 200);
    assert_int_equal(s_outputs_apart_stored(f->store, "t", rid), 1);

    json_t *got = zf_rec_state_get(f->store, "t", rid);
    assert_true(
        json_equal(json_object_get(got, "stepOutputs"), json_object_get(st, "stepOutputs")));
    json_decref(got);

    //  The next step's snapshot does not write the big output again.
    json_object_set_new(json_object_get(st, "stepOutputs"), "next", json_integer(7));
    b = zf_batch_new();
    zf_rec_snapshot_put(b, &(zf_rec_snapshot_t){.tenant = "t",
                                                .run_id = rid,
                                                .wf_id = s_id(wf),
                                                .status = "running",
                                                .prev_status = "running",
                                                .state = st});
    assert_int_equal(zf_batch_count(b), 1);
    assert_true(zf_batch_bytes(b) < 200);
    s_commit(f->store, &b);
    got = zf_rec_state_get(f->store, "t", rid);
    assert_true(
        json_equal(json_object_get(got, "stepOutputs"), json_object_get(st, "stepOutputs")));
    json_decref(got);

    //  Replaced by a small value: stored inline, the old entry no longer read.
    s_replace_output(f->store, rid, st, "big", json_string("now small"),
                     2);  // + the old's deletion
    assert_int_equal(s_outputs_apart_stored(f->store, "t", rid), 0);
    got = zf_rec_state_get(f->store, "t", rid);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(got, "stepOutputs"), "big")),
        "now small");
    assert_null(json_object_get(json_object_get(got, "outputsApart"), "big"));
    json_decref(got);

    //  Replaced by another large value: stored apart again, the new one read.
    s_replace_output(f->store, rid, st, "big", s_blob(3 * ZF_REC_APART_BYTES, 'c'), 2);
    got = zf_rec_state_get(f->store, "t", rid);
    const json_t *g = json_object_get(json_object_get(got, "stepOutputs"), "big");
    assert_int_equal(json_string_length(g), 3 * ZF_REC_APART_BYTES);
    assert_int_equal(json_string_value(g)[0], 'c');
    json_decref(got);

    //  Just under the threshold stays inline.
    json_t *st3 =
        json_pack("{s:{s:o}}", "stepOutputs", "edge", s_blob(ZF_REC_APART_BYTES - 8, 'e'));
    b = zf_batch_new();
    zf_rec_state_put(b, "t", s_id(other), st3);
    assert_int_equal(zf_batch_count(b), 1);
    assert_null(json_object_get(st3, "outputsApart"));
    s_commit(f->store, &b);

    //  A lost entry reads as null (reported), never as a crash.
    char key[128];
    int kl = snprintf(key, sizeof key, "t%c%s2%cbig", '\0', rid, '\0');
    b = zf_batch_new();
    zf_batch_del(b, ZF_CF_RUN_STATE, key, (size_t)kl);
    s_commit(f->store, &b);
    got = zf_rec_state_get(f->store, "t", rid2);
    assert_true(json_is_null(json_object_get(json_object_get(got, "stepOutputs"), "big")));
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(got, "stepOutputs"), "small"), "a")),
                     1);
    json_decref(got);

    //  Deleting the run deletes its outputs; the run with the longer id keeps its own.
    b = zf_batch_new();
    zf_rec_state_changed(st2, "stepOutputs", "big");  // else st2 says it is stored already
    zf_rec_state_put(b, "t", rid2, st2);              // restores rid2's entry
    s_commit(f->store, &b);
    b = zf_batch_new();
    zf_rec_run_del(f->store, b, "t", s_id(wf), rid);
    s_commit(f->store, &b);
    assert_null(zf_rec_state_get(f->store, "t", rid));
    assert_int_equal(s_outputs_apart_stored(f->store, "t", rid), 0);
    assert_int_equal(s_outputs_apart_stored(f->store, "t", rid2), 1);
    got = zf_rec_state_get(f->store, "t", rid2);
    assert_true(json_equal(json_object_get(json_object_get(got, "stepOutputs"), "big"), big));
    json_decref(got);
    json_decref(st), json_decref(st2), json_decref(st3), json_decref(big);
    json_decref(wf), json_decref(run), json_decref(other);
}

//  Large variables are stored apart the same way, under their own names
//  ("$" + name): a variable and a step output of the same name are two
//  entries, each read back as itself; the view drops the bookkeeping.
static void
test_large_variables_stored_apart_once(void **state)
{
    fixture_t *f = *state;
    json_t *out = s_blob(ZF_REC_APART_BYTES * 2, 'o'), *var = s_blob(ZF_REC_APART_BYTES * 3, 'v');
    json_t *st = json_pack("{s:{s:O, s:i}, s:{s:O}}", "variables", "x", var, "n", 1, "stepOutputs",
                           "x", out);
    zf_batch_t *b = zf_batch_new();
    zf_rec_state_put(b, "t", "r", st);
    assert_int_equal(zf_batch_count(b), 3);  // output x, variable x, the state
    s_commit(f->store, &b);
    assert_true(s_state_bytes(f->store, "t", "r") < 200);
    assert_int_equal(s_outputs_apart_stored(f->store, "t", "r"), 2);
    assert_non_null(json_object_get(json_object_get(st, "variablesApart"), "x"));

    json_t *got = zf_rec_state_get(f->store, "t", "r");
    assert_true(json_equal(json_object_get(json_object_get(got, "variables"), "x"), var));
    assert_true(json_equal(json_object_get(json_object_get(got, "stepOutputs"), "x"), out));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(got, "variables"), "n")),
                     1);
    zf_rec_state_view(got);
    assert_null(json_object_get(got, "variablesApart"));
    assert_null(json_object_get(got, "outputsApart"));
    json_decref(got);

    //  Unchanged: not written again. Replaced (small): inline, read as such.
    b = zf_batch_new();
    zf_rec_state_put(b, "t", "r", st);
    assert_int_equal(zf_batch_count(b), 1);
    zf_batch_destroy(&b);
    json_object_set_new(json_object_get(st, "variables"), "x", json_integer(5));
    zf_rec_state_changed(st, "variables", "x");
    b = zf_batch_new();
    zf_rec_state_put(b, "t", "r", st);
    assert_int_equal(zf_batch_count(b), 2);  // the state + the old entry's deletion
    s_commit(f->store, &b);
    assert_int_equal(s_outputs_apart_stored(f->store, "t", "r"), 1);  // output x only
    got = zf_rec_state_get(f->store, "t", "r");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(got, "variables"), "x")),
                     5);
    assert_true(json_equal(json_object_get(json_object_get(got, "stepOutputs"), "x"), out));
    json_decref(got);
    json_decref(st), json_decref(out), json_decref(var);
}

//  Entries of a tenant in the indexes CF.
static size_t
s_index_entries(zf_store_t *s, const char *tenant)
{
    return zf_store_scan(s, ZF_CF_INDEXES, tenant, strlen(tenant) + 1, false, s_continue_visit,
                         NULL);
}

//  An idempotency key lives as long as the record it created: deleting
//  the record removes the key and its reverse entry, and a key taken
//  again by a later record is left to that record.
static void
test_created_keys_go_with_their_record(void **state)
{
    fixture_t *f = *state;
    zf_batch_t *b = zf_batch_new();
    zf_rec_created_put(b, "t", "leads", "k1", "rec-a");
    zf_rec_created_put(b, "t", "leads", "k2", "rec-b");
    s_commit(f->store, &b);
    char *id = zf_rec_created_get(f->store, "t", "leads", "k1");
    assert_string_equal(id, "rec-a");
    free(id);
    assert_int_equal(s_index_entries(f->store, "t"), 4);

    b = zf_batch_new();
    zf_rec_created_del(f->store, b, "t", "leads", "rec-a");
    zf_rec_created_del(f->store, b, "t", "leads", "rec-none");  // no key: nothing staged
    s_commit(f->store, &b);
    assert_null(zf_rec_created_get(f->store, "t", "leads", "k1"));
    id = zf_rec_created_get(f->store, "t", "leads", "k2");
    assert_string_equal(id, "rec-b");
    free(id);
    assert_int_equal(s_index_entries(f->store, "t"), 2);

    //  k2 taken again by rec-c (rec-b gone by another way): deleting rec-b
    //  later leaves rec-c's key alone.
    b = zf_batch_new();
    zf_rec_created_put(b, "t", "leads", "k2", "rec-c");
    s_commit(f->store, &b);
    b = zf_batch_new();
    zf_rec_created_del(f->store, b, "t", "leads", "rec-b");
    s_commit(f->store, &b);
    id = zf_rec_created_get(f->store, "t", "leads", "k2");
    assert_string_equal(id, "rec-c");
    free(id);
    assert_int_equal(s_index_entries(f->store, "t"), 2);
}

/* ---- timers ----------------------------------------------------------------- */

static void
test_timers_due_order_and_next(void **state)
{
    fixture_t *f = *state;
    zf_batch_t *b = zf_batch_new();
    zf_rec_timer_put(b, 3000, "t", "r3", "retry");
    zf_rec_timer_put(b, 1000, "t", "r1", "delay");
    zf_rec_timer_put(b, 256, "u", "r0", "delay");  // 256 vs 1000: byte order must be numeric
    zf_rec_timer_put(b, 2000, "t", "r2", "breaker");
    zf_rec_timer_put(b, 5000000000000LL, "t", "far", "delay");
    s_commit(f->store, &b);

    s_timers_t tm = {0};
    int64_t next = 0;
    assert_int_equal(zf_rec_timers_due(f->store, 2000, 10, s_timer_collect, &tm, &next), 3);
    assert_int_equal(tm.due[0], 256);
    assert_string_equal(tm.tenant[0], "u");
    assert_int_equal(tm.due[1], 1000);
    assert_string_equal(tm.run_id[1], "r1");
    assert_int_equal(tm.due[2], 2000);
    assert_string_equal(tm.kind[2], "breaker");
    assert_int_equal(next, 3000);

    tm = (s_timers_t){0};  // max limits the batch; next is the first not returned
    assert_int_equal(zf_rec_timers_due(f->store, 2000, 1, s_timer_collect, &tm, &next), 1);
    assert_int_equal(next, 1000);

    b = zf_batch_new();
    zf_rec_timer_del(b, 256, "u", "r0");
    zf_rec_timer_del(b, 1000, "t", "r1");
    zf_rec_timer_del(b, 2000, "t", "r2");
    zf_rec_timer_del(b, 3000, "t", "r3");
    s_commit(f->store, &b);
    tm = (s_timers_t){0};
    assert_int_equal(zf_rec_timers_due(f->store, 4000, 10, s_timer_collect, &tm, &next), 0);
    assert_int_equal(next, 5000000000000LL);
    b = zf_batch_new();
    zf_rec_timer_del(b, 5000000000000LL, "t", "far");
    s_commit(f->store, &b);
    assert_int_equal(zf_rec_timers_due(f->store, 4000, 10, s_timer_collect, &tm, &next), 0);
    assert_int_equal(next, INT64_MAX);
}

/* ---- keys and meta ---------------------------------------------------------- */

static void
test_keys_put_get_list_find(void **state)
{
    fixture_t *f = *state;
    unsigned char h1[32], h2[32], h3[32], out[32];
    memset(h1, 0x11, 32), memset(h2, 0x22, 32), memset(h3, 0xab, 32);
    json_t *k1 = json_pack("{s:s,s:s,s:s,s:i,s:b}", "id", "key1", "tenant", "acme", "role", "owner",
                           "created_at", 1, "revoked", 0);
    json_t *k2 = json_pack("{s:s,s:s,s:s,s:i,s:b}", "id", "key2", "tenant", "beta", "role", "admin",
                           "created_at", 2, "revoked", 0);
    json_t *k3 = json_pack("{s:s,s:s,s:s,s:i,s:b}", "id", "key3", "tenant", "acme", "role",
                           "viewer", "created_at", 3, "revoked", 1);
    zf_batch_t *b = zf_batch_new();
    zf_rec_key_put(b, h1, k1);
    zf_rec_key_put(b, h2, k2);
    zf_rec_key_put(b, h3, k3);
    s_commit(f->store, &b);

    json_t *got = zf_rec_key_get(f->store, h2);
    assert_true(json_equal(got, k2));
    json_decref(got);
    json_t *list = zf_rec_key_list(f->store, NULL);
    assert_int_equal(json_array_size(list), 3);
    json_decref(list);
    list = zf_rec_key_list(f->store, "acme");
    assert_int_equal(json_array_size(list), 2);
    json_t *last = json_array_get(list, 1);
    assert_string_equal(json_string_value(json_object_get(last, "id")), "key3");
    char hex[65];
    memset(hex, 'a', 64), hex[64] = '\0';
    for (int i = 0; i < 64; i += 2)
        hex[i + 1] = 'b';
    assert_string_equal(json_string_value(json_object_get(last, "hash")), hex);
    json_decref(list);

    got = zf_rec_key_find(f->store, "key3", out);
    assert_true(json_equal(got, k3));
    assert_memory_equal(out, h3, 32);
    json_decref(got);
    assert_null(zf_rec_key_find(f->store, "nope", out));
    json_decref(k1), json_decref(k2), json_decref(k3);
}

static void
test_corrupt_values_are_absent(void **state)
{
    fixture_t *f = *state;
    json_t *wf = s_wf("good");
    zf_batch_t *b = zf_batch_new();
    zf_rec_wf_put(b, "t", wf, NULL);
    //  Raw garbage where typed records live.
    zf_batch_put(b, ZF_CF_WORKFLOWS, "t\0bad", 5, "\xc1\xff\x00", 3);
    zf_batch_put(b, ZF_CF_WORKFLOWS, "t\0zzz", 5, "\xdd\xff\xff\xff\xff", 5);  // huge array
    zf_batch_put(b, ZF_CF_RUNS, "t\0r", 3, "\x93\x01", 2);                     // truncated
    zf_batch_put(b, ZF_CF_RUN_STATE, "t\0r", 3, "\x01", 1);                    // not a map
    zf_batch_put(b, ZF_CF_WF_NAMES, "t\0n", 3, "\x81", 1);
    zf_batch_put(b, ZF_CF_META, "m", 1, "", 0);
    zf_batch_put(b, ZF_CF_TIMERS, "\0\0\0\0\0\0\0\1t\0r", 11, "\xc1", 1);
    zf_batch_put(b, ZF_CF_TIMERS, "\x01", 1, "\x80", 1);  // short key
    unsigned char h[32] = {0};
    zf_batch_put(b, ZF_CF_KEYS, h, 32, "garbage", 7);
    s_commit(f->store, &b);

    assert_null(zf_rec_wf_get(f->store, "t", "bad"));
    assert_null(zf_rec_wf_get(f->store, "t", "zzz"));
    json_t *list = zf_rec_wf_list(f->store, "t");
    assert_int_equal(json_array_size(list), 1);  // the good one survives the scan
    json_decref(list);
    assert_null(zf_rec_run_get(f->store, "t", "r"));
    assert_null(zf_rec_state_get(f->store, "t", "r"));
    assert_null(zf_rec_wf_by_name(f->store, "t", "n"));
    assert_null(zf_rec_meta_get(f->store, "m"));
    assert_null(zf_rec_key_get(f->store, h));
    list = zf_rec_key_list(f->store, NULL);
    assert_int_equal(json_array_size(list), 0);
    json_decref(list);
    s_timers_t tm = {0};
    assert_int_equal(zf_rec_timers_due(f->store, 100, 10, s_timer_collect, &tm, NULL), 0);
    json_decref(wf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_close_reopen, s_setup, s_teardown),
        cmocka_unit_test(test_open_failure_reports),
        cmocka_unit_test_setup_teardown(test_format_stamp, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batch_put_get_del, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batch_append_and_order, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batch_is_atomic_across_cfs, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_scan_prefix_tenant_isolation, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_scan_prefix_with_ff_bytes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wf_put_get_list_rename, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_wf_delete_cascades, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_runs_list_filter_page_total, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_active_follows_status, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_state_and_logs, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_large_outputs_stored_apart_once, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_large_variables_stored_apart_once, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_created_keys_go_with_their_record, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_timers_due_order_and_next, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_keys_put_get_list_find, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_values_are_absent, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
