/*  http/server.c — civetweb set-up, mounts and worker-thread sockets.

    One catch-all request handler runs the pipeline for every path; the
    pipeline finds the mount and route itself, so unknown paths get a JSON
    404 in a dialect's shape rather than civetweb's HTML. civetweb is
    thread-per-connection: each worker thread gets its own DEALER to the
    broker, made at its first request and closed in exit_thread (a socket
    lives and dies in its thread), and its own read deadline timer
    (deadline.c).

    Being thread-per-connection, civetweb has a worker busy for every
    connection it serves, idle or not. What keeps a crowd of idle or slow
    connections from taking every worker for long: many workers (a
    worker is a thread, an unused 16 KiB buffer and, once it has served
    a request, a DEALER), a short bound on the request head and on the
    keep-alive wait, and a wall-clock bound on bodies (pipeline.c).
*/
#include "http/http_int.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <pthread.h>
#include <arpa/inet.h>

#define S_AUTH_CACHE_MS  1000  // API keys: revocation takes effect within this
#define S_AUTH_CACHE_MAX 10000
#define S_RL_MAX_USERS   100000
#define S_RL_MAX_ADDRS   100000  // client addresses counted at once (limit_by_address)

static const zf_http_dialect_t *
s_dialect(const char *name, size_t len)
{
    for (int i = 0; zf_http_dialects[i]; i++) {
        if (strlen(zf_http_dialects[i]->name) == len &&
            strncmp(zf_http_dialects[i]->name, name, len) == 0)
            return zf_http_dialects[i];
    }
    return NULL;
}

static bool
s_prefix_valid(const char *p)
{
    size_t n = strlen(p);
    if (n < 2 || n >= ZF_HTTP_PREFIX_MAX || p[0] != '/' || p[n - 1] == '/' || strstr(p, "//"))
        return false;
    return strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-_.~") == n;
}

int
zf_http_mount_check(const char *spec, char *err, size_t errlen)
{
    const char *eq = strchr(spec, '=');
    if (!eq || !s_dialect(spec, (size_t)(eq - spec))) {
        size_t off = (size_t)snprintf(err, errlen, "--mount expects NAME=PREFIX with NAME one of");
        for (int i = 0; zf_http_dialects[i] && off < errlen; i++)
            off += (size_t)snprintf(err + off, errlen - off, " %s", zf_http_dialects[i]->name);
        return -1;
    }
    if (!s_prefix_valid(eq + 1)) {
        snprintf(err, errlen, "--mount %.*s: PREFIX must look like /api/v2/workflows",
                 (int)(eq - spec), spec);
        return -1;
    }
    return 0;
}

//  Adds one mount; longest prefixes stay first so the most specific wins.
static int
s_mount_add(zf_http_t *self, const zf_http_dialect_t *d, const char *prefix, char **err)
{
    for (int i = 0; i < self->nmounts; i++) {
        if (strcmp(self->mounts[i].prefix, prefix) == 0) {
            *err = zsys_sprintf("--mount: prefix %s is mounted twice", prefix);
            return -1;
        }
    }
    if (self->nmounts == ZF_HTTP_MAX_MOUNTS) {
        *err = zsys_sprintf("too many mounts (at most %d)", ZF_HTTP_MAX_MOUNTS);
        return -1;
    }
    zf_http_mount_t m = {.dialect = d, .prefix_len = strlen(prefix)};
    snprintf(m.prefix, sizeof m.prefix, "%s", prefix);
    int at = self->nmounts++;
    while (at > 0 && self->mounts[at - 1].prefix_len < m.prefix_len) {
        self->mounts[at] = self->mounts[at - 1];
        at--;
    }
    self->mounts[at] = m;
    return 0;
}

//  --mount NAME=PREFIX entries, then every dialect not named at its
//  default prefix.
static int
s_mounts_setup(zf_http_t *self, const char *const *specs, char **err)
{
    char why[256];
    bool named[32] = {false};
    for (int i = 0; specs && specs[i]; i++) {
        if (zf_http_mount_check(specs[i], why, sizeof why) < 0) {
            *err = strdup(why);
            return -1;
        }
        const char *eq = strchr(specs[i], '=');
        const zf_http_dialect_t *d = s_dialect(specs[i], (size_t)(eq - specs[i]));
        for (int k = 0; zf_http_dialects[k] && k < 32; k++)
            if (zf_http_dialects[k] == d) named[k] = true;
        if (s_mount_add(self, d, eq + 1, err) < 0) return -1;
    }
    for (int k = 0; zf_http_dialects[k] && k < 32; k++) {
        if (!named[k] &&
            s_mount_add(self, zf_http_dialects[k], zf_http_dialects[k]->default_prefix, err) < 0)
            return -1;
    }
    self->fallback = &self->mounts[0];  // the native v2 shape answers outside every mount
    for (int i = self->nmounts - 1; i >= 0; i--) {
        if (strcmp(self->mounts[i].dialect->name, "v2") == 0) self->fallback = &self->mounts[i];
    }
    return 0;
}

