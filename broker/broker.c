/*  broker/broker.c — routing actor: front ends <-> services, plus the tap.
    See broker.h for the socket map and the rules.
*/
#include "broker/actor.h"
#include "broker/broker.h"
#include "broker/codec.h"
#include "broker/errors.h"
#include "broker/msg.h"

#include <czmq.h>
#include <stdatomic.h>
#include <sys/stat.h>

#define S_MAX_SERVICES 16
#define S_MAX_PREFIXES 32
#define S_HWM          100000  // per socket; requests beyond it get `unavailable`
#define S_EVENTS_HWM   10000   // events queued per in-process subscriber before drops

enum { S_FE_INTERNAL = 0, S_FE_API, S_FE_ADMIN, S_FE_COUNT };
static const char s_fe_tag[S_FE_COUNT] = {'I', 'A', 'D'};
static const char *const s_fe_origin[S_FE_COUNT] = {"internal", "api", "admin"};

struct zf_broker_t {
    zactor_t *actor;              // the routing thread
    _Atomic uint64_t routed;      // see zf_broker_stats_t
    _Atomic uint64_t replies;     //
    _Atomic uint64_t rejected;    //
    _Atomic uint64_t unroutable;  //
    _Atomic uint64_t tapped;      //
};

typedef struct {
    zframe_t *identity;                 // ROUTER identity of the service DEALER
    char name[32];                      // service name (logs)
    char prefixes[S_MAX_PREFIXES][48];  // type prefixes served
    int nprefixes;                      // used entries of prefixes
} s_service_t;

typedef struct {
    const zf_broker_conf_t *conf;  // borrowed for start-up only
    zf_broker_t *owner;            // for stats
    char *err;                     // start-up failure reason (malloc'd)
} s_args_t;

typedef struct {
    zsock_t *pipe;                         // actor pipe
    zsock_t *fe[S_FE_COUNT];               // front-end routers (NULL if not configured)
    zsock_t *svc;                          // service router
    zsock_t *tap;                          // XPUB, or NULL
    zsock_t *events;                       // XPUB on ZF_EVENTS_ENDPOINT, or NULL
    zpoller_t *poller;                     // all of the above
    s_service_t services[S_MAX_SERVICES];  // registered services
    int nservices;                         // used entries
    int tap_subs;                          // live subscriptions on the tap
    int events_subs;                       // live subscriptions on events
    char version[32];                      // for ping
    zf_broker_t *owner;                    // stats
    bool terminated;                       // $TERM received
} self_t;

/* ---- sockets -------------------------------------------------------------- */

//  Why: every router must refuse to drop silently (ROUTER_MANDATORY) and
//  queue generously so bursts are absorbed instead of refused.
static zsock_t *
s_router_bind(const char *endpoint, char **err)
{
    zsock_t *s = zsock_new(ZMQ_ROUTER);
    zsock_set_router_mandatory(s, 1);
    zsock_set_sndhwm(s, S_HWM);
    zsock_set_rcvhwm(s, S_HWM);
    zsock_set_linger(s, 0);
    //  libzmq trusts the frame length a peer declares and would try to
    //  allocate it: cap it, so a hostile peer is disconnected instead.
    //  Frames of 16..64 MiB still arrive and get a `too_large` reply.
    zsock_set_maxmsgsize(s, (int64_t)64 * 1024 * 1024);
    if (zsock_bind(s, "%s", endpoint) < 0) {
        if (err && !*err) {
            *err = zsys_sprintf("cannot bind %s: %s", endpoint, zmq_strerror(zmq_errno()));
        }
        zsock_destroy(&s);
    }
    return s;
}

//  Sends every frame of *m_p on sock; destroys the message either way.
//  With dontwait, a full queue fails at once (errno EAGAIN) instead of blocking.
static int
s_send_all(zsock_t *sock, zmsg_t **m_p, bool dontwait)
{
    zmsg_t *m = *m_p;
    *m_p = NULL;
    int rc = 0;
    size_t n = zmsg_size(m);
    for (size_t i = 0; i < n; i++) {
        zframe_t *f = zmsg_pop(m);
        int flags = (i + 1 < n ? ZFRAME_MORE : 0) | (dontwait ? ZFRAME_DONTWAIT : 0);
        if (zframe_send(&f, sock, flags) < 0) {
            zframe_destroy(&f);
            rc = -1;
            break;  // a ROUTER discards a partial message it could not route
        }
    }
    zmsg_destroy(&m);
    return rc;
}

