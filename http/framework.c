/*  http/framework.c — the helpers dialects use (dialect.h): accessors,
    broker calls, answers, the shared status table and time formatting.
*/
#include "http/http_int.h"

#include "broker/ids.h"

#include <assert.h>
#include <stdarg.h>

/* ---- request accessors ---------------------------------------------------- */

const char *
zf_http_param(const zf_http_req_t *req, const char *name)
{
    return zf_route_param(&req->params, name);
}

int
zf_http_query(const zf_http_req_t *req, const char *name, char *out, size_t outlen)
{
    const char *qs = req->ri ? req->ri->query_string : NULL;
    if (!qs) return -1;
    int n = mg_get_var(qs, strlen(qs), name, out, outlen);
    if (n == -1) return -1;
    if (n < 0 || memchr(out, '\0', (size_t)n)) {  // too long for out, or a %00 in it
        if (outlen) out[0] = '\0';
        return ZF_HTTP_QUERY_BAD;
    }
    return n;
}

int
zf_http_query_int(const zf_http_req_t *req, const char *name, int64_t def, int64_t min, int64_t max,
                  int64_t *out)
{
    char buf[32], *end = NULL;
    *out = def;
    int n = zf_http_query(req, name, buf, sizeof buf);
    if (n == -1) return 0;
    const char *digits = buf + (buf[0] == '-');
    if (n <= 0 || *digits < '0' || *digits > '9') return ZF_EINVAL;  // no "", " 1", "+1"
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end || v < min || v > max) return ZF_EINVAL;
    *out = v;
    return 0;
}

json_t *
zf_http_query_map(const zf_http_req_t *req, const char **why)
{
    json_t *out = json_object();
    const char *qs = req->ri ? req->ri->query_string : NULL;
    char name[257], value[4097];
    *why = NULL;
    for (int n = 0; qs && *qs && !*why; n++) {
        const char *amp = strchr(qs, '&'), *end = amp ? amp : qs + strlen(qs);
        const char *eq = memchr(qs, '=', (size_t)(end - qs));
        const char *vbeg = eq ? eq + 1 : end;
        int nl = mg_url_decode(qs, (int)((eq ? eq : end) - qs), name, sizeof name, 1);
        int vl = mg_url_decode(vbeg, (int)(end - vbeg), value, sizeof value, 1);
        //  json_stringn refuses what is not UTF-8 and accepts NUL: refuse that too.
        json_t *v =
            vl >= 0 && !memchr(value, '\0', (size_t)vl) ? json_stringn(value, (size_t)vl) : NULL;
        json_t *k =
            nl >= 0 && !memchr(name, '\0', (size_t)nl) ? json_stringn(name, (size_t)nl) : NULL;
        if (n == 64)
            *why = "query: at most 64 parameters";
        else if (nl < 0 || vl < 0)
            *why = "query: a parameter name is over 256 bytes or a value over 4096";
        else if (!k || !v)
            *why = "query: names and values must be UTF-8 text without NUL";
        else if (nl > 0 && !json_object_get(out, name))  // the first of repeated names wins
            json_object_set(out, name, v);
        json_decref(k);
        json_decref(v);
        qs = amp ? amp + 1 : end;
    }
    if (*why) json_decref(out);
    return *why ? NULL : out;
}

json_t *
zf_http_body(const zf_http_req_t *req)
{
    return req->body;
}

const char *
zf_http_req_header(const zf_http_req_t *req, const char *name)
{
    return req->conn ? mg_get_header(req->conn, name) : NULL;
}

int
zf_http_client_ip(const zf_http_req_t *req, char *out, size_t outlen)
{
    if (!req->ri || !outlen) return -1;
    int n = snprintf(out, outlen, "%s", req->ri->remote_addr);
    return n > 0 && (size_t)n < outlen ? n : -1;
}

bool
zf_http_is_form(const zf_http_req_t *req)
{
    const char *ct = zf_http_req_header(req, "Content-Type");
    static const char form[] = "application/x-www-form-urlencoded";
    return ct && strncasecmp(ct, form, sizeof form - 1) == 0 &&
           (ct[sizeof form - 1] == '\0' || ct[sizeof form - 1] == ';' ||
            ct[sizeof form - 1] == ' ');
}

