/*  http/dialect.h — what a dialect (one seed API) plugs into the pipeline.

    A dialect is one file in http/dialects/ exporting one const
    zf_http_dialect_t: a route table and an error renderer. The pipeline
    does everything generic — mount prefix, routing and path parameters,
    body size limit, strict JSON, authentication, role check, rate limit,
    idempotency keys, request ids, headers — and then calls the route's
    handler, which validates its input, makes its broker round trip(s)
    with zf_http_call and answers exactly once with zf_http_respond or
    zf_http_fail. The pipeline writes the answer.

    Roles: a route's min_role is ZF_HTTP_PUBLIC (no authentication) or the
    weakest role allowed (viewer < member < admin < owner). Error codes are
    the project's (broker/errors.h), plus the string codes of the pipeline
    (idempotency_mismatch, idempotency_in_progress); each dialect maps them
    to its HTTP statuses (status_for, or the shared table) and renders its
    error body (render_error).

    To add a dialect: write http/dialects/<name>.c, list it in
    http/dialects/registry.c and http/CMakeLists.txt.
*/
#ifndef ZF_HTTP_DIALECT_H
#define ZF_HTTP_DIALECT_H

#include "broker/errors.h"
#include "http/call.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    ZF_HTTP_PUBLIC = 0,  // no credentials needed, not rate limited
    ZF_HTTP_VIEWER = 1,  // reads
    ZF_HTTP_MEMBER = 2,  // also executes and terminates runs
    ZF_HTTP_ADMIN = 3,   // also creates, updates and deletes workflows
    ZF_HTTP_OWNER = 4
};

#define ZF_HTTP_CALL_TIMEOUT_MS 15000  // default broker round-trip timeout

typedef struct zf_http_req_t zf_http_req_t;

typedef void(zf_http_handler_fn)(zf_http_req_t *req);

typedef struct {
    const char *method;           // "GET", "POST", "PATCH", "DELETE", ...; NULL ends a table
    const char *pattern;          // relative to the mount: "", "/health", "/:id/runs/:runId"
    int min_role;                 // ZF_HTTP_PUBLIC or the weakest role allowed
    zf_http_handler_fn *handler;  // answers with zf_http_respond / zf_http_fail
} zf_http_route_t;

typedef struct {
    const char *name;               // mount name ("v2"), used by --mount NAME=PREFIX
    const char *default_prefix;     // e.g. "/api/v2/workflows"
    const zf_http_route_t *routes;  // first match wins; ends with {NULL}
    //  Error body in the dialect's shape (new reference). code: wire code
    //  ("not_found", "idempotency_mismatch", ...), message: for humans.
    json_t *(*render_error)(int status, const char *code, const char *message);
    //  HTTP status for an error code; NULL = zf_http_status_for.
    int (*status_for)(const char *code);
    //  Live events: the JSON text (malloc'd) of one engine event for this
    //  dialect's WebSocket clients at <prefix>/events, or NULL to skip the
    //  event. type: "event.run.step", ...; body: the event's body; ts:
    //  Unix ms. NULL = no event stream.
    char *(*render_event)(const char *type, const json_t *body, int64_t ts);
    //  Extra headers on every answer of this dialect ("Name: value\r\n"...),
    //  e.g. "LW-API-Version: 2025-01-15\r\n"; NULL = none.
    const char *headers;
    //  Public routes of this dialect take application/x-www-form-urlencoded
    //  bodies (HTML forms) unparsed: zf_http_body is then {} and the
    //  handler reads fields with zf_http_form. false = JSON only.
    bool form_bodies;
    //  Every answer carries X-RateLimit-*: answers no authenticated caller
    //  is charged for (public routes, 401, unknown routes, errors of the
    //  HTTP layer) are counted per client address, with the same limit and
    //  window as --rate-limit; over it, such a request is answered 429.
    //  false = only authenticated answers are counted (and carry them).
    bool limit_by_address;
} zf_http_dialect_t;

/* ---- request accessors ---------------------------------------------------- */

//  Path parameter (":id") of the matched route, borrowed; NULL if none.
const char *zf_http_param(const zf_http_req_t *req, const char *name);
//  Query parameter, URL-decoded into out. Returns its length, -1 if
//  absent, or ZF_HTTP_QUERY_BAD (out = "") if present but longer than
//  outlen - 1 or holding a NUL (%00): a value no parameter accepts, which
//  the caller answers as invalid, never as absent.
#define ZF_HTTP_QUERY_BAD (-2)
int zf_http_query(const zf_http_req_t *req, const char *name, char *out, size_t outlen);
//  Integer query parameter in [min, max] (default def when absent).
//  Returns 0, or ZF_EINVAL if present but not such an integer (empty,
//  signs or spaces around it, %00 in it, out of range).
int zf_http_query_int(const zf_http_req_t *req, const char *name, int64_t def, int64_t min,
                      int64_t max, int64_t *out);