/* ---- tap ------------------------------------------------------------------ */

static const char *const s_secret_keys[] = {"key",    "api_key", "token",         "password",
                                            "secret", "auth",    "authorization", NULL};

static bool
s_is_secret(const char *k)
{
    for (int i = 0; s_secret_keys[i]; i++) {
        if (strcasecmp(k, s_secret_keys[i]) == 0) return true;
    }
    return false;
}

static json_t *s_redact(json_t *v, int depth);

//  Strings that hold JSON text (run log outputs keep step output as text)
//  are parsed and redacted too, so a secret cannot ride through as text.
static json_t *
s_redact_text(json_t *v, int depth)
{
    const char *text = json_string_value(v);
    size_t len = json_string_length(v);
    if (!text || len < 2 || len > 65536 || (text[0] != '{' && text[0] != '['))
        return json_incref(v);
    json_t *parsed = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!parsed) {  // not JSON (or cut at 500 chars): hide it if it names a secret
        for (int i = 0; s_secret_keys[i]; i++) {
            char quoted[32];
            snprintf(quoted, sizeof quoted, "\"%s\"", s_secret_keys[i]);
            if (strcasestr(text, quoted)) return json_string("[redacted]");
        }
        return json_incref(v);
    }
    json_t *clean = s_redact(parsed, depth + 1);
    char *dumped = json_dumps(clean, JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *out = json_string(dumped ? dumped : "[redacted]");
    free(dumped);
    json_decref(clean);
    json_decref(parsed);
    return out;
}

//  Returns a copy of v with every secret-named field replaced, at any depth.
static json_t *
s_redact(json_t *v, int depth)
{
    if (depth > 64) return json_string("[redacted: too deep]");
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *k;
        json_t *x;
        json_object_foreach (v, k, x) {
            json_object_set_new(
                out, k, s_is_secret(k) ? json_string("[redacted]") : s_redact(x, depth + 1));
        }
        return out;
    }
    if (json_is_array(v)) {
        json_t *out = json_array();
        size_t i;
        json_t *x;
        json_array_foreach (v, i, x)
            json_array_append_new(out, s_redact(x, depth + 1));
        return out;
    }
    return s_redact_text(v, depth);
}

static void
s_tap_publish(self_t *self, const zf_msg_t *msg)
{
    if (!self->tap || self->tap_subs <= 0) return;
    json_t *hdr = zf_msg_header_json(msg);
    json_t *plain = zf_msg_body_decode(msg);
    json_t *body = s_redact(plain ? plain : msg->body, 0);
    json_decref(plain);
    size_t hl, bl;
    void *hb = zf_codec_encode(hdr, &hl);
    void *bb = zf_codec_encode(body, &bl);
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, msg->type);
    zmsg_addmem(m, hb, hl);
    zmsg_addmem(m, bb, bl);
    free(hb);
    free(bb);
    json_decref(hdr);
    json_decref(body);
    if (s_send_all(self->tap, &m, true) == 0) atomic_fetch_add(&self->owner->tapped, 1);
}

//  XPUB delivers (un)subscriptions as messages: byte 1/0 then the topic.
//  Counting them lets the publishers skip all work while nobody listens.
//  Subscriptions on tap and events sockets of every broker in the process.
static atomic_int s_tap_listeners;
static atomic_int s_events_listeners;
static atomic_uint s_events_subscribes;

bool
zf_broker_events_wanted(void)
{
    return atomic_load(&s_tap_listeners) + atomic_load(&s_events_listeners) > 0;
}

unsigned
zf_broker_events_subscribes_seen(void)
{
    return atomic_load(&s_events_subscribes);
}

static void
s_handle_subs(zsock_t *xpub, int *subs, atomic_int *global)
{
    zframe_t *f = zframe_recv(xpub);
    if (!f) return;
    if (zframe_size(f) >= 1) {
        byte first = zframe_data(f)[0];
        if (first == 1) {
            (*subs)++;
            atomic_fetch_add(global, 1);
            if (global == &s_events_listeners) atomic_fetch_add(&s_events_subscribes, 1);
        } else if (first == 0 && *subs > 0) {
            (*subs)--;
            atomic_fetch_sub(global, 1);
        }
    }
    zframe_destroy(&f);
}

