/*  storage/store.c — the RocksDB database, raw reads, batches and commits.

    This is the only file that includes rocksdb/c.h. Everything above it
    (typed records, the group-commit writer) speaks zf_batch_t and the raw
    get/scan functions, so the engine never sees a RocksDB object.

    A zf_batch_t is a plain growable buffer of ops, not a rocksdb_writebatch_t:
    producers in any thread can stage writes without touching the database,
    batches can be appended and handed over as pointers, and the writer turns
    any number of them into one WriteBatch per commit.
*/
#include "storage/store.h"
#include "broker/codec.h"
#include "broker/errors.h"

#include <rocksdb/c.h>

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ZF_STORE_CACHE_BYTES (32u * 1024u * 1024u)  // block cache shared by all CFs

//  Column family names, indexed by zf_cf_t. "default" is META.
static const char *const s_cf_names[ZF_CF_COUNT] = {
    "default", "workflows", "wf_names", "runs",      "run_state", "run_logs", "run_index",
    "active",  "timers",    "keys",     "schedules", "records",   "indexes",  "idem"};

struct zf_store_t {
    rocksdb_t *db;                               // the database
    rocksdb_options_t *opts;                     // db and CF options (shared)
    rocksdb_block_based_table_options_t *table;  // table options holding the cache
    rocksdb_cache_t *cache;                      // LRU block cache
    rocksdb_writeoptions_t *wopts;               // sync = durability setting
    rocksdb_readoptions_t *ropts;                // default read options for get
    rocksdb_column_family_handle_t **handles;    // all open CFs; ours first
    size_t nhandles;                             // ZF_CF_COUNT + unknown existing CFs
};

typedef struct {
    size_t off;   // offset of the key in data; the value follows the key
    size_t klen;  // key length
    size_t vlen;  // value length (0 for deletes)
    zf_cf_t cf;   // column family
    bool del;     // delete (true) or put
} s_op_t;

struct zf_batch_t {
    s_op_t *ops;          // staged ops in order
    size_t nops;          // ops used
    size_t ops_cap;       // ops allocated
    unsigned char *data;  // keys and values, back to back
    size_t len;           // bytes used in data
    size_t cap;           // bytes allocated in data
};

/* ---- store ---------------------------------------------------------------- */

const char *
zf_store_cf_name(zf_cf_t cf)
{
    return cf < ZF_CF_COUNT ? s_cf_names[cf] : "unknown";
}

static char *
s_strdup(const char *s)
{
    char *copy = strdup(s ? s : "unknown error");
    if (!copy) abort();
    return copy;
}

//  Sets *err from a RocksDB error string (which it frees).
static void
s_take_error(char **err, char *rerr, const char *what)
{
    if (err) {
        size_t n = strlen(what) + strlen(rerr) + 3;
        *err = malloc(n);
        if (!*err) abort();
        snprintf(*err, n, "%s: %s", what, rerr);
    }
    rocksdb_free(rerr);
}

static void
s_options_init(zf_store_t *self, bool sync)
{
    self->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(self->opts, 1);
    rocksdb_options_set_create_missing_column_families(self->opts, 1);
    rocksdb_options_increase_parallelism(self->opts, 2);
    self->cache = rocksdb_cache_create_lru(ZF_STORE_CACHE_BYTES);
    self->table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(self->table, self->cache);
    rocksdb_options_set_block_based_table_factory(self->opts, self->table);
    self->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(self->wopts, sync ? 1 : 0);
    self->ropts = rocksdb_readoptions_create();
}