//  The query string as an object of URL-decoded names and string values
//  (new reference; the first of repeated names wins; empty names are
//  skipped). NULL and *why (static text) when it has over 64 parameters,
//  a name over 256 bytes or a value over 4096, or one that is not UTF-8
//  text without NUL: the caller answers 400 with why.
json_t *zf_http_query_map(const zf_http_req_t *req, const char **why);
//  Parsed JSON body (borrowed): always an object; {} when the request had none.
json_t *zf_http_body(const zf_http_req_t *req);
//  A request header's value (borrowed, case-insensitive name), NULL if absent.
const char *zf_http_req_header(const zf_http_req_t *req, const char *name);
//  The client's IP address as text (the TCP peer: proxies' X-Forwarded-For
//  is not trusted) into out; returns its length, or -1.
int zf_http_client_ip(const zf_http_req_t *req, char *out, size_t outlen);
//  True when the request's Content-Type is application/x-www-form-urlencoded
//  (parameters such as "; charset=utf-8" may follow).
bool zf_http_is_form(const zf_http_req_t *req);
//  A field of an application/x-www-form-urlencoded body, URL-decoded into
//  out. Returns its length, or -1 if absent, too long or the body is not
//  form-encoded. (Only dialects with .form_bodies get such bodies.)
int zf_http_form(const zf_http_req_t *req, const char *name, char *out, size_t outlen);
//  The authenticated caller (all fields "" on public routes).
const zf_http_identity_t *zf_http_who(const zf_http_req_t *req);
//  The request id, as sent in the answer's X-Request-Id header. With req
//  NULL: the id of the request whose error body this thread is rendering
//  (for a dialect's render_error), or NULL when there is none.
const char *zf_http_request_id(const zf_http_req_t *req);

/* ---- broker ---------------------------------------------------------------- */

//  One broker round trip as the caller: sends type with body (taken).
//  Returns 0 and *result (new ref: the reply body), or the error code of
//  an error reply / a failed round trip (ZF_ETIMEOUT, ZF_EUNAVAIL); then
//  msg (if not NULL) holds the reply's message ("" when none).
int zf_http_call(zf_http_req_t *req, const char *type, json_t *body, int64_t timeout_ms,
                 json_t **result, char *msg, size_t msglen);
//  The string `detail` of the last error reply of zf_http_call on this
//  request (a finer code such as "record_not_found"), "" when none.
const char *zf_http_last_detail(const zf_http_req_t *req);

/* ---- answers ---------------------------------------------------------------- */

//  Answers with status and a JSON body (taken).
void zf_http_respond(zf_http_req_t *req, int status, json_t *body);
//  Answers with the dialect's error for a zflow error code. ZF_EIO and
//  unknown codes always get a generic message: internals never leak.
void zf_http_fail(zf_http_req_t *req, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
//  Same with an explicit HTTP status and wire code.
void zf_http_fail_code(zf_http_req_t *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

//  Adds a header to the answer (up to 1 KiB of extra headers in all;
//  names and values with CR or LF are refused). Returns 0 or ZF_EINVAL.
int zf_http_header(zf_http_req_t *req, const char *name, const char *value);
//  Answers with status, a content type and a body that is not JSON (taken:
//  malloc'd, len bytes), e.g. an HTML page or a download.
void zf_http_respond_raw(zf_http_req_t *req, int status, const char *content_type, char *body,
                         size_t len);
//  Streams a large answer: begin writes the status line and headers
//  (chunked transfer encoding), write sends one chunk (len > 0), and the
//  pipeline ends the stream after the handler returns. Headers added
//  before begin are sent. Returns 0, or -1 when the client has gone (stop
//  writing). After begin the handler must not call respond or fail.
int zf_http_stream_begin(zf_http_req_t *req, int status, const char *content_type);
int zf_http_stream_write(zf_http_req_t *req, const void *buf, size_t len);

/* ---- shared helpers ------------------------------------------------------- */

//  The shared code -> HTTP status table (validation 400, unauthorized 401,
//  forbidden 403, not_found 404, conflict 409, too_large 413,
//  idempotency_mismatch 422, rate_limited 429, internal 500,
//  not_implemented 501, unavailable 503, timeout 504, ...).
int zf_http_status_for(const char *code);
//  Reason phrase of an HTTP status ("Not Found").
const char *zf_http_reason(int status);
//  ISO-8601 UTC with milliseconds of Unix ms: "2026-03-19T18:00:00.000Z".
void zf_http_iso(int64_t ms, char out[32]);
//  A JSON time: ISO string for an integer Unix ms value, null otherwise
//  (new reference).
json_t *zf_http_time_json(const json_t *ms);
//  A run's error for a view: the core's {code, message, node_id} (or a
//  bare string) shown as its message string, or null (new reference).
json_t *zf_http_run_error(const json_t *err);
//  Copies src if it is a JSON value, else null (new reference).
json_t *zf_http_or_null(const json_t *src);

#endif
