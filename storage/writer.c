/*  storage/writer.c — the group-commit writer thread (see writer.h).

    One loop: block until a request arrives, then drain every request that is
    already waiting (up to ZF_WRITER_MAX_REQS requests or ZF_WRITER_MAX_BYTES
    staged bytes), validate and stage each into its own zf_batch_t, commit
    them all with ONE zf_store_write_many (one WriteBatch, one fsync), and
    only then send the acks. Under load many producers share each fsync;
    with a single producer it degrades to one commit per request, which is
    the latency floor anyway.

    An invalid request is answered with an error at once in the same round
    and stages nothing. If the commit itself fails, every request of that
    round is answered with ZF_EIO: all of them, because they were one
    atomic WriteBatch.
*/
#include "broker/actor.h"
#include "storage/writer.h"
#include "broker/codec.h"
#include "broker/errors.h"
#include "broker/msg.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZF_WRITER_MAX_REQS    4096                  // requests in one commit
#define ZF_WRITER_MAX_BYTES   (8u * 1024u * 1024u)  // staged bytes in one commit
#define ZF_WRITER_HWM         100000                // ROUTER send/receive queue
#define ZF_WRITER_TERM_ROUNDS 64                    // commits flushed after $TERM

struct zf_writer_t {
    zactor_t *actor;                // the writer thread
    zf_store_t *store;              // borrowed
    char *endpoint;                 // where the ROUTER binds
    atomic_bool bound;              // set by the thread before its start signal
    atomic_uint_fast64_t commits;   // WriteBatches committed (or attempted)
    atomic_uint_fast64_t requests;  // requests answered (ok or error)
};

typedef struct {
    zf_msg_t *req;      // the request; its route takes the reply back
    zf_batch_t *batch;  // staged ops; NULL when rejected
    int err;            // 0, or the error code of the reply
    const char *why;    // error message (static)
} s_req_t;

typedef struct {
    zf_writer_t *owner;   // shared state (store, stats)
    zsock_t *pipe;        // actor pipe
    zsock_t *router;      // producers' DEALERs connect here
    zpoller_t *poller;    // pipe + router
    bool terminated;      // $TERM received
    s_req_t *reqs;        // requests of the current round
    size_t nreqs;         // used entries of reqs
    zf_batch_t **staged;  // batches of the current round, for write_many
    size_t bytes;         // staged bytes this round
} self_t;

/* ---- request validation and staging ----------------------------------------- */

static void
s_reject(s_req_t *r, int err, const char *why)
{
    zf_batch_destroy(&r->batch);
    r->err = err;
    r->why = why;
}

//  store.commit: the one extra frame is a zf_batch_t* from this process. The
//  endpoint is inproc-only (checked in zf_writer_new), so only code in this
//  process can send it.
static void
s_stage_commit(s_req_t *r)
{
    zmsg_t *extra = r->req->extra;
    zframe_t *frame = extra && zmsg_size(extra) == 1 ? zmsg_first(extra) : NULL;
    zf_batch_t *batch = NULL;
    if (!frame || zframe_size(frame) != sizeof(batch)) {
        s_reject(r, ZF_EINVAL, "store.commit needs exactly one 8-byte batch frame");
        return;
    }
    memcpy(&batch, zframe_data(frame), sizeof(batch));
    if (!batch) {
        s_reject(r, ZF_EINVAL, "store.commit batch pointer is NULL");
        return;
    }
    r->batch = batch;
}

//  A non-empty string field without embedded NULs (keys are \0-separated).
static const char *
s_str(const json_t *body, const char *name)
{
    json_t *v = json_object_get(body, name);
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) != json_string_length(v)) return NULL;
    return s;
}