static void *
s_init_thread(const struct mg_context *ctx, int thread_type)
{
    if (thread_type != 1) return NULL;  // only workers serve requests
    zf_http_thread_t *t = calloc(1, sizeof *t);
    assert(t);
    t->srv = mg_get_user_data(ctx);
    if (zf_http_deadline_init(t) < 0)
        zsys_warning("http: no read deadline timer on a worker (%s)", strerror(errno));
    return t;
}

zsock_t *
zf_http_thread_dealer(zf_http_thread_t *t)
{
    if (!t) return NULL;
    if (!t->dealer) {
        t->dealer = zf_http_dealer_new(t->srv->broker_endpoint);
        if (!t->dealer) zsys_error("http: worker cannot connect to %s", t->srv->broker_endpoint);
    }
    return t->dealer;
}

static void
s_exit_thread(const struct mg_context *ctx, int thread_type, void *ptr)
{
    (void)ctx;
    (void)thread_type;
    zf_http_thread_t *t = ptr;
    if (!t) return;
    zsock_destroy(&t->dealer);
    zf_http_deadline_fini(t);
    free(t);
    zf_http_auth_thread_end();
}

//  civetweb's own messages can quote request lines (and so ?token=):
//  they are dropped; start-up failures come back through mg_start2.
static int
s_log_message(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    (void)message;
    return 1;
}

//  civetweb listening_ports value: IPv4 "ADDR:PORT" (a bare port binds
//  127.0.0.1 only). civetweb is built without IPv6 here.
static int
s_listen_spec(const char *listen, char *out, size_t outlen, char **err)
{
    const char *colon = strrchr(listen, ':');
    const char *port = colon ? colon + 1 : listen;
    size_t plen = strlen(port);
    if (plen == 0 || plen > 5 || strspn(port, "0123456789") != plen || atoi(port) > 65535 ||
        strchr(listen, '[') || (colon && colon == listen)) {
        *err = zsys_sprintf("--http expects ADDR:PORT, e.g. 127.0.0.1:8080 (got \"%s\")", listen);
        return -1;
    }
    if (colon)
        snprintf(out, outlen, "%s", listen);
    else
        snprintf(out, outlen, "127.0.0.1:%s", port);
    return 0;
}

//  Errors civetweb answers itself (garbage request line, 411, 505,
//  oversized headers) are answered like ours: JSON in the error shape of
//  the mount the request names (v2's when it names none or could not be
//  parsed), with X-Request-Id and the dialect's headers. civetweb's text
//  may quote the request: it is not used.
static int
s_http_error(struct mg_connection *conn, int status, const char *msg)
{
    (void)msg;
    zf_http_t *self = mg_get_user_data(mg_get_context(conn));
    return self ? zf_http_protocol_error(self, conn, status) : 1;
}

//  Starts civetweb with our options; the reason of a failure (e.g. the
//  port is taken) comes back in *err. What civetweb 1.15's timeouts
//  cover (read from its source): request_timeout_ms bounds the head of a
//  connection's first request, counted from when a worker takes the
//  connection (a head that keeps trickling is cut at the next read after
//  the bound), and bounds each silence in a body read and each stalled
//  write; keep_alive_timeout_ms replaces it for the head of every later
//  request on the connection, i.e. the idle keep-alive wait. Neither
//  bounds a body in total: that is deadline.c's (--http-body-timeout).
static int
s_start(zf_http_t *self, const char *listen, const zf_http_conf_t *conf, char **err)
{
    static const struct mg_callbacks cb = {.init_thread = s_init_thread,
                                           .exit_thread = s_exit_thread,
                                           .log_message = s_log_message,
                                           .http_error = s_http_error};
    char nthreads[16], head_ms[16], idle_ms[16];
    snprintf(nthreads, sizeof nthreads, "%d",
             conf->threads > 0 ? conf->threads : ZF_HTTP_DEFAULT_THREADS);
    snprintf(head_ms, sizeof head_ms, "%d", self->read_idle_ms);
    snprintf(idle_ms, sizeof idle_ms, "%d",
             conf->keepalive_timeout_ms > 0 ? conf->keepalive_timeout_ms
                                            : ZF_HTTP_DEFAULT_KEEPALIVE_MS);
    const char *opts[] = {"listening_ports",
                          listen,
                          "num_threads",
                          nthreads,
                          "enable_keep_alive",
                          "yes",
                          "keep_alive_timeout_ms",
                          idle_ms,
                          "tcp_nodelay",
                          "1",
                          "request_timeout_ms",
                          head_ms,
                          "connection_queue",
                          "256",
                          "listen_backlog",
                          "1024",
                          "enable_websocket_ping_pong",
                          "yes",
                          "websocket_timeout_ms",
                          "30000",
                          "max_request_size",
                          "16384",
                          "decode_url",
                          "no",  // the router decodes each captured segment (pipeline.c)
                          NULL};
    unsigned code = 0;
    char text[256] = "";
    struct mg_error_data ed = {.code = &code, .text = text, .text_buffer_size = sizeof text};
    struct mg_init_data init = {.callbacks = &cb, .user_data = self, .configuration_options = opts};
    snprintf(self->listen, sizeof self->listen, "%s", listen);
    self->ctx = mg_start2(&init, &ed);
    if (!self->ctx) {
        *err =
            zsys_sprintf("cannot serve HTTP on %s: %s", listen, text[0] ? text : "start-up failed");
        return -1;
    }
    mg_set_request_handler(self->ctx, "/", zf_http_pipeline, self);
    return 0;
}

