/*  http/pipeline.c — one HTTP request, start to finish.

    mount + route -> body size limit -> strict JSON -> authentication ->
    rate limit -> role -> idempotency claim -> dialect handler (its broker
    round trip) -> idempotency record -> one write of head and body.
    Every answer carries X-Request-Id and Content-Type: application/json;
    authenticated ones carry the X-RateLimit-* headers, and so does every
    answer of a dialect with limit_by_address (counted per client address
    when no caller is authenticated). Errors civetweb finds itself come
    back through zf_http_protocol_error and are written the same way.
*/
#include "http/http_int.h"

#include "broker/ids.h"
#include "http/json.h"

#include <assert.h>
#include <ctype.h>
#include <strings.h>

/* ---- request id, mount, route ---------------------------------------------- */

//  Echoes a sane incoming X-Request-Id (1..64 of [A-Za-z0-9._-]), else
//  makes a new one.
static void
s_request_id(zf_http_req_t *req)
{
    const char *in = mg_get_header(req->conn, "X-Request-Id");
    size_t n = in ? strlen(in) : 0;
    if (n >= 1 && n <= 64 &&
        strspn(in, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n)
        memcpy(req->request_id, in, n + 1);
    else
        zf_uuid7(req->request_id);
}

//  The mount serving path (longest prefix wins: mounts are kept sorted),
//  and the rest of the path after the prefix, without a trailing slash.
//  A rest too long for restlen is S_REST_TOO_LONG, which no route matches
//  (patterns are "" or start with "/"): the mount's dialect answers 404
//  in its own envelope, as for any other path it has no route for.
#define S_REST_TOO_LONG "\x01"
static const zf_http_mount_t *
s_find_mount(zf_http_t *srv, const char *path, char *rest, size_t restlen)
{
    for (int i = 0; i < srv->nmounts; i++) {
        const zf_http_mount_t *m = &srv->mounts[i];
        if (strncmp(path, m->prefix, m->prefix_len) != 0) continue;
        const char *r = path + m->prefix_len;
        if (*r != '\0' && *r != '/') continue;
        size_t len = strlen(r);
        if (len > 0 && r[len - 1] == '/') len--;
        if (len >= restlen) {
            snprintf(rest, restlen, "%s", S_REST_TOO_LONG);
            return m;
        }
        memcpy(rest, r, len);
        rest[len] = '\0';
        return m;
    }
    return NULL;
}

//  Whether every "%" of the path (as sent: civetweb runs with
//  decode_url=no) starts a two-hex-digit escape other than %00. Decoding
//  is the router's, one captured segment at a time, so an encoded "/"
//  stays inside its segment and an encoded NUL cannot cut an id short
//  ("/workflows/<id>%00/runs" used to reach the workflow itself).
static bool
s_path_encoding_ok(const char *path)
{
    for (const char *p = strchr(path, '%'); p; p = strchr(p + 1, '%')) {
        if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2])) return false;
        if (p[1] == '0' && p[2] == '0') return false;
    }
    return true;
}

//  Sets the mount (when the path is under one) and the route: 1 when a
//  route matches, 0 when none does (the caller answers 404), -1 for a
//  malformed path (answered 400 here).
static int
s_route(zf_http_req_t *req)
{
    const char *path = req->ri->local_uri ? req->ri->local_uri : "";
    char rest[512];
    const zf_http_mount_t *m = s_find_mount(req->srv, path, rest, sizeof rest);
    if (m) req->mount = m;
    if (!s_path_encoding_ok(path)) {
        zf_http_fail(req, ZF_EINVAL,
                     "Malformed path: every %% must start a two-digit hex escape, and %%00 "
                     "is not allowed");
        return -1;
    }
    //  HEAD is GET without the body (RFC 9110 9.3.2): it takes the GET
    //  route, and the answer drops the body (s_send).
    const char *method = req->ri->request_method ? req->ri->request_method : "";
    if (strcmp(method, "HEAD") == 0) method = "GET";
    for (const zf_http_route_t *r = m ? m->dialect->routes : NULL; r && r->method; r++) {
        if (strcmp(r->method, method) == 0 && zf_route_match(r->pattern, rest, &req->params)) {
            req->route = r;
            return 1;
        }
    }
    return 0;
}