//  Checks one raw frame: non-empty, its top value a msgpack map. Only the
//  header: the endpoint is inproc-only (zf_writer_new), so every producer
//  is this process's own code encoding with zf_codec, and every read of a
//  stored value decodes it with bounds anyway. Walking each frame whole
//  (zf_codec_check) was a tenth of the writer's time at W1. A frame that
//  ever arrives from another process (a remote worker) must be checked
//  where it enters, by the broker.
static bool
s_frame_is_map(zframe_t *frame)
{
    const unsigned char *p = zframe_data(frame);
    size_t len = zframe_size(frame);
    if (len == 0) return false;
    if (p[0] >= 0x80 && p[0] <= 0x8f) return true;  // fixmap
    return (p[0] == 0xde && len >= 3) || (p[0] == 0xdf && len >= 5);
}

//  The body's optional timer fields; returns an error message or NULL.
static const char *
s_check_timers(const json_t *body)
{
    json_t *timer = json_object_get(body, "timer");
    if (timer) {
        const char *kind = s_str(timer, "kind");
        if (!json_is_object(timer) || !json_is_integer(json_object_get(timer, "due")) || !kind)
            return "run.snapshots item: timer must be {due: int, kind: str}";
    }
    json_t *clear = json_object_get(body, "timer_clear");
    if (clear && !json_is_integer(clear)) return "run.snapshots item: timer_clear must be an int";
    json_t *tok = json_object_get(body, "token");
    const char *hash = s_str(tok, "hash");
    if (tok && (!json_is_object(tok) || !hash || strlen(hash) != 64 ||
                strspn(hash, "0123456789abcdef") != 64))
        return "run.snapshots item: token must be {hash: 64 lowercase hex, ...}";
    return NULL;
}

//  One snapshot's raw frames, in order: [record]? [state] [log]?
typedef struct {
    zframe_t *rec;    // run record (NULL: keep_record, the stored one is current)
    zframe_t *state;  // state
    zframe_t *log;    // log entry (NULL: none)
} s_frames_t;

//  The message's extra frames, consumed in order by the snapshots.
typedef struct {
    zframe_t **all;  // every extra frame
    size_t n;        // how many
    size_t pos;      // next one to take
} s_cursor_t;

static zframe_t *
s_take(s_cursor_t *c)
{
    return c->pos < c->n ? c->all[c->pos++] : NULL;
}

//  Everything one snapshot needs before anything is staged: its body and
//  its frames, taken from the cursor.
//  Returns an error message or NULL.
static const char *
s_check_snapshot(const json_t *body, s_cursor_t *c, s_frames_t *f)
{
    if (!json_is_object(body)) return "run.snapshots items must be objects";
    if (!s_str(body, "tenant")) return "run.snapshots item: needs a tenant";
    if (!s_str(body, "run_id")) return "run.snapshots item: needs run_id";
    if (!s_str(body, "workflow_id")) return "run.snapshots item: needs workflow_id";
    if (!s_str(body, "status")) return "run.snapshots item: needs status";
    json_t *seq = json_object_get(body, "log_seq");
    if (seq && (!json_is_integer(seq) || json_integer_value(seq) < 0 ||
                json_integer_value(seq) > (json_int_t)UINT32_MAX))
        return "run.snapshots item: log_seq must be a uint32";
    json_t *keep = json_object_get(body, "keep_record");
    if (keep && !json_is_boolean(keep)) return "run.snapshots item: keep_record must be a boolean";
    *f = (s_frames_t){0};
    if (!json_is_true(keep)) f->rec = s_take(c);
    f->state = s_take(c);
    if (seq) f->log = s_take(c);
    if ((!json_is_true(keep) && !f->rec) || !f->state || (seq && !f->log))
        return "run.snapshots item: needs frames [record unless keep_record][state][log iff "
               "log_seq]";
    zframe_t *all[3] = {f->rec, f->state, f->log};
    for (int i = 0; i < 3; i++)
        if (all[i] && !s_frame_is_map(all[i]))
            return "run.snapshots item: frame is not a valid msgpack map";
    return s_check_timers(body);
}

