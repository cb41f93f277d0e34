/*  http/http_int.h — the front end's internal structures, shared by
    server.c (civetweb, mounts, threads), pipeline.c (one request),
    framework.c (dialect helpers) and ws.c (events). Not for dialects:
    they see only dialect.h.
*/
#ifndef ZF_HTTP_INT_H
#define ZF_HTTP_INT_H

#include "http/auth.h"
#include "http/dialect.h"
#include "http/http.h"
#include "http/ratelimit.h"
#include "http/router.h"

#include <civetweb.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define ZF_HTTP_PREFIX_MAX 128  // bytes of a mount prefix, with NUL

typedef struct zf_http_ws_t zf_http_ws_t;

typedef struct {
    const zf_http_dialect_t *dialect;  // what is served here
    char prefix[ZF_HTTP_PREFIX_MAX];   // "/api/v2/workflows": no trailing slash
    size_t prefix_len;                 // strlen(prefix)
} zf_http_mount_t;

struct zf_http_t {
    struct mg_context *ctx;                      // civetweb; NULL once stopped
    char *broker_endpoint;                       // where worker DEALERs connect
    char listen[128];                            // ADDR:PORT served (IPv4)
    zf_http_auth_t *auth;                        // API keys, JWTs
    zf_ratelimit_t *ratelimit;                   // per tenant+user; NULL = no limit
    zf_ratelimit_t *ratelimit_addr;              // per client address (limit_by_address)
    size_t max_body;                             // request body limit, bytes
    int body_timeout_ms;                         // a request body arrives within this
    int read_idle_ms;                            // civetweb's request_timeout_ms
    zf_http_mount_t mounts[ZF_HTTP_MAX_MOUNTS];  // longest prefix first
    int nmounts;                                 // mounts in use
    const zf_http_mount_t *fallback;             // v2 mount: answers outside every mount
    zf_http_ws_t *ws;                            // event fan-out
};

//  Per worker thread (civetweb init_thread): its broker socket and the
//  timer that bounds its reads.
typedef struct {
    zf_http_t *srv;   // the server (for the broker endpoint)
    zsock_t *dealer;  // DEALER to the broker, made at the first request that needs it
    timer_t timer;    // signals this thread when a read deadline is due (deadline.c)
    bool has_timer;   // timer was created
} zf_http_thread_t;

//  This worker's DEALER, connected on first use (idle workers that only
//  hold a connection never make one); NULL when it cannot connect.
zsock_t *zf_http_thread_dealer(zf_http_thread_t *t);

//  Read deadlines (deadline.c): while armed, a blocking mg_read on this
//  thread returns (as an error) once ms have passed. Disarm before
//  writing the answer. init/fini run on the worker thread itself.
int zf_http_deadline_init(zf_http_thread_t *t);
void zf_http_deadline_fini(zf_http_thread_t *t);
void zf_http_deadline_arm(zf_http_thread_t *t, int64_t ms);
void zf_http_deadline_disarm(zf_http_thread_t *t);

struct zf_http_req_t {
    zf_http_t *srv;                    // the server
    struct mg_connection *conn;        // civetweb connection
    const struct mg_request_info *ri;  // method, uri, headers
    const zf_http_mount_t *mount;      // matched mount (or a fallback for errors)
    const zf_http_route_t *route;      // matched route, NULL before routing
    zsock_t *dealer;                   // this thread's broker socket
    zf_http_thread_t *thread;          // this worker (read deadlines); NULL if none
    zf_route_params_t params;          // path parameters
    bool body_read;                    // the body was consumed (or there was none)
    char *raw;                         // request body bytes (malloc), NULL = none
    size_t raw_len;                    // bytes in raw
    json_t *body;                      // parsed body object ({} when none)
    zf_http_identity_t who;            // caller, set by authentication
    char request_id[65];               // echoed or generated X-Request-Id
    bool rl_set;                       // rl holds rate-limit headers
    zf_ratelimit_info_t rl;            // this request's rate-limit state
    bool replayed;                     // answer is a stored idempotent one
    bool idem_claimed;                 // this request holds an idempotency claim
    char idem_key[256];                // Idempotency-Key header
    char idem_fp[65];                  // sha256 hex of method, path and body
    bool close;                        // close the connection after answering
    int status;                        // 0 until answered
    char *text;                        // answer body (malloc), set with status
    char detail[64];                   // `detail` of the last error reply ("" none)
    char headers[1024];                // extra answer headers ("Name: v\r\n"...)
    const char *content_type;          // NULL = application/json
    size_t text_len;                   // bytes in text when raw (0 = strlen(text))
    bool streamed;                     // headers and chunks already written
    bool stream_broken;                // a chunk write failed: the client has gone
};

//  civetweb request handler of every path (cbdata: zf_http_t).
int zf_http_pipeline(struct mg_connection *conn, void *cbdata);

//  Answers an error civetweb found itself (a request it could not parse,
//  411, 505, ...) in the error shape of the mount the request line names,
//  if it was parsed that far, else of the fallback mount; closes the
//  connection. Returns 0 (answered); does nothing and returns 0 when the
//  pipeline is answering a request on this thread.
int zf_http_protocol_error(zf_http_t *srv, struct mg_connection *conn, int status);

//  Resolves the Bearer credentials of a connection (header or ?token=,
//  the latter only when allow_query). Returns 0 or an error code; used
//  by the pipeline and by the WebSocket handshake.
int zf_http_authenticate(zf_http_t *srv, zsock_t *dealer, const struct mg_request_info *ri,
                         bool allow_query, zf_http_identity_t *who, const char **why);

//  Dialect error body for code with the mount's renderer, JSON text
//  (malloc'd) and its HTTP status (for code paths without a request).
char *zf_http_error_text(const zf_http_mount_t *mount, const char *code, const char *message,
                         int *status);

//  Event fan-out (ws.c): registers <prefix>/events for every mount whose
//  dialect has events and starts the SUB thread.
//  Stopping is separate from destroying: the forwarding thread stops
//  before civetweb does, the registry goes after civetweb has run every
//  close handler.
zf_http_ws_t *zf_http_ws_new(zf_http_t *srv, const char *events_endpoint, char **err);
void zf_http_ws_stop(zf_http_ws_t *self);
void zf_http_ws_destroy(zf_http_ws_t **self_p);

//  Idempotency (idem.c): true when the request was answered here (a
//  replay, a conflict or an error); else the handler runs and
//  zf_http_idem_finish records its answer.
bool zf_http_idem_begin(zf_http_req_t *req);
void zf_http_idem_finish(zf_http_req_t *req);

//  The registered dialects (dialects/registry.c), NULL-terminated.
extern const zf_http_dialect_t *const zf_http_dialects[];

#endif
