/*  storage/store.h — RocksDB layout, batches and typed records.

    One RocksDB database, one column family per kind (zf_cf_t). Every key
    starts with the tenant ("<tenant>\0..."), so no read path exists without
    one; the exceptions are system indexes read only by the engine itself
    (due timers, which are ordered by time, and the API-key table, which is
    looked up by key hash before any tenant is known). Values are msgpack.

    Reads are direct and thread-safe. Writes are staged into a zf_batch_t
    (plain ops, no RocksDB object) and committed either synchronously with
    zf_store_write() (CLI, tests, start-up) or through the group-commit
    writer (storage/writer.h) at run time. Secondary indexes are always
    staged by the same typed put that stages their record, so they are in
    the same WriteBatch.

    Key layout (\0 separates string parts; BE = big-endian binary):
      workflows   tenant\0wf_id                    -> workflow
      wf_names    tenant\0name                     -> wf_id (uniqueness per tenant)
      runs        tenant\0run_id                   -> run record (no state)
      run_state   tenant\0run_id                   -> state snapshot
                  tenant\0run_id\0node_id          -> a large step output, stored once
                  tenant\0run_id\0$name            -> a large variable, stored once
                                                       (state.outputsApart /
                                                       variablesApart name them)
      run_logs    tenant\0run_id\0seq(u32 BE)      -> log entry
      run_index   tenant\0wf_id\0run_id            -> status (runs of a workflow,
                                                       by time since UUIDv7)
      active      tenant\0run_id                   -> "" (unfinished runs: recovery)
      timers      due_ms(u64 BE)tenant\0run_id     -> {kind}
      keys        sha256(key)(32 bytes)            -> {id, tenant, role, created_at, revoked,
                                                      revoked_at?}
      meta        name                             -> value ("format": ZF_STORE_FORMAT)
      records     tenant\0module\0id                 -> module record (storage/data.c)
                  tenant\0\x01n\0user\0id            -> in-app notification
      schedules   tenant\0sched_id                 -> schedule
      indexes     tenant\0stats\0wf_id             -> {run_count, success_count, ...}
                  tenant\0sec:\0at(u64 BE)id       -> security event (storage/security.c)
      idem        tenant\0scope\0key                -> idempotency record, and its
                  \0 expires(u64 BE)tenant\0scope\0key -> "" expiry index (storage/idem.h)
*/
#ifndef ZF_STORE_H
#define ZF_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    ZF_CF_META = 0,
    ZF_CF_WORKFLOWS,
    ZF_CF_WF_NAMES,
    ZF_CF_RUNS,
    ZF_CF_RUN_STATE,
    ZF_CF_RUN_LOGS,
    ZF_CF_RUN_INDEX,
    ZF_CF_ACTIVE,
    ZF_CF_TIMERS,
    ZF_CF_KEYS,
    ZF_CF_SCHEDULES,
    ZF_CF_RECORDS,
    ZF_CF_INDEXES,
    ZF_CF_IDEM,
    ZF_CF_COUNT
} zf_cf_t;

typedef struct zf_store_t zf_store_t;
typedef struct zf_batch_t zf_batch_t;

/* ---- store ---------------------------------------------------------------- */

//  The data directory format this build reads and writes (meta "format").
//  Raise it with any change an older binary would misread, and add a row
//  to README.md "Data directory format".
#define ZF_STORE_FORMAT 2

//  Opens (creating if needed) the database in dir/db. sync: fsync the WAL on
//  every commit (default durability) or not (relaxed). A directory of a
//  newer format than ZF_STORE_FORMAT is refused; an older one is stamped
//  with ours. On failure returns NULL and, if err != NULL, a malloc'd
//  message in *err.
zf_store_t *zf_store_open(const char *dir, bool sync, char **err);
void zf_store_destroy(zf_store_t **self_p);
//  Column family name ("default" for META) — for logs and tools.
const char *zf_store_cf_name(zf_cf_t cf);

//  Commits a batch atomically (WriteBatch, honouring the sync setting).
//  Does not take the batch. Returns 0 or ZF_EIO.
int zf_store_write(zf_store_t *self, zf_batch_t *batch);
//  Commits several batches as ONE atomic WriteBatch, in order (the group
//  commit of storage/writer.c). Does not take them. n == 0 is a no-op.
//  Returns 0 or ZF_EIO.
int zf_store_write_many(zf_store_t *self, zf_batch_t *const *batches, size_t n);

//  Raw get: returns malloc'd value (caller frees) and *len, or NULL if absent.
void *zf_store_get(zf_store_t *self, zf_cf_t cf, const void *key, size_t klen, size_t *len);

//  Prefix scan in key order (reverse = from the end of the prefix range).
//  The callback returns 0 to continue, non-zero to stop. Pointers are valid
//  only during the callback. Returns the number of entries visited.
typedef int(zf_store_scan_fn)(const void *key, size_t klen, const void *val, size_t vlen,
                              void *arg);