//  Stages one checked snapshot into b.
static void
s_stage_one(zf_batch_t *b, const json_t *body, const s_frames_t *f)
{
    const char *tenant = s_str(body, "tenant");
    const char *run_id = s_str(body, "run_id");
    if (f->rec)
        zf_rec_run_put_raw(b, tenant, run_id, s_str(body, "workflow_id"), s_str(body, "status"),
                           s_str(body, "prev_status"), zframe_data(f->rec), zframe_size(f->rec));
    zf_rec_state_put_raw(b, tenant, run_id, zframe_data(f->state), zframe_size(f->state));
    if (f->log) {
        uint32_t seq = (uint32_t)json_integer_value(json_object_get(body, "log_seq"));
        zf_rec_log_put_raw(b, tenant, run_id, seq, zframe_data(f->log), zframe_size(f->log));
    }
    json_t *clear = json_object_get(body, "timer_clear");
    if (clear) zf_rec_timer_del(b, json_integer_value(clear), tenant, run_id);
    json_t *timer = json_object_get(body, "timer");
    if (timer)
        zf_rec_timer_put(b, json_integer_value(json_object_get(timer, "due")), tenant, run_id,
                         s_str(timer, "kind"));
    //  A callback token (approval, form) is indexed by its hash in the
    //  batch that stores the paused run: a link is never sent before it works.
    json_t *tok = json_object_get(body, "token");
    if (tok) {
        json_t *entry = json_deep_copy(tok);
        json_object_del(entry, "hash");
        json_object_set_new(entry, "tenant", json_string(tenant));
        json_object_set_new(entry, "run_id", json_string(run_id));
        zf_rec_token_put(b, s_str(tok, "hash"), entry);
        json_decref(entry);
    }
}

//  run.snapshots: body {items: [...]}, each item a snapshot with its
//  tenant; the items' frames follow each other in the extra frames. Every
//  item is checked before any is staged: one bad item refuses the whole
//  message, whose items all go into one batch. Every frame must be used.
static void
s_stage_snapshots(s_req_t *r)
{
    const zf_msg_t *req = r->req;
    json_t *items = json_object_get(req->body, "items");
    size_t n = json_array_size(items);
    if (!json_is_array(items) || n == 0 || n > ZF_WRITER_MAX_REQS) {
        s_reject(r, ZF_EINVAL, "run.snapshots needs items: 1 to 4096 snapshots");
        return;
    }
    s_cursor_t c = {.n = req->extra ? zmsg_size(req->extra) : 0};
    c.all = calloc(c.n + 1, sizeof *c.all);
    s_frames_t *frames = calloc(n, sizeof *frames);
    assert(c.all && frames);
    size_t k = 0;
    for (zframe_t *f = c.n ? zmsg_first(req->extra) : NULL; f; f = zmsg_next(req->extra))
        c.all[k++] = f;
    const char *why = NULL;
    for (size_t i = 0; i < n && !why; i++) {
        const json_t *body = json_array_get(items, i);
        why = s_check_snapshot(body, &c, &frames[i]);
    }
    if (!why && c.pos != c.n) why = "run.snapshots has frames that no snapshot uses";
    if (why)
        s_reject(r, ZF_EINVAL, why);
    else {
        r->batch = zf_batch_new();
        for (size_t i = 0; i < n; i++) {
            const json_t *body = json_array_get(items, i);
            s_stage_one(r->batch, body, &frames[i]);
        }
    }
    free(frames);
    free(c.all);
}

/* ---- the commit round ------------------------------------------------------- */

static void
s_stage(self_t *self, zf_msg_t *req)
{
    s_req_t *r = &self->reqs[self->nreqs++];
    *r = (s_req_t){.req = req};
    if (strcmp(req->type, "store.commit") == 0)
        s_stage_commit(r);
    else if (strcmp(req->type, "run.snapshots") == 0)
        s_stage_snapshots(r);
    else
        s_reject(r, ZF_EINVAL, "the writer accepts only store.commit and run.snapshots");
    if (r->batch) self->bytes += zf_batch_bytes(r->batch);
}

