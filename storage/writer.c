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

/* ---- the commit round ------------------------------------------------------- */

static void
s_stage(self_t *self, zf_msg_t *req)
{
    s_req_t *r = &self->reqs[self->nreqs++];
    *r = (s_req_t){.req = req};
    if (strcmp(req->type, "store.commit") == 0)
        s_stage_commit(r);
    else
        s_reject(r, ZF_EINVAL, "the writer accepts only store.commit");
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
