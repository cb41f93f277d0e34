/*  actors/steps/http_request.c — kind "http_request" (libcurl easy API).

    config: {"method": "GET", "url": "https://...", "headers": {name: value},
             "body": "text" | any JSON, "timeout_ms": 30000,
             "follow_redirects": true}
    output: {"status": int, "headers": {lower-case name: value},
             "body": parsed JSON when the response says JSON, else a string}

    Every request carries "Idempotency-Key: <run_id>.<node_id>" (the engine
    owns that header; a config may not set it). The egress guard runs in
    curl's open-socket callback on the address actually connected to, so
    DNS answers and redirects are checked before any connection attempt.
    Outcome: 2xx/3xx OK; 408, 429, 5xx and transport errors FAIL (retryable,
    Retry-After honoured); other statuses, egress refusals and oversized
    responses FAIL_FINAL. The per-host breaker gates the request (BLOCKED
    while open) and learns from retryable failures.
*/
#include "actors/breaker.h"
#include "actors/egress.h"
#include "actors/growbuf.h"
#include "actors/step.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define S_URL_MAX          8192                // bytes in a URL
#define S_HEADERS_MAX      100                 // request headers in config
#define S_HEADER_NAME_MAX  256                 // bytes in a header name
#define S_HEADER_VALUE_MAX 8192                // bytes in a header value
#define S_BODY_MAX         (10 * 1024 * 1024)  // response body cap
#define S_RESP_HEADERS_MAX 100                 // response headers kept
#define S_TIMEOUT_DEFAULT  30000               // ms
#define S_TIMEOUT_MAX      300000              // ms
#define S_REDIRECTS_MAX    5                   // redirects followed
#define S_RETRY_AFTER_MAX  86400000LL          // ms; longer Retry-After values are capped

//  State shared with curl's callbacks during one request.
typedef struct {
    const zf_egress_t *egress;       // address policy (NULL = defaults)
    char refused[INET6_ADDRSTRLEN];  // first address the guard refused
    int last_refused;                // the latest socket the guard saw was refused
    char *body;                      // response body (grows)
    size_t len;                      // used bytes of body
    size_t cap;                      // allocated bytes of body
    int too_large;                   // body passed S_BODY_MAX
    json_t *headers;                 // headers of the last response
} s_call_t;

static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;

static void
s_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

// =========================================================================
//  Validation
// =========================================================================

static const char *const s_methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"};

//  Upper-case method name from config (GET if absent); NULL if unknown.
static const char *
s_method(const json_t *config)
{
    const json_t *m = json_object_get(config, "method");
    if (!m) return "GET";
    for (size_t i = 0; json_is_string(m) && i < sizeof s_methods / sizeof s_methods[0]; i++)
        if (strcasecmp(json_string_value(m), s_methods[i]) == 0) return s_methods[i];
    return NULL;
}

//  "host:port" of an absolute http(s) URL into buf (the port is the
//  scheme's default when none is given); 0 ok. This is the breaker key:
//  two services on one host but different ports fail independently.
static int
s_url_host(const char *url, char *buf, size_t len)
{
    CURLU *u = curl_url();
    char *host = NULL, *scheme = NULL, *port = NULL;
    int rc = -1;
    if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
        (!strcasecmp(scheme, "http") || !strcasecmp(scheme, "https")) && host[0]) {
        snprintf(buf, len, "%s:%s", host, port);
        rc = 0;
    }
    curl_free(port);
    curl_free(host);
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}

static int
s_check_url(const json_t *config, char *err, size_t errlen)
{
    const char *url = json_string_value(json_object_get(config, "url"));
    char host[512];
    //  A URL holding {{templates}} is checked in full once rendered.
    bool tpl = url && strstr(url, "{{");
    int ok = url && strlen(url) <= S_URL_MAX &&
             (tpl || !strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8));
    for (const char *p = url; ok && !tpl && *p; p++)
        ok = (unsigned char)*p > 0x20 && *p != 0x7f;
    if (ok && !tpl) ok = s_url_host(url, host, sizeof host) == 0;
    if (!ok) snprintf(err, errlen, "config.url: must be an http or https URL");
    return ok ? 0 : -1;
}

static int
s_header_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= S_HEADER_NAME_MAX &&
           strspn(s, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == n;
}

static int
s_header_value_ok(const json_t *v)
{
    if (!json_is_string(v) || json_string_length(v) > S_HEADER_VALUE_MAX) return 0;
    const char *s = json_string_value(v);
    return strlen(s) == json_string_length(v) && !strpbrk(s, "\r\n");
}