//  Malformed envelopes still get an answer (without corr) when their route
//  is known, so a buggy producer fails fast instead of waiting forever.
static void
s_reply_malformed(self_t *self, zmsg_t *route, const char *why)
{
    if (!route) return;
    zf_msg_t *dummy = zf_msg_new("reply");
    dummy->id[0] = '\0';
    dummy->route = route;
    zf_msg_t *reply = zf_msg_error(dummy, ZF_EINVAL, why ? why : "malformed message", NULL);
    zf_msg_send(&reply, zsock_resolve(self->router), ZMQ_DONTWAIT);
    zf_msg_destroy(&dummy);
}

//  Receives one waiting message into the round. Replies are never answered
//  (no ping-pong with a confused peer).
static void
s_receive_one(self_t *self)
{
    zmsg_t *bad_route = NULL;
    const char *why = NULL;
    zf_msg_t *req = zf_msg_recv(zsock_resolve(self->router), true, &bad_route, &why);
    if (!req) {
        s_reply_malformed(self, bad_route, why);
        return;
    }
    if (req->kind != ZF_MSG_REQUEST) {
        zf_msg_destroy(&req);
        return;
    }
    s_stage(self, req);
}

//  Sends the reply of one request and frees it. ZMQ_DONTWAIT: the writer
//  must never block on one slow producer; with ROUTER_MANDATORY a failed ack
//  (peer gone, or its queue full) is at least reported instead of being
//  dropped silently.
static void
s_answer(self_t *self, s_req_t *r)
{
    zf_msg_t *reply =
        r->err ? zf_msg_error(r->req, r->err, r->why, NULL) : zf_msg_reply(r->req, json_object());
    if (zf_msg_send(&reply, zsock_resolve(self->router), ZMQ_DONTWAIT) != 0 &&
        errno != EHOSTUNREACH)
        fprintf(stderr, "zf_writer: ack for %s not sent: %s\n", r->req->id, zmq_strerror(errno));
    zf_msg_destroy(&r->req);
    zf_batch_destroy(&r->batch);
}

//  One group commit: drain what is waiting, write it all at once, then ack.
//  Returns the number of requests handled.
static size_t
s_commit_round(self_t *self)
{
    self->nreqs = 0;
    self->bytes = 0;
    while (self->nreqs < ZF_WRITER_MAX_REQS && self->bytes < ZF_WRITER_MAX_BYTES &&
           (zsock_events(self->router) & ZMQ_POLLIN))
        s_receive_one(self);
    size_t n = 0;
    for (size_t i = 0; i < self->nreqs; i++)
        if (self->reqs[i].batch) self->staged[n++] = self->reqs[i].batch;
    if (n > 0) {
        int rc = zf_store_write_many(self->owner->store, self->staged, n);
        atomic_fetch_add(&self->owner->commits, 1);
        for (size_t i = 0; rc != 0 && i < self->nreqs; i++)
            if (self->reqs[i].batch) s_reject(&self->reqs[i], ZF_EIO, "storage write failed");
    }
    //  Counted before the acks go out, so a producer holding its ack sees it.
    atomic_fetch_add(&self->owner->requests, self->nreqs);
    for (size_t i = 0; i < self->nreqs; i++)
        s_answer(self, &self->reqs[i]);
    return self->nreqs;
}

/* ---- the actor -------------------------------------------------------------- */

static void
s_self_destroy(self_t **self_p)
{
    self_t *self = *self_p;
    if (!self) return;
    zpoller_destroy(&self->poller);
    zsock_destroy(&self->router);
    free(self->reqs);
    free(self->staged);
    free(self);
    *self_p = NULL;
}