//  In-process front ends (the HTTP server's WebSocket) get every event as
//  [type][header][body], unredacted: *raw_p is the service's message
//  [""][header][body] (taken). Best effort: a full queue drops the event.
static void
s_events_publish(self_t *self, const char *type, zmsg_t **raw_p)
{
    zmsg_t *raw = *raw_p;
    *raw_p = NULL;
    zframe_t *delim = zmsg_pop(raw);
    zframe_destroy(&delim);
    zmsg_pushstr(raw, type);
    s_send_all(self->events, &raw, true);
}

/* ---- replies from the broker itself ---------------------------------------- */

static void
s_reply(self_t *self, int fe, zf_msg_t *reply)
{
    s_tap_publish(self, reply);
    zmsg_t *m = zf_msg_encode(reply);
    zf_msg_destroy(&reply);
    if (s_send_all(self->fe[fe], &m, true) < 0) atomic_fetch_add(&self->owner->unroutable, 1);
}

static void
s_reject(self_t *self, int fe, zf_msg_t *req, int err, const char *why)
{
    atomic_fetch_add(&self->owner->rejected, 1);
    s_reply(self, fe, zf_msg_error(req, err, why, NULL));
}

//  A malformed request whose envelope we could still read gets an error
//  reply with an empty corr: the client learns why instead of timing out.
//  corr: the id of the request when its header could be read, else "".
static void
s_reject_malformed(self_t *self, int fe, zmsg_t **route_p, const char *why, const char *corr)
{
    zf_msg_t *req = zf_msg_new("malformed");
    req->route = *route_p;
    *route_p = NULL;
    snprintf(req->id, sizeof req->id, "%s", corr);
    //  The codec's limit reasons: frame/value too large, nesting too deep,
    //  too many items, string too long.
    bool big = why && (strstr(why, "too large") || strstr(why, "too deep") ||
                       strstr(why, "too many items") || strstr(why, "string too long"));
    s_reject(self, fe, req, big ? ZF_ELIMIT : ZF_EINVAL, why ? why : "malformed message");
    zf_msg_destroy(&req);
}

/* ---- policy and routing ---------------------------------------------------- */

static bool
s_has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

//  What each origin may send. Admin (socket file mode 0600) manages keys;
//  the tcp API and in-process front ends never may. Internal plumbing types
//  (service registration, events, writer traffic) come only from services.
static int
s_check_origin(int fe, const char *type, const char **why)
{
    static const char *const internal_only[] = {"svc.", "event.", "store.", "run.snapshot", NULL};
    for (int i = 0; internal_only[i]; i++) {
        if (s_has_prefix(type, internal_only[i])) {
            *why = "message type is not accepted from clients";
            return ZF_EFORBIDDEN;
        }
    }
    bool is_key = s_has_prefix(type, "key.") || s_has_prefix(type, "clock.");
    if (fe == S_FE_ADMIN && !is_key && strcmp(type, "ping") != 0) {
        *why = "the admin socket accepts only administrative messages (key.*)";
        return ZF_EFORBIDDEN;
    }
    if (fe != S_FE_ADMIN && is_key) {
        *why = "this message type is only accepted on the local admin socket (key management)";
        return ZF_EFORBIDDEN;
    }
    if (fe == S_FE_API && s_has_prefix(type, "auth.")) {
        *why = "auth.* is internal";
        return ZF_EFORBIDDEN;
    }
    return 0;
}

static s_service_t *
s_service_for(self_t *self, const char *type)
{
    s_service_t *best = NULL;
    size_t best_len = 0;
    for (int i = 0; i < self->nservices; i++) {
        s_service_t *s = &self->services[i];
        for (int j = 0; j < s->nprefixes; j++) {
            size_t l = strlen(s->prefixes[j]);
            if (l > best_len && strncmp(type, s->prefixes[j], l) == 0) {
                best = s;
                best_len = l;
            }
        }
    }
    return best;
}

static void
s_service_remove(self_t *self, s_service_t *svc)
{
    zsys_warning("broker: service %s is gone", svc->name);
    zframe_destroy(&svc->identity);
    int i = (int)(svc - self->services);
    memmove(&self->services[i], &self->services[i + 1],
            (size_t)(self->nservices - i - 1) * sizeof(s_service_t));
    self->nservices--;
}