//  headers: object of strings; token names, no CR/LF/NUL (header injection).
static int
s_check_headers(const json_t *config, char *err, size_t errlen)
{
    const json_t *h = json_object_get(config, "headers"), *v;
    const char *name;
    if (!h) return 0;
    if (!json_is_object(h) || json_object_size(h) > S_HEADERS_MAX) {
        snprintf(err, errlen, "config.headers: must be an object of at most %d strings",
                 S_HEADERS_MAX);
        return -1;
    }
    json_object_foreach ((json_t *)h, name, v) {
        if (!s_header_name_ok(name)) {
            snprintf(err, errlen, "config.headers: invalid header name '%.64s'", name);
            return -1;
        }
        if (!strcasecmp(name, "Idempotency-Key")) {
            snprintf(err, errlen, "config.headers.%s: set by the engine", name);
            return -1;
        }
        if (!s_header_value_ok(v)) {
            snprintf(err, errlen, "config.headers.%.64s: must be a string without CR/LF", name);
            return -1;
        }
    }
    return 0;
}

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    const json_t *t = json_object_get(config, "timeout_ms");
    const json_t *fr = json_object_get(config, "follow_redirects");
    if (!json_is_object(config)) {
        snprintf(err, errlen, "config: must be an object");
        return -1;
    }
    if (!s_method(config)) {
        snprintf(err, errlen, "config.method: must be GET, POST, PUT, PATCH, DELETE or HEAD");
        return -1;
    }
    if (s_check_url(config, err, errlen) != 0 || s_check_headers(config, err, errlen) != 0)
        return -1;
    if (t && (!json_is_integer(t) || json_integer_value(t) < 1 ||
              json_integer_value(t) > S_TIMEOUT_MAX)) {
        snprintf(err, errlen, "config.timeout_ms: must be an integer 1..%d", S_TIMEOUT_MAX);
        return -1;
    }
    if (fr && !json_is_boolean(fr)) {
        snprintf(err, errlen, "config.follow_redirects: must be a boolean");
        return -1;
    }
    return 0;
}

// =========================================================================
//  curl callbacks
// =========================================================================

//  The egress guard: refuse before the socket exists, so nothing is sent.
static curl_socket_t
s_on_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    s_call_t *call = ud;
    if (purpose == CURLSOCKTYPE_IPCXN && zf_egress_allowed(call->egress, &a->addr)) {
        call->last_refused = 0;
        return socket(a->family, a->socktype, a->protocol);
    }
    call->last_refused = 1;
    if (!call->refused[0] && a->family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&a->addr)->sin_addr, call->refused,
                  sizeof call->refused);
    else if (!call->refused[0] && a->family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a->addr)->sin6_addr, call->refused,
                  sizeof call->refused);
    return CURL_SOCKET_BAD;
}

static size_t
s_on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    s_call_t *call = ud;
    return zf_growbuf_append(&call->body, &call->len, &call->cap, S_BODY_MAX, &call->too_large,
                             data, size * nmemb);
}

//  Length of the valid UTF-8 character at s (at most n bytes), 0 if invalid.
static size_t
s_utf8_char(const unsigned char *s, size_t n)
{
    unsigned c = s[0], min;
    size_t len;
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0)
        len = 2, min = 0x80, c &= 0x1f;
    else if ((c & 0xf0) == 0xe0)
        len = 3, min = 0x800, c &= 0x0f;
    else if ((c & 0xf8) == 0xf0)
        len = 4, min = 0x10000, c &= 0x07;
    else
        return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    return c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) ? 0 : len;
}

//  A JSON string of arbitrary bytes; invalid UTF-8 bytes become U+FFFD.
static json_t *
s_text(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j) return j;
    char *buf = malloc(n * 3 + 1);
    size_t out = 0;
    if (!buf) abort();
    for (size_t i = 0; i < n;) {
        size_t len = s_utf8_char((const unsigned char *)s + i, n - i);
        if (len) {
            memcpy(buf + out, s + i, len);
            out += len;
            i += len;
        } else {
            memcpy(buf + out, "\xef\xbf\xbd", 3);
            out += 3;
            i++;
        }
    }
    j = json_stringn(buf, out);
    free(buf);
    return j ? j : json_string("");
}