//  ROUTER_MANDATORY: an ack to a vanished peer fails visibly (EHOSTUNREACH)
//  instead of vanishing. High HWMs: a ROUTER drops (or, mandatory, refuses)
//  messages to a peer whose queue is full, and a burst of acks after a big
//  group commit can be thousands deep for one producer that pipelines; the
//  receive side lets producers queue a burst without blocking. Linger lets
//  the last acks of a $TERM flush reach their peers.
static self_t *
s_self_new(zsock_t *pipe, zf_writer_t *owner)
{
    self_t *self = calloc(1, sizeof(*self));
    if (!self) abort();
    self->owner = owner;
    self->pipe = pipe;
    self->reqs = calloc(ZF_WRITER_MAX_REQS, sizeof(s_req_t));
    self->staged = calloc(ZF_WRITER_MAX_REQS, sizeof(zf_batch_t *));
    if (!self->reqs || !self->staged) abort();
    self->router = zsock_new(ZMQ_ROUTER);
    assert(self->router);
    zsock_set_router_mandatory(self->router, 1);
    zsock_set_sndhwm(self->router, ZF_WRITER_HWM);
    zsock_set_rcvhwm(self->router, ZF_WRITER_HWM);
    zsock_set_linger(self->router, 1000);
    if (zsock_bind(self->router, "%s", owner->endpoint) != 0) {
        s_self_destroy(&self);
        return NULL;
    }
    self->poller = zpoller_new(pipe, self->router, NULL);
    assert(self->poller);
    return self;
}

static void
s_self_handle_pipe(self_t *self)
{
    char *cmd = zstr_recv(self->pipe);
    if (!cmd || strcmp(cmd, "$TERM") == 0) self->terminated = true;
    zstr_free(&cmd);
}

//  The writer thread. On $TERM (or interrupt) it flushes what is queued —
//  bounded, so a producer that never stops cannot keep it alive — and exits.
static void
s_writer_actor(zsock_t *pipe, void *args)
{
    zf_writer_t *owner = args;
    self_t *self = s_self_new(pipe, owner);
    atomic_store(&owner->bound, self != NULL);
    zf_actor_name("zf-writer");
    zsock_signal(pipe, 0);
    if (!self) return;
    while (!self->terminated) {
        void *which = zpoller_wait(self->poller, -1);
        if (zpoller_terminated(self->poller)) break;
        if (which == self->pipe)
            s_self_handle_pipe(self);
        else if (which == self->router)
            s_commit_round(self);
    }
    for (int i = 0; i < ZF_WRITER_TERM_ROUNDS && s_commit_round(self) > 0; i++)
        ;
    s_self_destroy(&self);
}

/* ---- public API ------------------------------------------------------------- */

//  The endpoint must be inproc: store.commit carries a raw pointer, which
//  must never be accepted from another process.
zf_writer_t *
zf_writer_new(zf_store_t *store, const char *endpoint)
{
    if (!store || !endpoint || strncmp(endpoint, "inproc://", 9) != 0) return NULL;
    zf_writer_t *self = calloc(1, sizeof(*self));
    if (!self) abort();
    self->store = store;
    self->endpoint = strdup(endpoint);
    if (!self->endpoint) abort();
    self->actor = zactor_new(s_writer_actor, self);
    if (!self->actor || !atomic_load(&self->bound)) zf_writer_destroy(&self);
    return self;
}

void
zf_writer_destroy(zf_writer_t **self_p)
{
    if (!self_p || !*self_p) return;
    zf_writer_t *self = *self_p;
    zactor_destroy(&self->actor);
    free(self->endpoint);
    free(self);
    *self_p = NULL;
}

int
zf_writer_submit(void *dealer, zf_batch_t **batch_p, const char *req_id)
{
    assert(dealer && batch_p && *batch_p && req_id);
    zf_batch_t *batch = *batch_p;
    *batch_p = NULL;
    zf_msg_t *msg = zf_msg_new("store.commit");
    snprintf(msg->id, sizeof(msg->id), "%s", req_id);
    msg->route = zmsg_new();
    zmsg_addmem(msg->route, "", 0);
    msg->extra = zmsg_new();
    zmsg_addmem(msg->extra, &batch, sizeof(batch));
    if (zf_msg_send(&msg, zsock_resolve(dealer), 0) != 0) {
        zf_batch_destroy(&batch);
        return -1;
    }
    return 0;
}

void
zf_writer_stats(zf_writer_t *self, uint64_t *commits, uint64_t *requests)
{
    assert(self);
    if (commits) *commits = atomic_load(&self->commits);
    if (requests) *requests = atomic_load(&self->requests);
}
