/*  http/ws.c — live events over WebSocket.

    Clients connect to <prefix>/events of a dialect that renders events,
    authenticated like REST (Authorization header, or ?token= since
    browsers cannot set headers on a WebSocket). One thread holds a SUB
    socket on the engine's event PUB (inproc) and forwards every run event
    to the ready connections of the event's tenant, each in its dialect's
    shape, writing under mg_lock_connection. It subscribes only while a
    client is connected (publishers build no event while nobody listens);
    the first client's handshake completes only once the broker has seen
    the subscription, so it misses nothing that happens after its 101. The registry lock is held
    while writing, so a close handler (which unlinks under the same lock)
    never races a write to its connection.
*/
#include "http/http_int.h"

#include "broker/actor.h"
#include "broker/broker.h"
#include "broker/codec.h"
#include "broker/ids.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>

typedef struct s_client_t {
    struct mg_connection *conn;        // civetweb connection
    const zf_http_dialect_t *dialect;  // renders this client's events
    char tenant[72];                   // only this tenant's events
    bool ready;                        // handshake done: writable
    struct s_client_t *prev, *next;    // registry links
} s_client_t;

struct zf_http_ws_t {
    zf_http_t *srv;        // server (auth, rate limit)
    char *endpoint;        // events PUB endpoint
    pthread_mutex_t lock;  // guards clients and the ready flags
    s_client_t *clients;   // registered connections
    atomic_int nready;     // ready clients (the thread skips decoding at 0)
    atomic_int nclients;   // registered clients: the thread subscribes while > 0
    atomic_uint req_gen;   // bumped by each connecting client before its kick
    atomic_uint ack_gen;   // req_gen the thread has reconciled (and the broker seen)
    char ctl[64];          // inproc PULL of the thread: "look at nclients again"
    zactor_t *actor;       // SUB thread; NULL once stopped
    char *start_err;       // the thread's start-up failure (zf_actor_start)
};

/* ---- registry ---------------------------------------------------------------- */

//  Tells the thread that nclients crossed 0. Any thread may call it: each
//  call uses a socket of its own (it happens once per first/last client).
static void
s_kick(zf_http_ws_t *self)
{
    zsock_t *push = zsock_new(ZMQ_PUSH);
    if (!push) return;
    zsock_set_linger(push, 1000);
    if (zsock_connect(push, "%s", self->ctl) == 0)
        zmq_send(zsock_resolve(push), "K", 1, ZMQ_DONTWAIT);
    zsock_destroy(&push);
}

static void
s_link(zf_http_ws_t *self, s_client_t *c)
{
    pthread_mutex_lock(&self->lock);
    c->next = self->clients;
    if (c->next) c->next->prev = c;
    self->clients = c;
    pthread_mutex_unlock(&self->lock);
    atomic_fetch_add(&self->nclients, 1);
    //  Hold the handshake until the thread has subscribed and the broker has
    //  seen it (1 s at most): the client misses no event after its 101.
    unsigned gen = atomic_fetch_add(&self->req_gen, 1) + 1;
    s_kick(self);
    for (int i = 0; i < 1000 && (int)(atomic_load(&self->ack_gen) - gen) < 0; i++)
        zclock_sleep(1);
}

static void
s_unlink_free(zf_http_ws_t *self, s_client_t *c)
{
    pthread_mutex_lock(&self->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        self->clients = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->ready) atomic_fetch_sub(&self->nready, 1);
    pthread_mutex_unlock(&self->lock);
    free(c);
    if (atomic_fetch_sub(&self->nclients, 1) == 1) s_kick(self);
}

/* ---- civetweb handlers ------------------------------------------------------- */

//  A refused handshake gets a plain JSON answer before civetweb closes
//  the connection, so clients see 401/429/503 rather than a reset.
static void
s_refuse(const struct mg_connection *cconn, const zf_http_mount_t *m, int err, const char *why)
{
    struct mg_connection *conn = (struct mg_connection *)cconn;
    int status = 0;
    char *text = zf_http_error_text(m, zf_err_name(err), why, &status);
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
              "Connection: close\r\n\r\n%s",
              status, zf_http_reason(status), strlen(text), text);
    free(text);
}

static const zf_http_mount_t *
s_mount_of(zf_http_t *srv, const char *uri)
{
    for (int i = 0; i < srv->nmounts; i++) {
        const zf_http_mount_t *m = &srv->mounts[i];
        if (uri && strncmp(uri, m->prefix, m->prefix_len) == 0) return m;
    }
    return &srv->mounts[0];
}