//  The CF names to open: ours, plus any other CF already in the database
//  (RocksDB refuses to open a database without naming all of its CFs, so a
//  database touched by a newer version still opens).
static char **
s_cf_list(zf_store_t *self, const char *path, size_t *n)
{
    size_t nexist = 0;
    char *rerr = NULL;
    char **exist = rocksdb_list_column_families(self->opts, path, &nexist, &rerr);
    if (rerr) {  // no database yet; the (empty) list is still allocated
        rocksdb_free(rerr);
        if (exist) rocksdb_list_column_families_destroy(exist, nexist);
        exist = NULL;
        nexist = 0;
    }
    char **names = calloc(ZF_CF_COUNT + nexist, sizeof(char *));
    if (!names) abort();
    size_t count = 0;
    for (size_t i = 0; i < ZF_CF_COUNT; i++)
        names[count++] = s_strdup(s_cf_names[i]);
    for (size_t i = 0; i < nexist; i++) {
        bool ours = false;
        for (size_t j = 0; j < ZF_CF_COUNT; j++)
            ours = ours || strcmp(exist[i], s_cf_names[j]) == 0;
        if (!ours) names[count++] = s_strdup(exist[i]);
    }
    if (exist) rocksdb_list_column_families_destroy(exist, nexist);
    *n = count;
    return names;
}

//  The data directory's format (meta "format", a msgpack integer): what a
//  binary must understand to read it. A directory without the stamp was
//  written before it existed (formats 1 and 2 both read as 2). A newer
//  format than ours is refused before anything is read or written: an
//  older binary would otherwise misread what it does not know (format 2
//  stores large values apart; format 1 readers would see them as null).
static const char s_format_key[] = "format";

static int
s_format_check(zf_store_t *self, char **err)
{
    size_t len = 0;
    unsigned char *v = zf_store_get(self, ZF_CF_META, s_format_key, sizeof s_format_key - 1, &len);
    long found = -1;
    bool stamped = v != NULL;
    if (stamped && len == 1 && v[0] <= 0x7f) found = v[0];  // positive fixint
    free(v);
    char msg[200] = "";
    if (stamped && found < 0)
        snprintf(msg, sizeof msg, "data directory format stamp is corrupt (meta \"format\")");
    else if (found > ZF_STORE_FORMAT)
        snprintf(msg, sizeof msg,
                 "data directory format %ld is newer than this zflow reads (%d): "
                 "run the zflow that wrote it, or a newer one",
                 found, ZF_STORE_FORMAT);
    if (msg[0]) {
        if (err) *err = s_strdup(msg);
        return -1;
    }
    if (found == ZF_STORE_FORMAT) return 0;
    unsigned char stamp = ZF_STORE_FORMAT;
    zf_batch_t *b = zf_batch_new();
    zf_batch_put(b, ZF_CF_META, s_format_key, sizeof s_format_key - 1, &stamp, 1);
    int rc = zf_store_write(self, b);
    zf_batch_destroy(&b);
    if (rc && err) *err = s_strdup("cannot write the data directory format stamp");
    return rc ? -1 : 0;
}

//  Opens the database with every column family; reopening lists the
//  existing families first so nothing is missing.
zf_store_t *
zf_store_open(const char *dir, bool sync, char **err)
{
    assert(dir);
    if (err) *err = NULL;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        if (err) *err = s_strdup(strerror(errno));
        return NULL;
    }
    zf_store_t *self = calloc(1, sizeof(*self));
    if (!self) abort();
    s_options_init(self, sync);
    size_t plen = strlen(dir) + 4;
    char *path = malloc(plen);
    if (!path) abort();
    snprintf(path, plen, "%s/db", dir);

    size_t n = 0;
    char **names = s_cf_list(self, path, &n);
    const rocksdb_options_t **cfopts = calloc(n, sizeof(*cfopts));
    self->handles = calloc(n, sizeof(*self->handles));
    if (!cfopts || !self->handles) abort();
    for (size_t i = 0; i < n; i++)
        cfopts[i] = self->opts;
    char *rerr = NULL;
    self->db = rocksdb_open_column_families(self->opts, path, (int)n, (const char *const *)names,
                                            cfopts, self->handles, &rerr);
    if (rerr) {
        s_take_error(err, rerr, "rocksdb open");
        self->db = NULL;
    } else
        self->nhandles = n;
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(cfopts);
    free(path);
    if (self->db && s_format_check(self, err) != 0) zf_store_destroy(&self);
    if (self && !self->db) zf_store_destroy(&self);
    return self;
}