/* ---- what a request is for (security events) ------------------------------- */

//  "<METHOD> <mount prefix><route pattern>" of a routed request, e.g.
//  "DELETE /api/v2/workflows/:id": names the route, never the raw path,
//  whose ids would split the engine's windows and put client bytes into
//  the evidence.
static void
s_request_label(const zf_http_req_t *req, char *out, size_t len)
{
    snprintf(out, len, "%s %s%s", req->route->method, req->mount->prefix, req->route->pattern);
}

//  The same without a route (the WebSocket handshake): the method and the
//  mount, "GET /api/v2/workflows/*" when the path is below the prefix.
static void
s_mount_label(zf_http_t *srv, const struct mg_request_info *ri, char *out, size_t len)
{
    char rest[512];
    const zf_http_mount_t *m =
        s_find_mount(srv, ri->local_uri ? ri->local_uri : "", rest, sizeof rest);
    const char *method = ri->request_method ? ri->request_method : "?";
    if (m)
        snprintf(out, len, "%.16s %s%s", method, m->prefix, rest[0] ? "/*" : "");
    else
        snprintf(out, len, "%.16s *", method);
}

/* ---- framing ----------------------------------------------------------------- */

//  How many header fields are called name; *first gets the first value.
static int
s_header_count(const struct mg_request_info *ri, const char *name, const char **first)
{
    int n = 0;
    for (int i = 0; i < ri->num_headers; i++) {
        if (strcasecmp(ri->http_headers[i].name, name) != 0) continue;
        if (n++ == 0 && first) *first = ri->http_headers[i].value;
    }
    return n;
}

//  The digits of a Content-Length value without leading zeros, into
//  out; false unless it is 1*DIGIT (civetweb drops the blanks before a
//  value, not the ones after it, and its strtoll takes "+5" and "5abc").
static bool
s_length_digits(const char *v, char *out, size_t outlen)
{
    size_t n = strspn(v, "0123456789");
    if (n == 0 || v[n + strspn(v + n, " \t")] != '\0') return false;
    while (n > 1 && *v == '0')
        v++, n--;
    if (n >= outlen) n = outlen - 1;  // past 20 digits it is over any limit anyway
    memcpy(out, v, n);
    out[n] = '\0';
    return true;
}

//  Every Content-Length field is one decimal number, and all say the
//  same (RFC 9110 8.6). civetweb takes the first and ignores the others.
static bool
s_content_length_ok(const struct mg_request_info *ri)
{
    char first[24] = "", digits[24];
    for (int i = 0; i < ri->num_headers; i++) {
        if (strcasecmp(ri->http_headers[i].name, "Content-Length") != 0) continue;
        if (!s_length_digits(ri->http_headers[i].value, digits, sizeof digits)) return false;
        if (first[0] && strcmp(first, digits) != 0) return false;
        memcpy(first, digits, sizeof first);
    }
    return true;
}

//  A framing error is answered like civetweb's own (zf_http_protocol_error):
//  counted per client address where the dialect wants that, never
//  refused for it, and the connection is closed: where the body ends is
//  not known.
static bool
s_framing_refused(zf_http_req_t *req)
{
    zf_ratelimit_t *rl = req->srv->ratelimit_addr;
    if (rl && req->mount->dialect->limit_by_address) {
        (void)zf_ratelimit_hit(rl, req->ri->remote_addr, zf_now_ms(), &req->rl);
        req->rl_set = true;
    }
    req->close = true;
    return false;
}