int
zf_http_form(const zf_http_req_t *req, const char *name, char *out, size_t outlen)
{
    if (!req->raw || !zf_http_is_form(req)) return -1;
    int n = mg_get_var(req->raw, req->raw_len, name, out, outlen);
    return n >= 0 ? n : -1;
}

const zf_http_identity_t *
zf_http_who(const zf_http_req_t *req)
{
    return &req->who;
}

//  The request whose error body s_vfail is rendering on this thread.
static _Thread_local const zf_http_req_t *s_failing;

const char *
zf_http_request_id(const zf_http_req_t *req)
{
    if (!req) req = s_failing;
    return req ? req->request_id : NULL;
}

/* ---- broker ---------------------------------------------------------------- */

int
zf_http_call(zf_http_req_t *req, const char *type, json_t *body, int64_t timeout_ms,
             json_t **result, char *msg, size_t msglen)
{
    *result = NULL;
    if (msg && msglen) msg[0] = '\0';
    req->detail[0] = '\0';
    zf_msg_t *m = zf_msg_new(type), *rep = NULL;
    zf_msg_set_body(m, body ? body : json_object());
    int rc = zf_http_broker_call(req->dealer, &m, &req->who, timeout_ms, &rep);
    if (rc) return rc;
    const char *code = zf_msg_error_code(rep);
    if (code) {
        rc = zf_err_from_name(code);
        const char *text = zf_msg_error_message(rep);
        if (msg && msglen) snprintf(msg, msglen, "%s", text ? text : "");
        const char *detail = json_string_value(json_object_get(rep->body, "detail"));
        if (detail) snprintf(req->detail, sizeof req->detail, "%s", detail);
    } else {
        *result = json_incref(rep->body);
    }
    zf_msg_destroy(&rep);
    return rc;
}

const char *
zf_http_last_detail(const zf_http_req_t *req)
{
    return req->detail;
}

/* ---- answers ---------------------------------------------------------------- */

int
zf_http_header(zf_http_req_t *req, const char *name, const char *value)
{
    if (!name || !value || !*name || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return ZF_EINVAL;
    size_t used = strlen(req->headers);
    int n = snprintf(req->headers + used, sizeof req->headers - used, "%s: %s\r\n", name, value);
    if (n < 0 || (size_t)n >= sizeof req->headers - used) {
        req->headers[used] = '\0';
        return ZF_EINVAL;
    }
    return 0;
}

void
zf_http_respond_raw(zf_http_req_t *req, int status, const char *content_type, char *body,
                    size_t len)
{
    assert(req->status == 0);  // one answer per request
    req->status = status;
    req->content_type = content_type;
    req->text = body;
    req->text_len = len;
}

//  The fewest significant digits (15..17) at which every real of v reads
//  back as the same double: jansson writes every real with one precision,
//  17 by default, so 0.1 came out as 0.10000000000000001. Most values a
//  client sent round-trip at 15.
static int s_real_digits(const json_t *v, int depth);

static int
s_max_digits(int need, const json_t *child, int depth)
{
    int n = s_real_digits(child, depth + 1);
    return n > need ? n : need;
}

static int
s_real_digits(const json_t *v, int depth)
{
    int need = 15;
    if (json_is_real(v)) {
        double d = json_real_value(v);
        char buf[40];
        for (; need < 17; need++) {
            snprintf(buf, sizeof buf, "%.*g", need, d);
            if (strtod(buf, NULL) == d) break;
        }
        return need;
    }
    if (depth > 64) return 17;  // bodies are depth-limited long before this
    const char *k;
    json_t *x;
    size_t i;
    //  17 is the most any real needs: the walk stops there.
    if (json_is_object(v)) {
        json_object_foreach ((json_t *)v, k, x)
            if ((need = s_max_digits(need, x, depth)) == 17) break;
    } else if (json_is_array(v)) {
        json_array_foreach (v, i, x)
            if ((need = s_max_digits(need, x, depth)) == 17) break;
    }
    return need;
}

void
zf_http_respond(zf_http_req_t *req, int status, json_t *body)
{
    assert(req->status == 0);  // one answer per request
    req->status = status;
    req->text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(s_real_digits(body, 0)));
    json_decref(body);
    assert(req->text);
}