//  Forwards a stamped request as [svc id][fe tag][client route...][hdr][body].
static void
s_forward(self_t *self, int fe, zf_msg_t *msg)
{
    s_service_t *svc = s_service_for(self, msg->type);
    if (!svc) {  // before the first service registers, "unavailable" means: retry
        if (self->nservices == 0)
            s_reject(self, fe, msg, ZF_EUNAVAIL, "starting up, retry");
        else
            s_reject(self, fe, msg, ZF_EUNSUPPORTED, "unknown message type");
        return;
    }
    s_tap_publish(self, msg);
    zmsg_t *m = zf_msg_encode(msg);
    zmsg_pushmem(m, &s_fe_tag[fe], 1);
    zmsg_push(m, zframe_dup(svc->identity));
    if (s_send_all(self->svc, &m, true) < 0) {
        int e = zmq_errno();
        if (e == EHOSTUNREACH) s_service_remove(self, svc);
        s_reject(self, fe, msg, ZF_EUNAVAIL,
                 e == EAGAIN ? "service is overloaded, retry later" : "service unavailable");
        return;
    }
    atomic_fetch_add(&self->owner->routed, 1);
}

static void
s_handle_frontend(self_t *self, int fe)
{
    zmsg_t *raw = zmsg_recv(self->fe[fe]);
    if (!raw) return;
    zmsg_t *bad_route = NULL;
    const char *why = NULL;
    //  Bodies are checked but not decoded: services read them, the broker only routes.
    char bad_id[ZF_MSG_ID_LEN] = "";
    zf_msg_t *msg = fe == S_FE_API ? zf_msg_decode_raw_api(&raw, true, &bad_route, &why, bad_id)
                                   : zf_msg_decode_raw(&raw, true, &bad_route, &why);
    if (!msg) {
        if (bad_route)
            s_reject_malformed(self, fe, &bad_route, why, bad_id);
        else
            atomic_fetch_add(&self->owner->rejected, 1);
        zmsg_destroy(&bad_route);
        return;
    }
    snprintf(msg->origin, sizeof msg->origin, "%s", s_fe_origin[fe]);
    if (fe == S_FE_API) {
        //  Identity on the tcp API comes only from the key, never from the client.
        msg->tenant[0] = msg->role[0] = msg->user[0] = '\0';
    }
    int rc = s_check_origin(fe, msg->type, &why);
    if (rc)
        s_reject(self, fe, msg, rc, why);
    else if (strcmp(msg->type, "ping") == 0) {
        json_t *body = json_pack("{s:b, s:s}", "pong", 1, "version", self->version);
        s_reply(self, fe, zf_msg_reply(msg, body));
    } else
        s_forward(self, fe, msg);
    zf_msg_destroy(&msg);
}

static void
s_register(self_t *self, zframe_t *identity, zf_msg_t *msg)
{
    s_service_t *svc = NULL;
    for (int i = 0; i < self->nservices; i++) {
        if (zframe_eq(self->services[i].identity, identity)) svc = &self->services[i];
    }
    if (!svc) {
        if (self->nservices == S_MAX_SERVICES) {
            zsys_error("broker: too many services");
            return;
        }
        svc = &self->services[self->nservices++];
        memset(svc, 0, sizeof *svc);
        svc->identity = zframe_dup(identity);
    }
    snprintf(svc->name, sizeof svc->name, "%s",
             json_string_value(json_object_get(msg->body, "name")) ?: "?");
    svc->nprefixes = 0;
    size_t i;
    json_t *p;
    json_array_foreach (json_object_get(msg->body, "prefixes"), i, p) {
        if (json_is_string(p) && svc->nprefixes < S_MAX_PREFIXES) {
            snprintf(svc->prefixes[svc->nprefixes++], 48, "%s", json_string_value(p));
        }
    }
}