//  What civetweb lets through but a request must not be (RFC 9112 6.1,
//  6.3): Transfer-Encoding with Content-Length (civetweb reads it as
//  chunked, a proxy in front may have used the length: the classic
//  request smuggling pair), a Transfer-Encoding other than one
//  "chunked", Content-Length fields that are not one number or disagree
//  (civetweb takes the first). And a head that fills civetweb's table of
//  MG_MAX_HEADERS (64) fields: it drops the fields after the 64th
//  without a word, so a full table may be hiding some (an Authorization
//  there was not seen); at most 63 are accepted, more is 431.
static bool
s_framing_ok(zf_http_req_t *req)
{
    const struct mg_request_info *ri = req->ri;
    if (ri->num_headers >= MG_MAX_HEADERS) {
        zf_http_fail_code(req, 431, "too_large",
                          "Too many request header fields: at most %d are accepted",
                          MG_MAX_HEADERS - 1);
        return s_framing_refused(req);
    }
    const char *te = NULL, *why = NULL;
    int nte = s_header_count(ri, "Transfer-Encoding", &te);
    if (nte > 0 && s_header_count(ri, "Content-Length", NULL) > 0)
        why = "A request must not carry both Transfer-Encoding and Content-Length";
    else if (nte > 1 || (nte == 1 && strcasecmp(te, "chunked") != 0))
        why = "Transfer-Encoding must be chunked, given once";
    else if (!s_content_length_ok(ri))
        why = "Content-Length must be one decimal number (repeated fields must agree)";
    if (!why) return true;
    zf_http_fail_code(req, 400, "validation", "%s", why);
    return s_framing_refused(req);
}

/* ---- body ------------------------------------------------------------------ */

//  Whether a body read that ended early was cut by time: the body
//  deadline passed, or the last read waited out civetweb's idle bound
//  (request_timeout_ms, --http-header-timeout) for bytes that never came.
static bool
s_read_timed_out(const zf_http_req_t *req, int64_t until, int64_t read_began)
{
    int64_t now = zclock_mono();
    return now >= until || now - read_began >= req->srv->read_idle_ms * 9 / 10;
}

//  The end of s_read_body when the body stopped short: 408 when it was
//  cut by time, else 400 (a malformed chunk, a client that closed).
static bool
s_body_short(zf_http_req_t *req, bool timed_out, bool chunked)
{
    req->close = true;
    if (timed_out)
        zf_http_fail_code(req, 408, "timeout",
                          "The request body was not received in time (within %d ms, and "
                          "no pause over %d ms)",
                          req->srv->body_timeout_ms, req->srv->read_idle_ms);
    else if (chunked)
        zf_http_fail(req, ZF_EINVAL, "Malformed chunked request body");
    else
        zf_http_fail(req, ZF_EINVAL, "Request body is shorter than its Content-Length");
    return false;
}