//  Collects the last response's headers (a status line starts a new set).
static size_t
s_on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    s_call_t *call = ud;
    size_t n = size * nmemb;
    char name[S_HEADER_NAME_MAX + 1];
    if (n >= 5 && !strncmp(data, "HTTP/", 5)) {
        json_object_clear(call->headers);
        return n;
    }
    const char *colon = memchr(data, ':', n);
    size_t nlen = colon ? (size_t)(colon - data) : 0;
    if (!colon || nlen == 0 || nlen > S_HEADER_NAME_MAX ||
        json_object_size(call->headers) >= S_RESP_HEADERS_MAX)
        return n;
    for (size_t i = 0; i < nlen; i++)
        name[i] = (char)tolower((unsigned char)data[i]);
    name[nlen] = '\0';
    const char *v = colon + 1, *end = data + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    json_t *old = json_object_get(call->headers, name);
    char *joined = NULL;
    if (old && asprintf(&joined, "%s, %.*s", json_string_value(old), (int)(end - v), v) < 0)
        abort();
    json_object_set_new(call->headers, name,
                        joined ? s_text(joined, strlen(joined)) : s_text(v, (size_t)(end - v)));
    free(joined);
    return n;
}

// =========================================================================
//  Request
// =========================================================================

static struct curl_slist *
s_append(struct curl_slist *list, const char *line)
{
    struct curl_slist *l = curl_slist_append(list, line);
    if (!l) abort();
    return l;
}

//  Request headers: config headers, Idempotency-Key, Content-Type for a
//  body unless given, and an empty Expect (no 100-continue round trip).
static struct curl_slist *
s_headers(const zf_step_ctx_t *ctx, const json_t *config, const json_t *body)
{
    struct curl_slist *list = NULL;
    const json_t *h = json_object_get(config, "headers"), *v;
    const char *name;
    int has_type = 0;
    char line[S_HEADER_NAME_MAX + S_HEADER_VALUE_MAX + 4];
    json_object_foreach ((json_t *)h, name, v) {
        snprintf(line, sizeof line, "%s: %s", name, json_string_value(v));
        list = s_append(list, line);
        has_type |= !strcasecmp(name, "Content-Type");
    }
    snprintf(line, sizeof line, "Idempotency-Key: %s.%s", ctx->run_id ? ctx->run_id : "",
             ctx->node_id ? ctx->node_id : "");
    list = s_append(list, line);
    if (body && !has_type)
        list = s_append(list, json_is_string(body) ? "Content-Type: text/plain; charset=utf-8"
                                                   : "Content-Type: application/json");
    return s_append(list, "Expect:");
}

//  Method and body. POST uses curl's POST so a 302/303 turns into GET as
//  browsers do; other methods with a body use a custom request line.
static char *
s_set_method(CURL *h, const char *method, const json_t *body)
{
    char *payload = NULL;
    size_t size = 0;
    if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        return NULL;
    }
    if (json_is_string(body)) {
        size = json_string_length(body);
        payload = malloc(size + 1);
        if (payload) memcpy(payload, json_string_value(body), size + 1);
    } else if (body) {
        payload = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        size = payload ? strlen(payload) : 0;
    }
    if (body && !payload) abort();
    if (payload || !strcmp(method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload ? payload : "");
    }
    if (strcmp(method, "POST") != 0 && strcmp(method, "GET") != 0)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    else if (!strcmp(method, "GET") && payload)
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "GET");
    return payload;
}

static void
s_setup(CURL *h, s_call_t *call, const char *url, long timeout_ms, int follow)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "zflow/1");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)S_REDIRECTS_MAX);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)S_BODY_MAX);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, s_on_open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, call);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, call);
}

// =========================================================================
//  Outcome
// =========================================================================

//  Retry-After as delay-seconds or an HTTP-date (curl_getdate: no TZ games).
static int64_t
s_retry_after(const json_t *headers, int64_t now_ms)
{
    const char *v = json_string_value(json_object_get(headers, "retry-after"));
    int64_t ms = 0;
    if (!v || !*v) return 0;
    if (strspn(v, "0123456789") == strlen(v))
        ms = strlen(v) > 9 ? S_RETRY_AFTER_MAX : atoll(v) * 1000;
    else {
        time_t t = curl_getdate(v, NULL);
        ms = t < 0 ? 0 : (int64_t)t * 1000 - now_ms;
    }
    return ms < 0 ? 0 : ms > S_RETRY_AFTER_MAX ? S_RETRY_AFTER_MAX : ms;
}

static json_t *
s_output(s_call_t *call, long status)
{
    const char *type = json_string_value(json_object_get(call->headers, "content-type"));
    json_t *body = NULL;
    if (type && strstr(type, "json") && call->len)
        body = json_loadb(call->body ? call->body : "", call->len, JSON_DECODE_ANY, NULL);
    if (!body) body = s_text(call->body ? call->body : "", call->len);
    return json_pack("{s:I, s:O, s:o}", "status", (json_int_t)status, "headers", call->headers,
                     "body", body);
}