size_t zf_store_scan(zf_store_t *self, zf_cf_t cf, const void *prefix, size_t plen, bool reverse,
                     zf_store_scan_fn *fn, void *arg);

/* ---- batch (ops staged for one atomic commit) ------------------------------ */

zf_batch_t *zf_batch_new(void);
void zf_batch_destroy(zf_batch_t **self_p);
void zf_batch_put(zf_batch_t *self, zf_cf_t cf, const void *key, size_t klen, const void *val,
                  size_t vlen);
//  Put whose value is v encoded as msgpack straight into the batch (one
//  pass, no intermediate buffer).
void zf_batch_put_json(zf_batch_t *self, zf_cf_t cf, const void *key, size_t klen, const json_t *v);
//  Put whose value pack(pk, arg) writes as msgpack straight into the batch
//  (pack returns 0; the value is whatever it packed).
struct msgpack_packer;
typedef int(zf_batch_pack_fn)(struct msgpack_packer *pk, void *arg);
void zf_batch_put_packed(zf_batch_t *self, zf_cf_t cf, const void *key, size_t klen,
                         zf_batch_pack_fn *pack, void *arg);
void zf_batch_del(zf_batch_t *self, zf_cf_t cf, const void *key, size_t klen);
//  Moves all ops of *src to the end of self; destroys *src.
void zf_batch_append(zf_batch_t *self, zf_batch_t **src_p);
size_t zf_batch_count(const zf_batch_t *self);
//  Bytes of keys and values staged (the writer caps one commit by it).
size_t zf_batch_bytes(const zf_batch_t *self);
//  Iterates ops in order (used by the writer). del ops have val NULL.
typedef void(zf_batch_op_fn)(zf_cf_t cf, const void *key, size_t klen, const void *val, size_t vlen,
                             void *arg);
void zf_batch_each(const zf_batch_t *self, zf_batch_op_fn *fn, void *arg);

/* ---- typed records (storage/records.c) ------------------------------------ */
//  Values are json objects with the fields of the one workflow model
//  (docs/protocol.md). Stagers take borrowed json and copy what they need.

//  Workflow: v must have "id" and "name". old_name (or NULL) is the name the
//  stored version had, so its name index entry moves with a rename.
void zf_rec_wf_put(zf_batch_t *b, const char *tenant, const json_t *wf, const char *old_name);
json_t *zf_rec_wf_get(zf_store_t *s, const char *tenant, const char *wf_id);
//  wf_id owning `name` in tenant (malloc'd) or NULL.
char *zf_rec_wf_by_name(zf_store_t *s, const char *tenant, const char *name);
//  All workflows of a tenant, newest first (array, new ref).
json_t *zf_rec_wf_list(zf_store_t *s, const char *tenant);
//  Stages deletion of the workflow, its name entry, and all its runs
//  (records, state, logs, index, active, timers).
void zf_rec_wf_del(zf_store_t *s, zf_batch_t *b, const char *tenant, const json_t *wf);

//  Run record: must have "id", "workflow_id", "status". Also maintains
//  run_index (status) and active (present unless status is terminal).
void zf_rec_run_put(zf_batch_t *b, const char *tenant, const json_t *run);
json_t *zf_rec_run_get(zf_store_t *s, const char *tenant, const char *run_id);
//  Stages deletion of one run: record, state, logs, index entry, active
//  entry and its timer (found through the stored record's wake_at).
void zf_rec_run_del(zf_store_t *s, zf_batch_t *b, const char *tenant, const char *wf_id,
                    const char *run_id);
//  Step outputs and variables of this many encoded bytes or more are
//  stored apart, once: a snapshot stages such a value in its own entry the
//  first time and names it in the state's "outputsApart" / "variablesApart"
//  {name: bytes}; later snapshots of the run leave it out, so a run's steps
//  do not each re-write every earlier large value. Whoever replaces
//  stepOutputs[node] or variables[name] calls zf_rec_state_changed so the
//  next snapshot stores the new value (and deletes the old entry when the
//  new value is inline). Smaller values stay inline (one entry less per
//  step).
#define ZF_REC_APART_BYTES 2048
//  Stages the state; may add names to its *Apart maps (see above).
void zf_rec_state_put(zf_batch_t *b, const char *tenant, const char *run_id, json_t *state);
//  The state with its values stored apart back in their maps.
json_t *zf_rec_state_get(zf_store_t *s, const char *tenant, const char *run_id);
//  Marks state[map][name] as replaced; map is "stepOutputs" or "variables".
void zf_rec_state_changed(json_t *state, const char *map, const char *name);
//  Drops the bookkeeping of values stored apart (a state shown to callers).
void zf_rec_state_view(json_t *state);
void zf_rec_log_put_raw(zf_batch_t *b, const char *tenant, const char *run_id, uint32_t seq,
                        const void *entry, size_t len);