//  Reads the body, refusing it from Content-Length before reading a byte,
//  and while reading when it is chunked. A refused body is not parsed;
//  the connection is closed after the answer (and s_drain'ed first).
//  The whole body must arrive within --http-body-timeout: civetweb's
//  own bound is only on silences, which a trickling client never
//  exceeds (deadline.c).
static bool
s_read_body(zf_http_req_t *req)
{
    long long cl = req->ri->content_length;
    bool chunked = mg_get_header(req->conn, "Transfer-Encoding") != NULL;  // "chunked": framed
    size_t max = req->srv->max_body;
    req->body_read = true;
    if (cl < 0 && !chunked) return true;  // no Content-Length, not chunked: no body (RFC 9112)
    if (cl > (long long)max) {
        req->body_read = false;
        zf_http_fail(req, ZF_ELIMIT, "Request body exceeds the limit of %zu bytes", max);
        return false;
    }
    size_t cap = cl >= 0 ? (size_t)cl : max + 1, len = 0, alloc = cl >= 0 ? cap + 1 : 65536;
    char *buf = malloc(alloc);
    assert(buf);
    int64_t until = zclock_mono() + req->srv->body_timeout_ms, began = zclock_mono();
    int n = 0;
    if (cap > 0) zf_http_deadline_arm(req->thread, req->srv->body_timeout_ms);
    while (len < cap && zclock_mono() < until) {
        if (len == alloc - 1) buf = realloc(buf, alloc = alloc * 2 > cap + 1 ? cap + 1 : alloc * 2);
        assert(buf);
        began = zclock_mono();
        n = mg_read(req->conn, buf + len, alloc - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
    }
    if (cap > 0) zf_http_deadline_disarm(req->thread);
    req->raw = buf;
    req->raw_len = len;
    if (len > max) {
        req->close = true;
        zf_http_fail(req, ZF_ELIMIT, "Request body exceeds the limit of %zu bytes", max);
        return false;
    }
    bool complete = cl >= 0 ? len == (size_t)cl : n == 0;  // chunked: mg_read's 0 is the end
    if (!complete) return s_body_short(req, s_read_timed_out(req, until, began), chunked);
    return true;
}

//  After an answer that closes the connection, reads and drops what is
//  left of the request body, at most S_DRAIN_MAX bytes for S_DRAIN_MS.
//  Closing a socket with unread bytes makes the kernel send a reset, and
//  a client still sending its body (curl without Expect: 100-continue)
//  can then lose our answer (a 413, a 401) and see "broken pipe". A
//  client that asked for 100-continue and got none yet has sent nothing:
//  reading would invite the body, so it is not drained. S_DRAIN_MS is a
//  wall-clock bound, also on a read that blocks (deadline.c): a client
//  that never sends the body it announced holds the worker that long.
#define S_DRAIN_MAX (8u << 20)
#define S_DRAIN_MS  2000
static void
s_drain(zf_http_req_t *req)
{
    const char *expect = mg_get_header(req->conn, "Expect");
    if (!req->raw && expect && strcasecmp(expect, "100-continue") == 0) return;
    long long cl = req->ri->content_length;
    if (cl <= 0 && !mg_get_header(req->conn, "Transfer-Encoding")) return;
    if (req->raw && cl >= 0 && req->raw_len < (size_t)cl) return;  // the read already failed
    char buf[16384];
    size_t total = 0;
    int64_t until = zclock_mono() + S_DRAIN_MS;
    zf_http_deadline_arm(req->thread, S_DRAIN_MS);
    while (total < S_DRAIN_MAX && zclock_mono() < until) {
        int n = mg_read(req->conn, buf, sizeof buf);
        if (n <= 0) break;
        total += (size_t)n;
    }
    zf_http_deadline_disarm(req->thread);
}

static bool
s_parse_body(zf_http_req_t *req)
{
    if (!req->raw || req->raw_len == 0) {
        req->body = json_object();
        return true;
    }
    if (req->route->min_role == ZF_HTTP_PUBLIC && req->mount->dialect->form_bodies &&
        zf_http_is_form(req)) {
        req->body = json_object();  // form-encoded: the handler reads it with zf_http_form
        return true;
    }
    char msg[160];
    req->body = zf_http_json_parse(req->raw, req->raw_len, ZF_HTTP_JSON_MAX_DEPTH, msg, sizeof msg);
    if (!req->body) {
        zf_http_fail(req, ZF_EINVAL, "%s", msg);
        return false;
    }
    if (!json_is_object(req->body)) {
        zf_http_fail(req, ZF_EINVAL, "Request body must be a JSON object");
        return false;
    }
    return true;
}

/* ---- auth, limits, roles ---------------------------------------------------- */

//  zf_http_authenticate for a request (see s_request_label), which the
//  engine keeps with the auth.failed event of a revoked API key.
static int
s_authenticate_for(zf_http_t *srv, zsock_t *dealer, const struct mg_request_info *ri,
                   bool allow_query, const char *request, zf_http_identity_t *who, const char **why)
{
    char token[ZF_HTTP_TOKEN_MAX + 1];
    const char *header = NULL;
    for (int i = 0; i < ri->num_headers; i++) {
        if (strcasecmp(ri->http_headers[i].name, "Authorization") == 0)
            header = ri->http_headers[i].value;
    }
    *why = "missing credentials: send Authorization: Bearer <api key or token>";
    bool have = header ? zf_http_auth_bearer(header, token) : false;
    if (!header && allow_query && ri->query_string) {
        const char *qs = ri->query_string;
        have = mg_get_var(qs, strlen(qs), "token", token, sizeof token) > 0;
    }
    if (!have) {
        if (header) *why = "malformed Authorization header: expected Bearer <token>";
        return ZF_EUNAUTH;
    }
    int rc = zf_http_auth_resolve(srv->auth, dealer, token, request, who, why);
    explicit_bzero(token, sizeof token);
    return rc;
}

int
zf_http_authenticate(zf_http_t *srv, zsock_t *dealer, const struct mg_request_info *ri,
                     bool allow_query, zf_http_identity_t *who, const char **why)
{
    char request[160];
    s_mount_label(srv, ri, request, sizeof request);
    return s_authenticate_for(srv, dealer, ri, allow_query, request, who, why);
}

//  Counts an answer no authenticated caller is charged for (public route,
//  401, unknown route) against the client's address, when the mount's
//  dialect wants X-RateLimit-* on every answer (limit_by_address). The
//  key is the TCP peer address: X-Forwarded-For is not trusted. Returns
//  false when that address is over the limit (answered 429).
static bool
s_rate_limit_address(zf_http_req_t *req)
{
    zf_ratelimit_t *rl = req->srv->ratelimit_addr;
    if (!rl || !req->mount->dialect->limit_by_address) return true;
    req->rl_set = true;
    if (zf_ratelimit_hit(rl, req->ri->remote_addr, zf_now_ms(), &req->rl)) return true;
    zf_http_fail(req, ZF_ERATE,
                 "Rate limit of %d unauthenticated requests per minute from this address "
                 "exceeded; retry in %lld s",
                 req->rl.limit, (long long)req->rl.retry_after);
    return false;
}

static bool
s_authenticate(zf_http_req_t *req)
{
    const char *why = NULL;
    char request[160];
    s_request_label(req, request, sizeof request);
    int rc = s_authenticate_for(req->srv, req->dealer, req->ri, false, request, &req->who, &why);
    if (rc && !s_rate_limit_address(req)) return false;
    if (rc == ZF_EUNAUTH)
        zf_http_fail(req, rc, "%s", why ? why : "invalid credentials");
    else if (rc)
        zf_http_fail(req, rc, "%s",
                     rc == ZF_ETIMEOUT ? "authentication timed out, retry"
                                       : "authentication is unavailable, retry");
    return rc == 0;
}

static bool
s_rate_limit(zf_http_req_t *req)
{
    if (!req->srv->ratelimit) return true;
    char key[sizeof req->who.tenant + sizeof req->who.user + 2];
    snprintf(key, sizeof key, "%s\x1f%s", req->who.tenant, req->who.user);
    req->rl_set = true;
    if (zf_ratelimit_hit(req->srv->ratelimit, key, zf_now_ms(), &req->rl)) return true;
    zf_http_fail(req, ZF_ERATE, "Rate limit of %d requests per minute exceeded; retry in %lld s",
                 req->rl.limit, (long long)req->rl.retry_after);
    return false;
}

//  Tells the engine about a request refused here, so that it becomes an
//  access.denied security event like the engine's own refusals (origin
//  "http"). Fire and forget: auth.note has no reply, the send never
//  blocks (ZMQ_DONTWAIT) and a note that finds the queue full is
//  dropped, so the 403 waits for nothing. The user is an API key id
//  ("key_...") or a JWT subject.
static void
s_note_denied(zf_http_req_t *req)
{
    char request[160];
    s_request_label(req, request, sizeof request);
    const zf_http_identity_t *who = &req->who;
    zf_msg_t *m = zf_msg_new("auth.note");
    snprintf(m->tenant, sizeof m->tenant, "%s", who->tenant);
    snprintf(m->user, sizeof m->user, "%s", who->user);
    snprintf(m->role, sizeof m->role, "%s", who->role);
    zf_msg_set_body(
        m, json_pack("{s:s, s:s, s:s, s:s, s:s*, s:s, s:s}", "action", "access.denied", "tenant",
                     who->tenant, strncmp(who->user, "key_", 4) == 0 ? "key_id" : "user", who->user,
                     "role", who->role, "required_role", zf_http_role_name(req->route->min_role),
                     "request", request, "origin", "http"));
    m->route = zmsg_new();
    zmsg_addmem(m->route, "", 0);
    (void)zf_msg_send(&m, zsock_resolve(req->dealer), ZMQ_DONTWAIT);  // taken either way
}

static bool
s_authorize(zf_http_req_t *req)
{
    if (zf_http_role_level(req->who.role) >= req->route->min_role) return true;
    zf_http_fail(req, ZF_EFORBIDDEN, "Your role (%s) does not allow this operation", req->who.role);
    s_note_denied(req);
    return false;
}

/* ---- the answer ------------------------------------------------------------ */

//  Status line and headers of the answer into head (size hs); returns the
//  length. chunked: a streamed answer (no Content-Length).
static int
s_head(zf_http_req_t *req, char *head, size_t hs, bool chunked, size_t blen)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    const zf_http_dialect_t *d = req->mount ? req->mount->dialect : NULL;
    int n = snprintf(head, hs, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", req->status,
                     zf_http_reason(req->status),
                     req->content_type ? req->content_type : "application/json");
    if (chunked)
        n += snprintf(head + n, hs - (size_t)n, "Transfer-Encoding: chunked\r\n");
    else
        n += snprintf(head + n, hs - (size_t)n, "Content-Length: %zu\r\n", blen);
    n += snprintf(head + n, hs - (size_t)n,
                  "Date: %s\r\nCache-Control: no-store\r\nX-Request-Id: %s\r\n%s%s%s", date,
                  req->request_id, req->close ? "Connection: close\r\n" : "",
                  d && d->headers ? d->headers : "", req->headers);
    if (req->rl_set)
        n += snprintf(head + n, hs - (size_t)n,
                      "X-RateLimit-Limit: %d\r\nX-RateLimit-Remaining: %d\r\n"
                      "X-RateLimit-Reset: %lld\r\n",
                      req->rl.limit, req->rl.remaining, (long long)req->rl.reset_s);
    if (req->status == 429 && req->rl_set)
        n += snprintf(head + n, hs - (size_t)n, "Retry-After: %lld\r\n",
                      (long long)req->rl.retry_after);
    if (req->status == 503)  // the engine is saturated or starting: retry soon
        n += snprintf(head + n, hs - (size_t)n, "Retry-After: 1\r\n");
    if (req->replayed) n += snprintf(head + n, hs - (size_t)n, "Idempotent-Replayed: true\r\n");
    n += snprintf(head + n, hs - (size_t)n, "\r\n");
    return n < (int)hs ? n : (int)hs - 1;
}