//  Maps an HTTP status onto the step outcome and teaches the breaker.
static void
s_classify(zf_step_ctx_t *ctx, zf_step_result_t *res, s_call_t *call, long status, const char *host)
{
    res->output = s_output(call, status);
    if (status >= 200 && status < 400) {
        res->status = ZF_STEP_OK;
        if (ctx->breakers) zf_breaker_success(ctx->breakers, host);
        return;
    }
    int retryable = status == 408 || status == 429 || (status >= 500 && status <= 599);
    zf_step_fail(res, retryable ? ZF_STEP_FAIL : ZF_STEP_FAIL_FINAL, "HTTP %ld from %s", status,
                 host);
    if (retryable) res->retry_after_ms = s_retry_after(call->headers, ctx->now_ms);
    if (ctx->breakers && retryable)
        zf_breaker_failure(ctx->breakers, host, ctx->now_ms,
                           status == 429 || status == 503 ? res->retry_after_ms : 0);
    else if (ctx->breakers)
        zf_breaker_success(ctx->breakers, host);
}

//  A refused socket explains the failure only if nothing was connected
//  after it (happy eyeballs may refuse ::1 yet connect 127.0.0.1). The
//  breaker learns from retryable failures; a host that answered (too large,
//  redirect loop) counts as up.
static void
s_transport_error(zf_step_ctx_t *ctx, zf_step_result_t *res, s_call_t *call, CURLcode rc,
                  long timeout_ms, const char *host)
{
    int egress = call->last_refused && rc == CURLE_COULDNT_CONNECT;
    if (egress)
        zf_step_fail(res, ZF_STEP_FAIL_FINAL,
                     "egress refused: %s is not allowed (see --egress-allow)", call->refused);
    else if (call->too_large || rc == CURLE_FILESIZE_EXCEEDED)
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "response too large (limit %d bytes)", S_BODY_MAX);
    else if (rc == CURLE_OPERATION_TIMEDOUT)
        zf_step_fail(res, ZF_STEP_FAIL, "timeout after %ld ms", timeout_ms);
    else if (rc == CURLE_TOO_MANY_REDIRECTS)
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "more than %d redirects", S_REDIRECTS_MAX);
    else
        zf_step_fail(res, ZF_STEP_FAIL, "transport error: %s", curl_easy_strerror(rc));
    if (ctx->breakers && res->status == ZF_STEP_FAIL)
        zf_breaker_failure(ctx->breakers, host, ctx->now_ms, 0);
    else if (ctx->breakers && !egress)
        zf_breaker_success(ctx->breakers, host);
}

static long
s_timeout(const zf_step_ctx_t *ctx, const json_t *config)
{
    const json_t *t = json_object_get(config, "timeout_ms");
    if (ctx->timeout_ms > 0) return (long)ctx->timeout_ms;
    return t ? (long)json_integer_value(t) : S_TIMEOUT_DEFAULT;
}

//  One request: guard, breaker, perform, classify.
static void
s_perform(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res, const char *host)
{
    const json_t *body = json_object_get(config, "body");
    const json_t *fr = json_object_get(config, "follow_redirects");
    long timeout_ms = s_timeout(ctx, config);
    s_call_t call = {.egress = ctx->egress, .headers = json_object()};
    CURL *h = curl_easy_init();
    if (!h) abort();
    struct curl_slist *headers = s_headers(ctx, config, body);
    s_setup(h, &call, json_string_value(json_object_get(config, "url")), timeout_ms,
            !fr || json_is_true(fr));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    char *payload = s_set_method(h, s_method(config), body);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OK)
        s_classify(ctx, res, &call, status, host);
    else
        s_transport_error(ctx, res, &call, rc, timeout_ms, host);
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    free(payload);
    free(call.body);
    json_decref(call.headers);
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    char host[512];
    pthread_once(&s_curl_once, s_curl_init);
    if (!zf_step_config_ok(s_validate, config, res)) return;
    const char *url = json_string_value(json_object_get(config, "url"));
    if (strstr(url, "{{") || s_url_host(url, host, sizeof host) != 0) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "config.url: must be an http or https URL");
        return;
    }
    int64_t wait = ctx->breakers ? zf_breaker_acquire(ctx->breakers, host, ctx->now_ms) : 0;
    if (wait > 0) {
        res->status = ZF_STEP_BLOCKED;
        res->wake_at_ms = wait;
        snprintf(res->error, sizeof res->error, "circuit open for host %.200s", host);
        return;
    }
    s_perform(ctx, config, res, host);
}

const zf_step_kind_t zf_step_kind_http_request = {
    .name = "http_request", .validate = s_validate, .exec = s_exec, .cpu_only = 0};