//  From a service: a reply to route back ([id][tag][client...]), or a
//  service-originated message ([id][""]: registration or event).
static void
s_handle_service(self_t *self)
{
    zmsg_t *m = zmsg_recv(self->svc);
    if (!m) return;
    zframe_t *identity = zmsg_pop(m);
    zframe_t *tag = zmsg_first(m);
    if (identity && tag && zframe_size(tag) == 1) {
        int fe = -1;
        for (int i = 0; i < S_FE_COUNT; i++) {
            if (zframe_data(tag)[0] == (byte)s_fe_tag[i]) fe = i;
        }
        tag = zmsg_pop(m);
        zframe_destroy(&tag);
        if (fe >= 0 && self->fe[fe]) {
            if (self->tap && self->tap_subs > 0) {
                zmsg_t *copy = zmsg_dup(m);
                zf_msg_t *r = zf_msg_decode(&copy, true, NULL, NULL);
                if (r) s_tap_publish(self, r);
                zf_msg_destroy(&r);
            }
            if (s_send_all(self->fe[fe], &m, true) < 0)
                atomic_fetch_add(&self->owner->unroutable, 1);
            else
                atomic_fetch_add(&self->owner->replies, 1);
        }
    } else if (identity) {
        zmsg_t *raw = self->events && self->events_subs > 0 ? zmsg_dup(m) : NULL;
        //  Events are decoded only if the tap has subscribers (s_tap_publish).
        zf_msg_t *msg = zf_msg_decode_raw(&m, true, NULL, NULL);
        if (msg && strcmp(msg->type, "svc.ready") == 0) {
            zf_msg_set_body(msg, zf_msg_body_decode(msg));
            s_register(self, identity, msg);
        } else if (msg && s_has_prefix(msg->type, "event.")) {
            s_tap_publish(self, msg);
            if (raw) s_events_publish(self, msg->type, &raw);
        }
        zf_msg_destroy(&msg);
        zmsg_destroy(&raw);
    }
    zframe_destroy(&identity);
    zmsg_destroy(&m);
}

/* ---- actor ---------------------------------------------------------------- */

static void
s_self_destroy(self_t **self_p)
{
    self_t *self = *self_p;
    if (!self) return;
    atomic_fetch_sub(&s_tap_listeners, self->tap_subs);
    atomic_fetch_sub(&s_events_listeners, self->events_subs);
    zpoller_destroy(&self->poller);
    for (int i = 0; i < S_FE_COUNT; i++)
        zsock_destroy(&self->fe[i]);
    zsock_destroy(&self->svc);
    zsock_destroy(&self->tap);
    zsock_destroy(&self->events);
    for (int i = 0; i < self->nservices; i++)
        zframe_destroy(&self->services[i].identity);
    free(self);
    *self_p = NULL;
}

//  The events XPUB (one per process: the name is fixed, like the service
//  endpoint's). NULL and *err set if it cannot be bound.
static zsock_t *
s_events_bind(char **err)
{
    zsock_t *s = zsock_new(ZMQ_XPUB);
    zsock_set_sndhwm(s, S_EVENTS_HWM);
    zsock_set_maxmsgsize(s, 4096);  // subscriptions only
    zsock_set_linger(s, 0);
    if (zsock_bind(s, "%s", ZF_EVENTS_ENDPOINT) < 0) {
        if (!*err)
            *err =
                zsys_sprintf("cannot bind %s: %s", ZF_EVENTS_ENDPOINT, zmq_strerror(zmq_errno()));
        zsock_destroy(&s);
    }
    return s;
}

//  Binds everything; on any failure returns NULL with args->err set.
static self_t *
s_self_new(zsock_t *pipe, s_args_t *args)
{
    const zf_broker_conf_t *c = args->conf;
    self_t *self = calloc(1, sizeof *self);
    assert(self);
    self->pipe = pipe;
    self->owner = args->owner;
    snprintf(self->version, sizeof self->version, "%s", c->version ? c->version : "0");
    const char *eps[S_FE_COUNT] = {c->internal_endpoint, c->api_endpoint, c->admin_endpoint};
    for (int i = 0; i < S_FE_COUNT; i++) {
        if (eps[i] && !(self->fe[i] = s_router_bind(eps[i], &args->err))) goto err;
    }
    if (c->admin_endpoint && strncmp(c->admin_endpoint, "ipc://", 6) == 0) {
        if (chmod(c->admin_endpoint + 6, 0600) < 0) {
            args->err = zsys_sprintf("cannot chmod %s: %s", c->admin_endpoint + 6, strerror(errno));
            goto err;
        }
    }
    if (!(self->svc = s_router_bind(c->service_endpoint, &args->err))) goto err;
    if (c->tap_endpoint) {
        self->tap = zsock_new(ZMQ_XPUB);
        zsock_set_sndhwm(self->tap, S_HWM);
        zsock_set_maxmsgsize(self->tap, 4096);  // subscriptions only
        zsock_set_linger(self->tap, 0);
        if (zsock_bind(self->tap, "%s", c->tap_endpoint) < 0) {
            args->err =
                zsys_sprintf("cannot bind %s: %s", c->tap_endpoint, zmq_strerror(zmq_errno()));
            goto err;
        }
    }
    if (!(self->events = s_events_bind(&args->err))) goto err;
    self->poller = zpoller_new(pipe, self->svc, NULL);
    for (int i = 0; i < S_FE_COUNT; i++) {
        if (self->fe[i]) zpoller_add(self->poller, self->fe[i]);
    }
    if (self->tap) zpoller_add(self->poller, self->tap);
    if (self->events) zpoller_add(self->poller, self->events);
    return self;
err:
    s_self_destroy(&self);
    return NULL;
}