//  Writes status line, headers and body in one mg_write (a streamed
//  answer gets its final chunk instead).
static void
s_write(zf_http_req_t *req)
{
    if (req->streamed) {
        if (!req->stream_broken) mg_send_chunk(req->conn, "", 0);
        return;
    }
    char head[3072];
    size_t blen = req->text_len ? req->text_len : strlen(req->text);
    int n = s_head(req, head, sizeof head, false, blen);
    const char *method = req->ri ? req->ri->request_method : NULL;
    size_t send = method && strcmp(method, "HEAD") == 0 ? 0 : blen;  // HEAD: the head only
    char *all = malloc((size_t)n + send);
    assert(all);
    memcpy(all, head, (size_t)n);
    memcpy(all + n, req->text, send);
    mg_write(req->conn, all, (size_t)n + send);
    free(all);
    if (req->close) mg_disable_connection_keep_alive(req->conn);
}

int
zf_http_stream_begin(zf_http_req_t *req, int status, const char *content_type)
{
    assert(req->status == 0);  // one answer per request
    req->status = status;
    req->content_type = content_type;
    req->text = strdup("");
    req->streamed = true;
    char head[3072];
    int n = s_head(req, head, sizeof head, true, 0);
    if (mg_write(req->conn, head, (size_t)n) != n) req->stream_broken = true;
    return req->stream_broken ? -1 : 0;
}