char *
zf_http_error_text(const zf_http_mount_t *mount, const char *code, const char *message, int *status)
{
    const zf_http_dialect_t *d = mount->dialect;
    *status = d->status_for ? d->status_for(code) : zf_http_status_for(code);
    if (*status >= 500 && strcmp(code, "unavailable") && strcmp(code, "timeout") &&
        strcmp(code, "not_implemented"))
        message = "internal server error";
    json_t *body = d->render_error(*status, code, message);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    assert(text);
    return text;
}

//  Length of the valid UTF-8 sequence at p (1..4), or 0 when the bytes
//  there are not one (stray continuation, overlong form, surrogate, past
//  U+10FFFF, cut short by the NUL).
static size_t
s_utf8_seq(const unsigned char *p, uint32_t *cp)
{
    size_t n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 0;
    if (n == 0 || p[0] > 0xf4) return 0;
    uint32_t c = p[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        c = c << 6 | (p[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
    *cp = c;
    return n;
}

//  Keeps messages valid UTF-8 text for JSON (names in them keep their
//  accents and emoji): control characters, bytes that are not valid
//  UTF-8, and the bidirectional controls that could make a message read
//  other than it is (U+202A..U+202E, U+2066..U+2069) become '?'.
static void
s_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s, *out = p;
    while (*p) {
        uint32_t cp = 0;
        size_t n = *p >= 0x80 ? s_utf8_seq(p, &cp) : 0;
        bool bidi = (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
        if (n > 0 && !bidi) {
            memmove(out, p, n);
            out += n, p += n;
        } else {
            *out++ = (*p < 0x20 || *p == 0x7f || *p >= 0x80) ? '?' : *p;
            p += n ? n : 1;
        }
    }
    *out = '\0';
}

__attribute__((format(printf, 4, 0))) static void
s_vfail(zf_http_req_t *req, int status, const char *code, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    s_sanitize(msg);
    int st = 0;
    assert(req->status == 0);
    s_failing = req;
    req->text = zf_http_error_text(req->mount, code, msg, &st);
    s_failing = NULL;
    req->status = status ? status : st;
}

void
zf_http_fail(zf_http_req_t *req, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vfail(req, 0, zf_err_name(err), fmt, ap);
    va_end(ap);
}

void
zf_http_fail_code(zf_http_req_t *req, int status, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vfail(req, status, code, fmt, ap);
    va_end(ap);
}

/* ---- shared helpers ------------------------------------------------------- */

typedef struct {
    const char *code;  // wire error code
    int status;        // HTTP status
} s_status_t;

static const s_status_t s_statuses[] = {
    {"validation", 400},      {"unauthorized", 401},
    {"forbidden", 403},       {"not_found", 404},
    {"conflict", 409},        {"idempotency_in_progress", 409},
    {"too_large", 413},       {"idempotency_mismatch", 422},
    {"rate_limited", 429},    {"internal", 500},
    {"not_implemented", 501}, {"unavailable", 503},
    {"timeout", 504},
};

int
zf_http_status_for(const char *code)
{
    for (size_t i = 0; i < sizeof s_statuses / sizeof s_statuses[0]; i++) {
        if (strcmp(s_statuses[i].code, code) == 0) return s_statuses[i].status;
    }
    return 500;
}

const char *
zf_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

void
zf_http_iso(int64_t ms, char out[32])
{
    zf_iso8601(ms, out);
}

json_t *
zf_http_run_error(const json_t *err)
{
    const char *msg = json_string_value(json_object_get(err, "message"));
    if (!msg && json_is_string(err)) msg = json_string_value(err);
    return msg ? json_string(msg) : json_null();
}

json_t *
zf_http_time_json(const json_t *ms)
{
    if (!json_is_integer(ms)) return json_null();
    char buf[32];
    zf_http_iso(json_integer_value(ms), buf);
    return json_string(buf);
}

json_t *
zf_http_or_null(const json_t *src)
{
    return src ? json_deep_copy(src) : json_null();
}