void
zf_store_destroy(zf_store_t **self_p)
{
    if (!self_p || !*self_p) return;
    zf_store_t *self = *self_p;
    for (size_t i = 0; i < self->nhandles; i++)
        rocksdb_column_family_handle_destroy(self->handles[i]);
    free(self->handles);
    if (self->db) rocksdb_close(self->db);
    rocksdb_readoptions_destroy(self->ropts);
    rocksdb_writeoptions_destroy(self->wopts);
    rocksdb_options_destroy(self->opts);
    rocksdb_block_based_options_destroy(self->table);
    rocksdb_cache_destroy(self->cache);
    free(self);
    *self_p = NULL;
}

//  One op of a group commit, for sorting: its batch's bytes and its order.
typedef struct {
    const s_op_t *op;           // the op
    const unsigned char *data;  // its batch's data
    size_t seq;                 // position in the commit: keeps equal keys in order
} s_ref_t;

static int
s_ref_cmp(const void *a, const void *b)
{
    const s_ref_t *x = a, *y = b;
    if (x->op->cf != y->op->cf) return x->op->cf < y->op->cf ? -1 : 1;
    size_t n = x->op->klen < y->op->klen ? x->op->klen : y->op->klen;
    int c = memcmp(x->data + x->op->off, y->data + y->op->off, n);
    if (c) return c;
    if (x->op->klen != y->op->klen) return x->op->klen < y->op->klen ? -1 : 1;
    return x->seq < y->seq ? -1 : 1;
}

//  All ops of all batches go into one WriteBatch so they commit (and fsync)
//  together or not at all. They are inserted sorted by (column family,
//  key), in commit order for equal keys: RocksDB's memtable skip list then
//  reuses its insert position from one key to the next instead of searching
//  from the top each time, which was a quarter of the writer's CPU.
int
zf_store_write_many(zf_store_t *self, zf_batch_t *const *batches, size_t n)
{
    assert(self);
    if (n == 0) return 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += batches[i]->nops;
    s_ref_t *refs = malloc((total ? total : 1) * sizeof *refs);
    if (!refs) abort();
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < batches[i]->nops; j++, k++)
            refs[k] = (s_ref_t){.op = &batches[i]->ops[j], .data = batches[i]->data, .seq = k};
    }
    qsort(refs, total, sizeof *refs, s_ref_cmp);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    for (k = 0; k < total; k++) {
        const s_op_t *op = refs[k].op;
        const char *key = (const char *)refs[k].data + op->off;
        rocksdb_column_family_handle_t *cf = self->handles[op->cf];
        if (op->del)
            rocksdb_writebatch_delete_cf(wb, cf, key, op->klen);
        else
            rocksdb_writebatch_put_cf(wb, cf, key, op->klen, key + op->klen, op->vlen);
    }
    free(refs);
    char *rerr = NULL;
    rocksdb_write(self->db, self->wopts, wb, &rerr);
    rocksdb_writebatch_destroy(wb);
    if (rerr) {
        fprintf(stderr, "zf_store: write failed: %s\n", rerr);
        rocksdb_free(rerr);
        return ZF_EIO;
    }
    return 0;
}

int
zf_store_write(zf_store_t *self, zf_batch_t *batch)
{
    assert(batch);
    return zf_store_write_many(self, &batch, 1);
}

void *
zf_store_get(zf_store_t *self, zf_cf_t cf, const void *key, size_t klen, size_t *len)
{
    assert(self && cf < ZF_CF_COUNT && len);
    char *rerr = NULL;
    size_t vlen = 0;
    char *val = rocksdb_get_cf(self->db, self->ropts, self->handles[cf], key, klen, &vlen, &rerr);
    if (rerr) {
        fprintf(stderr, "zf_store: get failed: %s\n", rerr);
        rocksdb_free(rerr);
        return NULL;
    }
    if (!val) return NULL;
    //  RocksDB allocates with malloc; copy anyway so the caller's free() is
    //  correct whatever allocator RocksDB was built with.
    void *copy = malloc(vlen ? vlen : 1);
    if (!copy) abort();
    memcpy(copy, val, vlen);
    rocksdb_free(val);
    *len = vlen;
    return copy;
}