int
zf_http_stream_write(zf_http_req_t *req, const void *buf, size_t len)
{
    if (!req->streamed || req->stream_broken) return -1;
    if (len == 0) return 0;  // an empty chunk would end the stream
    if (mg_send_chunk(req->conn, buf, (unsigned)len) < 0) req->stream_broken = true;
    return req->stream_broken ? -1 : 0;
}

//  Runs the steps; each either passes or answers. Credentials come
//  before the body: nothing from an unauthenticated client is parsed,
//  and every authenticated answer (even a 413 or a 400 for bad JSON) is
//  counted by the rate limiter and carries its headers. Under a dialect
//  with limit_by_address, the other answers (unknown route, public
//  route, failed authentication) are counted per client address.
static void
s_process(zf_http_req_t *req)
{
    int routed = s_route(req);
    if (routed < 0 || !s_framing_ok(req)) return;
    if (routed == 0) {
        if (s_rate_limit_address(req)) zf_http_fail(req, ZF_ENOTFOUND, "Route not found");
        return;
    }
    bool public = req->route->min_role == ZF_HTTP_PUBLIC;
    if (public && !s_rate_limit_address(req)) return;
    if (!public) {
        if (!req->dealer) {
            if (s_rate_limit_address(req))
                zf_http_fail(req, ZF_EUNAVAIL, "Service unavailable, retry");
            return;
        }
        if (!s_authenticate(req) || !s_rate_limit(req) || !s_authorize(req)) return;
    }
    if (!s_read_body(req) || !s_parse_body(req)) return;
    if (!public && zf_http_idem_begin(req)) return;
    req->route->handler(req);
    if (!req->status) zf_http_fail(req, ZF_EIO, "no answer");
    if (!public) zf_http_idem_finish(req);
}