static int
s_on_connect(const struct mg_connection *conn, void *cbdata)
{
    zf_http_ws_t *self = cbdata;
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const zf_http_mount_t *m = s_mount_of(self->srv, ri->local_uri);
    zf_http_thread_t *thr = mg_get_thread_pointer(conn);
    zf_http_identity_t who;
    memset(&who, 0, sizeof who);
    const char *why = "service unavailable, retry";
    zsock_t *dealer = zf_http_thread_dealer(thr);
    int rc = dealer ? zf_http_authenticate(self->srv, dealer, ri, true, &who, &why) : ZF_EUNAVAIL;
    zf_ratelimit_info_t rl;
    char key[sizeof who.tenant + sizeof who.user + 2];
    snprintf(key, sizeof key, "%s\x1f%s", who.tenant, who.user);
    if (rc == 0 && self->srv->ratelimit &&
        !zf_ratelimit_hit(self->srv->ratelimit, key, zf_now_ms(), &rl)) {
        rc = ZF_ERATE;
        why = "rate limit exceeded";
    }
    if (rc) {
        s_refuse(conn, m, rc, rc == ZF_ETIMEOUT ? "authentication timed out, retry" : why);
        return 1;
    }
    s_client_t *c = calloc(1, sizeof *c);
    assert(c);
    c->conn = (struct mg_connection *)conn;
    c->dialect = m->dialect;
    snprintf(c->tenant, sizeof c->tenant, "%s", who.tenant);
    s_link(self, c);
    mg_set_user_connection_data(conn, c);
    return 0;
}

static void
s_on_ready(struct mg_connection *conn, void *cbdata)
{
    zf_http_ws_t *self = cbdata;
    s_client_t *c = mg_get_user_connection_data(conn);
    if (!c) return;
    pthread_mutex_lock(&self->lock);
    c->ready = true;
    atomic_fetch_add(&self->nready, 1);
    pthread_mutex_unlock(&self->lock);
}

//  Client frames are ignored; a close frame ends the connection.
static int
s_on_data(struct mg_connection *conn, int bits, char *data, size_t len, void *cbdata)
{
    (void)conn;
    (void)data;
    (void)len;
    (void)cbdata;
    return (bits & 0x0f) == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE ? 0 : 1;
}

static void
s_on_close(const struct mg_connection *conn, void *cbdata)
{
    s_client_t *c = mg_get_user_connection_data(conn);
    if (!c) return;
    mg_set_user_connection_data(conn, NULL);
    s_unlink_free(cbdata, c);
}

/* ---- forwarding thread ---------------------------------------------------------- */

typedef struct {
    const zf_http_dialect_t *dialect;  // renderer
    char *text;                        // rendered event (NULL = skipped)
} s_rendered_t;

//  Sends one event to every ready client of tenant, rendering it once per
//  dialect.
static void
s_fan_out(zf_http_ws_t *self, const char *type, const json_t *body, int64_t ts)
{
    const char *tenant = json_string_value(json_object_get(body, "tenant"));
    if (!tenant) return;
    s_rendered_t cache[8];
    memset(cache, 0, sizeof cache);
    int ncache = 0;
    pthread_mutex_lock(&self->lock);
    for (s_client_t *c = self->clients; c; c = c->next) {
        if (!c->ready || strcmp(c->tenant, tenant) != 0) continue;
        int i = 0;
        while (i < ncache && cache[i].dialect != c->dialect)
            i++;
        if (i == ncache) {
            if (ncache == 8) continue;
            cache[ncache++] = (s_rendered_t){c->dialect, c->dialect->render_event(type, body, ts)};
        }
        if (!cache[i].text) continue;
        mg_lock_connection(c->conn);
        mg_websocket_write(c->conn, MG_WEBSOCKET_OPCODE_TEXT, cache[i].text, strlen(cache[i].text));
        mg_unlock_connection(c->conn);
    }
    pthread_mutex_unlock(&self->lock);
    for (int i = 0; i < ncache; i++)
        free(cache[i].text);
}

//  [type][header][body] from the PUB; malformed messages are dropped.
static void
s_handle_event(zf_http_ws_t *self, zsock_t *sub)
{
    zmsg_t *m = zmsg_recv(sub);
    if (!m) return;
    if (atomic_load(&self->nready) == 0 || zmsg_size(m) < 3) {
        zmsg_destroy(&m);
        return;
    }
    char *type = zmsg_popstr(m);
    zframe_t *hf = zmsg_pop(m), *bf = zmsg_pop(m);
    json_t *hdr = zf_codec_decode(zframe_data(hf), zframe_size(hf), NULL, NULL);
    json_t *body = zf_codec_decode(zframe_data(bf), zframe_size(bf), NULL, NULL);
    json_t *ts = json_object_get(hdr, "ts");
    if (type && json_is_object(body))
        s_fan_out(self, type, body, json_is_integer(ts) ? json_integer_value(ts) : zf_now_ms());
    json_decref(hdr);
    json_decref(body);
    zframe_destroy(&hf);
    zframe_destroy(&bf);
    zstr_free(&type);
    zmsg_destroy(&m);
}