//  The smallest key greater than every key starting with prefix: drop
//  trailing 0xFF bytes and increment the last byte. NULL when there is none
//  (empty prefix or all 0xFF), meaning "to the end of the column family".
static unsigned char *
s_successor(const void *prefix, size_t plen, size_t *slen)
{
    const unsigned char *p = prefix;
    size_t n = plen;
    while (n > 0 && p[n - 1] == 0xFF)
        n--;
    if (n == 0) return NULL;
    unsigned char *succ = malloc(n);
    if (!succ) abort();
    memcpy(succ, p, n);
    succ[n - 1]++;
    *slen = n;
    return succ;
}

static void
s_position(rocksdb_iterator_t *it, const void *prefix, size_t plen, const unsigned char *succ,
           size_t slen, bool reverse)
{
    if (!reverse && plen == 0)
        rocksdb_iter_seek_to_first(it);
    else if (!reverse)
        rocksdb_iter_seek(it, prefix, plen);
    else if (succ)
        rocksdb_iter_seek_for_prev(it, (const char *)succ, slen);
    else
        rocksdb_iter_seek_to_last(it);
}

//  Forward scans bound the iterator above by the successor, reverse scans
//  bound it below by the prefix; the loop still checks the prefix because
//  seek_for_prev may land exactly on the successor.
size_t
zf_store_scan(zf_store_t *self, zf_cf_t cf, const void *prefix, size_t plen, bool reverse,
              zf_store_scan_fn *fn, void *arg)
{
    assert(self && cf < ZF_CF_COUNT && fn);
    size_t slen = 0;
    unsigned char *succ = s_successor(prefix, plen, &slen);
    rocksdb_readoptions_t *ropts = rocksdb_readoptions_create();
    if (!reverse && succ) rocksdb_readoptions_set_iterate_upper_bound(ropts, (char *)succ, slen);
    if (reverse && plen) rocksdb_readoptions_set_iterate_lower_bound(ropts, prefix, plen);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(self->db, ropts, self->handles[cf]);
    s_position(it, prefix, plen, succ, slen, reverse);
    size_t visited = 0;
    while (rocksdb_iter_valid(it)) {
        size_t klen = 0, vlen = 0;
        const char *key = rocksdb_iter_key(it, &klen);
        if (plen > 0 && (klen < plen || memcmp(key, prefix, plen) != 0)) {
            if (reverse && memcmp(key, prefix, klen < plen ? klen : plen) > 0) {
                rocksdb_iter_prev(it);  // landed on the successor itself
                continue;
            }
            break;
        }
        const char *val = rocksdb_iter_value(it, &vlen);
        visited++;
        if (fn(key, klen, val, vlen, arg) != 0) break;
        if (reverse)
            rocksdb_iter_prev(it);
        else
            rocksdb_iter_next(it);
    }
    char *rerr = NULL;
    rocksdb_iter_get_error(it, &rerr);
    if (rerr) {
        fprintf(stderr, "zf_store: scan failed: %s\n", rerr);
        rocksdb_free(rerr);
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ropts);
    free(succ);
    return visited;
}

/* ---- batch ---------------------------------------------------------------- */

zf_batch_t *
zf_batch_new(void)
{
    zf_batch_t *self = calloc(1, sizeof(*self));
    if (!self) abort();
    return self;
}

void
zf_batch_destroy(zf_batch_t **self_p)
{
    if (!self_p || !*self_p) return;
    zf_batch_t *self = *self_p;
    free(self->ops);
    free(self->data);
    free(self);
    *self_p = NULL;
}