typedef struct {
    struct mg_context *ctx;  // server to stop
    atomic_int done;         // mg_stop returned
} s_stopper_t;

static void *
s_stopper(void *arg)
{
    s_stopper_t *st = arg;
    mg_stop(st->ctx);
    atomic_store(&st->done, 1);
    return NULL;
}

//  mg_stop waits for civetweb's accept loop, which only sees the stop
//  flag when its poll ends: 1-2 s on an idle server (measured 1.7 s). A
//  connection to our own port ends that poll at once, so shutdown takes
//  ~20 ms and timers due during it do not fire in a half-stopped server.
static void
s_stop(zf_http_t *self)
{
    s_stopper_t st = {.ctx = self->ctx};
    pthread_t th;
    if (pthread_create(&th, NULL, s_stopper, &st) != 0) {
        mg_stop(self->ctx);
        return;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET};
    char host[128];
    snprintf(host, sizeof host, "%s", self->listen);
    char *colon = strrchr(host, ':');
    if (colon) {
        *colon = '\0';
        sa.sin_port = htons((uint16_t)atoi(colon + 1));
    }
    bool can_poke = colon && inet_pton(AF_INET, host, &sa.sin_addr) == 1;
    while (!atomic_load(&st.done)) {
        if (can_poke) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd >= 0) {
                (void)connect(fd, (struct sockaddr *)&sa, sizeof sa);
                close(fd);
            }
        }
        zclock_sleep(20);
    }
    pthread_join(th, NULL);
}

zf_http_t *
zf_http_new(const zf_http_conf_t *conf, char **err)
{
    *err = NULL;
    char listen[128];
    if (s_listen_spec(conf->listen ? conf->listen : "127.0.0.1:8080", listen, sizeof listen, err))
        return NULL;
    zf_http_t *self = calloc(1, sizeof *self);
    assert(self);
    self->broker_endpoint = strdup(conf->broker_endpoint);
    self->max_body = conf->max_body;
    self->body_timeout_ms =
        conf->body_timeout_ms > 0 ? conf->body_timeout_ms : ZF_HTTP_DEFAULT_BODY_TIMEOUT_MS;
    self->read_idle_ms =
        conf->header_timeout_ms > 0 ? conf->header_timeout_ms : ZF_HTTP_DEFAULT_HEADER_TIMEOUT_MS;
    self->auth = zf_http_auth_new(conf->jwt_secret, S_AUTH_CACHE_MS, S_AUTH_CACHE_MAX);
    if (conf->rate_limit > 0) {
        self->ratelimit = zf_ratelimit_new(conf->rate_limit, 60000, S_RL_MAX_USERS);
        self->ratelimit_addr = zf_ratelimit_new(conf->rate_limit, 60000, S_RL_MAX_ADDRS);
    }
    mg_init_library(0);
    if (s_mounts_setup(self, conf->mounts, err) < 0 || s_start(self, listen, conf, err) < 0 ||
        !(self->ws = zf_http_ws_new(self, conf->events_endpoint, err))) {
        zf_http_destroy(&self);
        return NULL;
    }
    return self;
}

void
zf_http_destroy(zf_http_t **self_p)
{
    if (!self_p || !*self_p) return;
    zf_http_t *self = *self_p;
    zf_http_ws_stop(self->ws);  // no event writes while connections close
    if (self->ctx) s_stop(self);
    self->ctx = NULL;
    zf_http_ws_destroy(&self->ws);
    mg_exit_library();
    zf_ratelimit_destroy(&self->ratelimit);
    zf_ratelimit_destroy(&self->ratelimit_addr);
    zf_http_auth_destroy(&self->auth);
    free(self->broker_endpoint);
    free(self);
    *self_p = NULL;
}

void
zf_http_describe(const zf_http_t *self, char *out, size_t outlen)
{
    size_t off = 0;
    out[0] = '\0';
    for (int i = 0; i < self->nmounts && off < outlen; i++)
        off += (size_t)snprintf(out + off, outlen - off, "%s%s=%s", i ? "," : "",
                                self->mounts[i].dialect->name, self->mounts[i].prefix);
}