//  What a run host commits after one step: record (unless kept), state,
//  log entry, the timer it arms and the one it clears, and the callback
//  token its pause hands out (indexed in the same batch, so a link never
//  goes out before it works). Every pointer is borrowed.
typedef struct {
    const char *tenant;       // tenant of the run
    const char *run_id;       // run id
    const char *wf_id;        // its workflow (run_index key)
    const char *status;       // status the record holds
    const char *prev_status;  // status on disk (NULL = not stored yet)
    const json_t *rec;        // run record (NULL = the stored one stays)
    json_t *state;            // state (required; its *Apart maps may grow)
    const void *log;          // msgpack log entry (NULL = none)
    size_t log_len;           // its length
    uint32_t log_seq;         // the entry's sequence number
    int64_t timer_due;        // timer armed (0 = none)
    const char *timer_kind;   // its kind ("delay", "retry", ...)
    int64_t timer_clear;      // due time of the timer to clear (0 = none)
    const json_t *token;      // {hash: 64 hex, ...fields} (NULL = none)
} zf_rec_snapshot_t;
void zf_rec_snapshot_put(zf_batch_t *b, const zf_rec_snapshot_t *snap);
//  Log entries of a run in seq order (array, new ref).
json_t *zf_rec_logs_get(zf_store_t *s, const char *tenant, const char *run_id);
//  Runs of a workflow newest first; status NULL = any; returns array of run
//  records (new ref) and the total matching count in *total.
json_t *zf_rec_runs_list(zf_store_t *s, const char *tenant, const char *wf_id, const char *status,
                         size_t offset, size_t limit, size_t *total);
//  Same, only runs created at or after since_ms (their UUIDv7 time; 0 = all).
json_t *zf_rec_runs_list_since(zf_store_t *s, const char *tenant, const char *wf_id,
                               const char *status, int64_t since_ms, size_t offset, size_t limit,
                               size_t *total);
//  Unix ms of a UUIDv7 id (text form), -1 if not hex.
int64_t zf_rec_uuid7_ms(const char *id, size_t len);
//  Every unfinished run (all tenants): fn(tenant, run_id, arg). For recovery.
typedef void(zf_rec_active_fn)(const char *tenant, const char *run_id, void *arg);
size_t zf_rec_active_each(zf_store_t *s, zf_rec_active_fn *fn, void *arg);

//  Timers: one per (due, tenant, run). kind: "delay", "retry", "breaker", ...
void zf_rec_timer_put(zf_batch_t *b, int64_t due_ms, const char *tenant, const char *run_id,
                      const char *kind);
void zf_rec_timer_del(zf_batch_t *b, int64_t due_ms, const char *tenant, const char *run_id);
//  Timers due at or before now_ms, oldest first, at most max:
//  fn(due_ms, tenant, run_id, kind, arg). Returns count. Earliest pending
//  due time (or INT64_MAX) goes to *next_due if next_due != NULL.
typedef void(zf_rec_timer_fn)(int64_t due_ms, const char *tenant, const char *run_id,
                              const char *kind, void *arg);
size_t zf_rec_timers_due(zf_store_t *s, int64_t now_ms, size_t max, zf_rec_timer_fn *fn, void *arg,
                         int64_t *next_due);

//  API keys: stored by SHA-256 of the key; the plaintext is never stored.
//  rec: {id, tenant, role, created_at, revoked:false}.
void zf_rec_key_put(zf_batch_t *b, const unsigned char hash[32], const json_t *rec);
json_t *zf_rec_key_get(zf_store_t *s, const unsigned char hash[32]);
//  All keys (array of {hash hex, ...rec}), optional tenant filter.
json_t *zf_rec_key_list(zf_store_t *s, const char *tenant);
//  Finds a key by its public id; sets hash. Returns record (new ref) or NULL.
json_t *zf_rec_key_find(zf_store_t *s, const char *key_id, unsigned char hash_out[32]);

/* ---- business data (storage/data.c) ------------------------------------- */

//  Module records: rec must have "id". Lists are newest first (UUIDv7 ids).
void zf_rec_data_put(zf_batch_t *b, const char *tenant, const char *module, const json_t *rec);
void zf_rec_data_del(zf_batch_t *b, const char *tenant, const char *module, const char *id);
json_t *zf_rec_data_get(zf_store_t *s, const char *tenant, const char *module, const char *id);
json_t *zf_rec_data_list(zf_store_t *s, const char *tenant, const char *module, size_t offset,
                         size_t limit, size_t *total);