//  True while zf_http_pipeline runs on this thread: an error civetweb
//  reports then (e.g. from mg_read) is the pipeline's to answer.
static _Thread_local bool s_in_pipeline;

int
zf_http_pipeline(struct mg_connection *conn, void *cbdata)
{
    zf_http_t *srv = cbdata;
    zf_http_thread_t *thr = mg_get_thread_pointer(conn);
    zf_http_req_t req = {.srv = srv,
                         .conn = conn,
                         .ri = mg_get_request_info(conn),
                         .mount = srv->fallback,
                         .dealer = zf_http_thread_dealer(thr),
                         .thread = thr};
    s_in_pipeline = true;
    s_request_id(&req);
    s_process(&req);
    if (!req.body_read && (req.ri->content_length > 0 || mg_get_header(conn, "Transfer-Encoding")))
        req.close = true;  // an unread body would be taken for the next request
    s_write(&req);
    if (req.close) s_drain(&req);
    s_in_pipeline = false;
    int status = req.status;
    json_decref(req.body);
    free(req.raw);
    free(req.text);
    return status;
}

/* ---- errors of the HTTP layer ------------------------------------------------ */

//  The path of a request-target as civetweb left it in request_uri
//  ("/v1/x?q", or absolute "http://host/v1/x"), without query or
//  fragment, into out; "" when there is none. Only ever compared with
//  mount prefixes, never echoed.
static void
s_target_path(const char *uri, char *out, size_t outlen)
{
    out[0] = '\0';
    if (!uri) return;
    const char *scheme = strstr(uri, "://");
    if (scheme && uri[0] != '/') uri = strchr(scheme + 3, '/');
    if (!uri || uri[0] != '/') return;
    size_t n = strcspn(uri, "?# \t\r\n");
    if (n >= outlen) return;
    memcpy(out, uri, n);
    out[n] = '\0';
}

//  Wire code and message of an error civetweb found: its own text is
//  not used (it may quote the request), so each status has a fixed one.
static const char *
s_protocol_message(int status, const char **code)
{
    *code = status >= 500 ? "internal" : "validation";
    switch (status) {
    case 400:
        return "Malformed HTTP request: invalid request line or headers, or request line and "
               "headers over 16 KiB";
    case 408:
        *code = "timeout";
        return "The request was not received in time";
    case 411:
        return "A request body needs a valid Content-Length or chunked Transfer-Encoding";
    case 413:
    case 414:
    case 431:
        *code = "too_large";
        return "Request line and headers exceed 16 KiB";
    case 501:
    case 505:
        *code = "not_implemented";
        return status == 505 ? "HTTP version not supported: use HTTP/1.1" : "Not implemented";
    default:
        return zf_http_reason(status);
    }
}

int
zf_http_protocol_error(zf_http_t *srv, struct mg_connection *conn, int status)
{
    if (s_in_pipeline) return 0;
    zf_http_req_t req = {.srv = srv,
                         .conn = conn,
                         .ri = mg_get_request_info(conn),
                         .mount = srv->fallback,
                         .close = true};
    char path[512], rest[512];
    s_target_path(req.ri ? req.ri->request_uri : NULL, path, sizeof path);
    const zf_http_mount_t *m = path[0] ? s_find_mount(srv, path, rest, sizeof rest) : NULL;
    if (m) req.mount = m;
    s_request_id(&req);
    zf_ratelimit_t *rl = srv->ratelimit_addr;
    if (rl && req.mount->dialect->limit_by_address && req.ri) {
        (void)zf_ratelimit_hit(rl, req.ri->remote_addr, zf_now_ms(), &req.rl);  // never refused
        req.rl_set = true;
    }
    const char *code = NULL;
    const char *message = s_protocol_message(status, &code);
    zf_http_fail_code(&req, status, code, "%s", message);
    s_write(&req);
    free(req.text);
    return 0;
}