//  Subscribes while clients are registered, unsubscribes when none is. A
//  new subscription is waited for (the broker sees it within a
//  millisecond; 1 s at most) before the connecting clients are released.
//  Subscribe and unsubscribe travel one ordered pipe, so once the broker
//  has seen our latest subscribe, it publishes to us.
static void
s_reconcile(zf_http_ws_t *self, zsock_t *sub, bool *subscribed)
{
    unsigned gen = atomic_load(&self->req_gen);
    bool want = atomic_load(&self->nclients) > 0;
    if (want && !*subscribed) {
        unsigned seen = zf_broker_events_subscribes_seen();
        zsock_set_subscribe(sub, "event.run.");
        for (int i = 0; i < 1000 && zf_broker_events_subscribes_seen() == seen; i++)
            zclock_sleep(1);
    } else if (!want && *subscribed)
        zsock_set_unsubscribe(sub, "event.run.");
    *subscribed = want;
    atomic_store(&self->ack_gen, gen);
}

static void
s_actor(zsock_t *pipe, void *args)
{
    zf_http_ws_t *self = args;
    zsock_t *sub = zsock_new(ZMQ_SUB);
    zsock_t *ctl = zsock_new(ZMQ_PULL);
    zsock_set_rcvhwm(sub, 10000);
    bool subscribed = false;
    //  inproc connect-before-bind is fine: the engine may bind later.
    int rc = zsock_connect(sub, "%s", self->endpoint);
    if (rc == 0) rc = zsock_bind(ctl, "%s", self->ctl) < 0 ? -1 : 0;
    if (rc)
        self->start_err = zsys_sprintf("cannot subscribe to engine events on %s", self->endpoint);
    zsock_signal(pipe, 0);
    zpoller_t *poller = zpoller_new(pipe, sub, ctl, NULL);
    while (rc == 0) {
        void *which = zpoller_wait(poller, -1);
        if (which == sub)
            s_handle_event(self, sub);
        else if (which == ctl) {
            zframe_t *f = zframe_recv(ctl);
            zframe_destroy(&f);
            s_reconcile(self, sub, &subscribed);
        } else if (which == pipe || zpoller_terminated(poller))
            break;  // $TERM (the only command)
    }
    zpoller_destroy(&poller);
    zsock_destroy(&ctl);
    zsock_destroy(&sub);
}

zf_http_ws_t *
zf_http_ws_new(zf_http_t *srv, const char *events_endpoint, char **err)
{
    zf_http_ws_t *self = calloc(1, sizeof *self);
    assert(self);
    self->srv = srv;
    self->endpoint = strdup(events_endpoint ? events_endpoint : "inproc://zf-events");
    static atomic_int instance;
    snprintf(self->ctl, sizeof self->ctl, "inproc://zf-ws-ctl-%d", atomic_fetch_add(&instance, 1));
    pthread_mutex_init(&self->lock, NULL);
    self->actor = zf_actor_start(s_actor, self, &self->start_err, err);
    if (!self->actor) {
        zf_http_ws_destroy(&self);
        return NULL;
    }
    for (int i = 0; i < srv->nmounts; i++) {
        if (!srv->mounts[i].dialect->render_event) continue;
        char uri[ZF_HTTP_PREFIX_MAX + 16];
        snprintf(uri, sizeof uri, "%s/events", srv->mounts[i].prefix);
        mg_set_websocket_handler(srv->ctx, uri, s_on_connect, s_on_ready, s_on_data, s_on_close,
                                 self);
    }
    return self;
}

void
zf_http_ws_stop(zf_http_ws_t *self)
{
    if (self) zactor_destroy(&self->actor);
}

void
zf_http_ws_destroy(zf_http_ws_t **self_p)
{
    if (!self_p || !*self_p) return;
    zf_http_ws_t *self = *self_p;
    zactor_destroy(&self->actor);
    while (self->clients) {  // handshakes that never completed
        s_client_t *c = self->clients;
        self->clients = c->next;
        free(c);
    }
    pthread_mutex_destroy(&self->lock);
    free(self->endpoint);
    free(self);
    *self_p = NULL;
}