//  Notifications: n must have "id" and "user_id"; listed per user, newest first.
void zf_rec_notify_put(zf_batch_t *b, const char *tenant, const json_t *n);
json_t *zf_rec_notify_get(zf_store_t *s, const char *tenant, const char *user, const char *id);
json_t *zf_rec_notify_list(zf_store_t *s, const char *tenant, const char *user, size_t offset,
                           size_t limit, size_t *total);
//  Schedules: sched must have "id" and "workflow_id".
void zf_rec_sched_put(zf_batch_t *b, const char *tenant, const json_t *sched);
void zf_rec_sched_del(zf_batch_t *b, const char *tenant, const char *id);
json_t *zf_rec_sched_get(zf_store_t *s, const char *tenant, const char *id);
//  Schedules of a tenant, of one workflow if wf_id != NULL (array, new ref).
json_t *zf_rec_sched_list(zf_store_t *s, const char *tenant, const char *wf_id);
typedef void(zf_rec_sched_fn)(const char *tenant, const json_t *sched, void *arg);
size_t zf_rec_sched_each(zf_store_t *s, zf_rec_sched_fn *fn, void *arg);
//  Per-workflow run statistics.
void zf_rec_stats_put(zf_batch_t *b, const char *tenant, const char *wf_id, const json_t *stats);
json_t *zf_rec_stats_get(zf_store_t *s, const char *tenant, const char *wf_id);
void zf_rec_stats_del(zf_batch_t *b, const char *tenant, const char *wf_id);
//  Every workflow of every tenant (start-up indexes): fn(tenant, wf, arg).
typedef void(zf_rec_wf_fn)(const char *tenant, const json_t *wf, void *arg);
size_t zf_rec_wf_each(zf_store_t *s, zf_rec_wf_fn *fn, void *arg);

//  Meta: small named values (schema version, counters).
//  Callback tokens (approval, form links) by the hex SHA-256 of the token:
//  {tenant, run_id, node_id, kind, expires_at, ...}; not tenant-scoped
//  (the token is the credential).
void zf_rec_token_put(zf_batch_t *b, const char *hash_hex, const json_t *entry);
json_t *zf_rec_token_get(zf_store_t *s, const char *hash_hex);
//  Child runs of a parent run's node: link {child_id, workflow_id}.
void zf_rec_child_put(zf_batch_t *b, const char *tenant, const char *parent, const char *node_id,
                      const json_t *link);
json_t *zf_rec_child_get(zf_store_t *s, const char *tenant, const char *parent,
                         const char *node_id);
//  Idempotent creates: the record id a rec.create with this idempotency key
//  made in the module (written in the record's batch); NULL when none.
void zf_rec_created_put(zf_batch_t *b, const char *tenant, const char *module, const char *key,
                        const char *id);
char *zf_rec_created_get(zf_store_t *s, const char *tenant, const char *module, const char *key);
//  Stages the removal of the idempotency key that created record id (if
//  any), with the record's deletion.
void zf_rec_created_del(zf_store_t *s, zf_batch_t *b, const char *tenant, const char *module,
                        const char *id);
//  Every link of a parent, in node id order (new array).
json_t *zf_rec_children_list(zf_store_t *s, const char *tenant, const char *parent);

//  The tenant's unfinished runs counted by status {status: n} (reads at
//  most max runs), leaving out those skip(run_id, arg) names (skip may be
//  NULL).
typedef bool(zf_rec_skip_fn)(const char *run_id, void *arg);
json_t *zf_rec_active_counts(zf_store_t *s, const char *tenant, size_t max, zf_rec_skip_fn *skip,
                             void *arg);

void zf_rec_meta_put(zf_batch_t *b, const char *name, const json_t *v);
json_t *zf_rec_meta_get(zf_store_t *s, const char *name);

/* ---- security events (storage/security.c) --------------------------------- */
//  Per tenant, in the indexes CF: tenant\0"sec:"\0 at(u64 BE) id -> event.
//  An event is a map with at least "id" (UUIDv7) and "at" (Unix ms); the
//  engine stores auth.failed / access.denied aggregates (never a key or its
//  hash). Retention (count, age) is the caller's, through prune.

void zf_rec_sec_put(zf_batch_t *b, const char *tenant, const json_t *ev);
//  The tenant's events with at >= since_ms, newest first, at most max (new
//  array); *more (if not NULL) says max stopped the scan while more remained.
json_t *zf_rec_sec_list(zf_store_t *s, const char *tenant, int64_t since_ms, size_t max,
                        bool *more);
//  Events stored for the tenant (a scan over its keys).
size_t zf_rec_sec_count(zf_store_t *s, const char *tenant);
//  Stages into b the deletion of the tenant's oldest events: every one
//  older than before_ms and, besides, the `excess` oldest; at most max
//  deletions (bounded work). Returns the number staged.
size_t zf_rec_sec_prune(zf_store_t *s, zf_batch_t *b, const char *tenant, int64_t before_ms,
                        size_t excess, size_t max);

#endif