//  Serves everything already queued, a bounded number per socket per
//  round: one wake-up handles a burst instead of one poll per message.
static void
s_drain(self_t *self)
{
    for (int round = 0; round < 64; round++) {
        int handled = 0;
        for (int i = 0; i < 32 && (zsock_events(self->svc) & ZMQ_POLLIN); i++, handled++)
            s_handle_service(self);
        for (int f = 0; f < S_FE_COUNT; f++) {
            for (int i = 0; self->fe[f] && i < 32 && (zsock_events(self->fe[f]) & ZMQ_POLLIN);
                 i++, handled++)
                s_handle_frontend(self, f);
        }
        for (int i = 0; self->tap && i < 32 && (zsock_events(self->tap) & ZMQ_POLLIN);
             i++, handled++)
            s_handle_subs(self->tap, &self->tap_subs, &s_tap_listeners);
        for (int i = 0; self->events && i < 32 && (zsock_events(self->events) & ZMQ_POLLIN);
             i++, handled++)
            s_handle_subs(self->events, &self->events_subs, &s_events_listeners);
        if (!handled) break;
    }
}

static void
s_broker_actor(zsock_t *pipe, void *arg)
{
    s_args_t *args = arg;
    self_t *self = s_self_new(pipe, args);
    zf_actor_name("zf-broker");
    zsock_signal(pipe, self ? 0 : 1);
    if (!self) return;
    while (!self->terminated) {
        void *which = zpoller_wait(self->poller, -1);
        if (zpoller_terminated(self->poller)) break;
        if (which == self->pipe) {
            char *cmd = zstr_recv(pipe);
            if (!cmd || streq(cmd, "$TERM")) self->terminated = true;
            zstr_free(&cmd);
        } else if (which)
            s_drain(self);
    }
    s_self_destroy(&self);
}

zf_broker_t *
zf_broker_new(const zf_broker_conf_t *conf, char **err)
{
    zf_broker_t *self = calloc(1, sizeof *self);
    assert(self);
    s_args_t args = {.conf = conf, .owner = self};
    self->actor = zf_actor_start(s_broker_actor, &args, &args.err, err);
    if (!self->actor) {
        free(self);
        return NULL;
    }
    return self;
}

void
zf_broker_destroy(zf_broker_t **self_p)
{
    zf_broker_t *self = *self_p;
    if (!self) return;
    zactor_destroy(&self->actor);
    free(self);
    *self_p = NULL;
}

void
zf_broker_stats(zf_broker_t *self, zf_broker_stats_t *out)
{
    out->routed = atomic_load(&self->routed);
    out->replies = atomic_load(&self->replies);
    out->rejected = atomic_load(&self->rejected);
    out->unroutable = atomic_load(&self->unroutable);
    out->tapped = atomic_load(&self->tapped);
}

int
zf_broker_announce(void *dealer, const char *name, const char *const *prefixes)
{
    zf_msg_t *m = zf_msg_new("svc.ready");
    json_t *list = json_array();
    for (int i = 0; prefixes[i]; i++)
        json_array_append_new(list, json_string(prefixes[i]));
    zf_msg_set_body(m, json_pack("{s:s, s:o}", "name", name, "prefixes", list));
    m->route = zmsg_new();
    zmsg_addmem(m->route, "", 0);
    return zf_msg_send(&m, dealer, 0);
}