//  Makes room for one more op and `bytes` more data (amortised doubling).
static void
s_reserve(zf_batch_t *self, size_t nops, size_t bytes)
{
    if (self->nops + nops > self->ops_cap) {
        size_t cap = self->ops_cap ? self->ops_cap * 2 : 16;
        while (cap < self->nops + nops)
            cap *= 2;
        self->ops = realloc(self->ops, cap * sizeof(s_op_t));
        if (!self->ops) abort();
        self->ops_cap = cap;
    }
    if (self->len + bytes > self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 256;
        while (cap < self->len + bytes)
            cap *= 2;
        self->data = realloc(self->data, cap);
        if (!self->data) abort();
        self->cap = cap;
    }
}

static void
s_add(zf_batch_t *self, zf_cf_t cf, bool del, const void *key, size_t klen, const void *val,
      size_t vlen)
{
    assert(self && cf < ZF_CF_COUNT && (key || klen == 0) && (val || vlen == 0));
    s_reserve(self, 1, klen + vlen);
    s_op_t *op = &self->ops[self->nops++];
    *op = (s_op_t){.off = self->len, .klen = klen, .vlen = vlen, .cf = cf, .del = del};
    if (klen) memcpy(self->data + self->len, key, klen);
    if (vlen) memcpy(self->data + self->len + klen, val, vlen);
    self->len += klen + vlen;
}

void
zf_batch_put(zf_batch_t *self, zf_cf_t cf, const void *key, size_t klen, const void *val,
             size_t vlen)
{
    s_add(self, cf, false, key, klen, val, vlen);
}

//  msgpack_packer sink appending to a batch's data.
static int
s_batch_write(void *data, const char *buf, size_t len)
{
    zf_batch_t *self = data;
    s_reserve(self, 0, len);
    memcpy(self->data + self->len, buf, len);
    self->len += len;
    return 0;
}

void
zf_batch_put_packed(zf_batch_t *self, zf_cf_t cf, const void *key, size_t klen,
                    zf_batch_pack_fn *pack, void *arg)
{
    assert(self && cf < ZF_CF_COUNT && key && pack);
    s_reserve(self, 1, klen);
    size_t off = self->len;
    memcpy(self->data + off, key, klen);
    self->len += klen;
    msgpack_packer pk;
    msgpack_packer_init(&pk, self, s_batch_write);
    int rc = pack(&pk, arg);
    assert(rc == 0);
    (void)rc;
    self->ops[self->nops++] =
        (s_op_t){.off = off, .klen = klen, .vlen = self->len - off - klen, .cf = cf};
}

static int
s_pack_json(msgpack_packer *pk, void *arg)
{
    return zf_codec_pack(pk, arg);
}

void
zf_batch_put_json(zf_batch_t *self, zf_cf_t cf, const void *key, size_t klen, const json_t *val)
{
    assert(val);
    zf_batch_put_packed(self, cf, key, klen, s_pack_json, (void *)val);
}

void
zf_batch_del(zf_batch_t *self, zf_cf_t cf, const void *key, size_t klen)
{
    s_add(self, cf, true, key, klen, NULL, 0);
}

void
zf_batch_append(zf_batch_t *self, zf_batch_t **src_p)
{
    assert(self && src_p);
    zf_batch_t *src = *src_p;
    if (!src) return;
    assert(src != self);
    s_reserve(self, src->nops, src->len);
    for (size_t i = 0; i < src->nops; i++) {
        s_op_t op = src->ops[i];
        op.off += self->len;
        self->ops[self->nops++] = op;
    }
    if (src->len) memcpy(self->data + self->len, src->data, src->len);
    self->len += src->len;
    zf_batch_destroy(src_p);
}

size_t
zf_batch_count(const zf_batch_t *self)
{
    return self ? self->nops : 0;
}

size_t
zf_batch_bytes(const zf_batch_t *self)
{
    return self ? self->len : 0;
}

void
zf_batch_each(const zf_batch_t *self, zf_batch_op_fn *fn, void *arg)
{
    assert(self && fn);
    for (size_t i = 0; i < self->nops; i++) {
        const s_op_t *op = &self->ops[i];
        const unsigned char *key = self->data + op->off;
        fn(op->cf, key, op->klen, op->del ? NULL : key + op->klen, op->vlen, arg);
    }
}
