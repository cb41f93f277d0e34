/*  http/dialects/automations_callback.c — the public approval links of
    seed 001: GET /callback/:token renders a read-only HTML page (no side
    effect: approval.get), POST /callback/:token decides (approval.decide,
    single use, enforced by the engine).

    The token is the credential, so guessing is what is limited: per
    client IP (the TCP peer), at most S_FAIL_LIMIT requests a minute may
    name a token that does not exist (or is malformed); after that every
    callback request from that IP answers 429 until the minute is over.
    Requests on a real token are never counted, so 100 concurrent POSTs
    on one link give one 200 and 99 409s (the engine's single use).

    Answers: GET always HTML; POST answers HTML when the client accepts
    text/html (the page's own forms), else JSON in the dialect's envelope.
    Every value on a page is HTML-escaped; pages forbid framing, scripts
    and referrers (the token is in the URL).
*/
#include "http/dialects/automations_int.h"

#include "broker/ids.h"

#include <czmq.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_FAIL_LIMIT 10     // unknown-token requests per IP per window
#define S_WINDOW_MS  60000  // the window (monotonic clock)
#define S_MAX_IPS    4096   // IPs tracked at once; when all are live, new IPs wait
#define S_TOKEN_MIN  16     // token length bounds (base64url characters)
#define S_TOKEN_MAX  128

static const char *const S_PAGE_HEADERS[][2] = {
    {"Content-Security-Policy",
     "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
     "base-uri 'none'"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Content-Type-Options", "nosniff"},
};

/* ---- guessing limit ------------------------------------------------------------------- */

typedef struct {
    char ip[48];    // client address; "" = free
    int64_t start;  // window start (zclock_mono ms)
    int fails;      // unknown-token requests in the window
} s_slot_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static s_slot_t s_slots[S_MAX_IPS];

//  The live slot of ip, or NULL; *free_slot gets a free or expired one.
//  Called with s_lock held.
static s_slot_t *
s_find(const char *ip, int64_t now, s_slot_t **free_slot)
{
    *free_slot = NULL;
    for (size_t i = 0; i < S_MAX_IPS; i++) {
        s_slot_t *s = &s_slots[i];
        bool live = s->ip[0] && now - s->start < S_WINDOW_MS;
        if (live && strcmp(s->ip, ip) == 0) return s;
        if (!live && !*free_slot) *free_slot = s;
    }
    return NULL;
}

//  Seconds until ip may try again (0: it may now).
static int64_t
s_limited(const char *ip)
{
    int64_t now = zclock_mono(), wait = 0;
    s_slot_t *free_slot;
    pthread_mutex_lock(&s_lock);
    s_slot_t *s = s_find(ip, now, &free_slot);
    if (s && s->fails >= S_FAIL_LIMIT) wait = (s->start + S_WINDOW_MS - now + 999) / 1000;
    if (!s && !free_slot) wait = 1;  // every slot is live: a flood of guessers
    pthread_mutex_unlock(&s_lock);
    return wait > 0 ? wait : 0;
}

static void
s_count_failure(const char *ip)
{
    int64_t now = zclock_mono();
    s_slot_t *free_slot;
    pthread_mutex_lock(&s_lock);
    s_slot_t *s = s_find(ip, now, &free_slot);
    if (!s && free_slot) {
        s = free_slot;
        snprintf(s->ip, sizeof s->ip, "%s", ip);
        s->start = now;
        s->fails = 0;
    }
    if (s) s->fails++;
    pthread_mutex_unlock(&s_lock);
}

/* ---- pages ------------------------------------------------------------------------------ */

static void
s_esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

typedef struct {
    FILE *f;     // open_memstream on buf
    char *buf;   // the page
    size_t len;  // its length once closed
} s_page_t;

static void
s_page_open(s_page_t *p, const char *title)
{
    p->buf = NULL;
    p->len = 0;
    p->f = open_memstream(&p->buf, &p->len);
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
          "<meta name=\"robots\" content=\"noindex\"><title>",
          p->f);
    s_esc(p->f, title);
    fputs("</title><style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;"
          "padding:0 1rem;color:#222}dt{font-weight:600}dd{margin:0 0 .6rem}"
          "form{display:inline-block;margin-right:1rem}button{font-size:1rem;padding:.5rem 1.5rem}"
          "</style></head><body><main><h1>",
          p->f);
    s_esc(p->f, title);
    fputs("</h1>\n", p->f);
}

//  A paragraph of escaped text.
static void
s_para(s_page_t *p, const char *text)
{
    fputs("<p>", p->f);
    s_esc(p->f, text);
    fputs("</p>\n", p->f);
}

//  Closes the page and answers with it.
static void
s_page_send(zf_http_req_t *req, s_page_t *p, int status)
{
    fputs("</main></body></html>\n", p->f);
    fclose(p->f);
    for (size_t i = 0; i < sizeof S_PAGE_HEADERS / sizeof S_PAGE_HEADERS[0]; i++)
        zf_http_header(req, S_PAGE_HEADERS[i][0], S_PAGE_HEADERS[i][1]);
    zf_http_respond_raw(req, status, "text/html; charset=utf-8", p->buf, p->len);
}

static void
s_simple_page(zf_http_req_t *req, int status, const char *title, const char *text)
{
    s_page_t p;
    s_page_open(&p, title);
    s_para(&p, text);
    s_page_send(req, &p, status);
}

//  One <dt>/<dd> pair when value is a non-empty string.
static void
s_item(s_page_t *p, const char *label, const char *value)
{
    if (!value || !*value) return;
    fputs("<dt>", p->f);
    s_esc(p->f, label);
    fputs("</dt><dd>", p->f);
    s_esc(p->f, value);
    fputs("</dd>", p->f);
}

static void
s_details(s_page_t *p, const json_t *a)
{
    char when[32] = "";
    const json_t *exp = json_object_get(a, "expires_at");
    if (json_is_integer(exp)) zf_http_iso(json_integer_value(exp), when);
    fputs("<dl>", p->f);
    s_item(p, "Workflow", json_string_value(json_object_get(a, "workflow_name")));
    s_item(p, "Step", json_string_value(json_object_get(a, "step_name")));
    s_item(p, "Expires", when);
    fputs("</dl>\n", p->f);
}

//  The pending approval: title, message, details and the two forms (they
//  POST to this same URL).
static void
s_pending_page(zf_http_req_t *req, const json_t *a)
{
    const char *title = json_string_value(json_object_get(a, "title"));
    const char *msg = json_string_value(json_object_get(a, "message"));
    s_page_t p;
    s_page_open(&p, title && *title ? title : "Approval requested");
    if (msg && *msg) s_para(&p, msg);
    s_details(&p, a);
    fputs("<form method=\"post\"><input type=\"hidden\" name=\"decision\" value=\"approved\">"
          "<button type=\"submit\">Approve</button></form>"
          "<form method=\"post\"><input type=\"hidden\" name=\"decision\" value=\"rejected\">"
          "<button type=\"submit\">Reject</button></form>\n",
          p.f);
    s_page_send(req, &p, 200);
}

static void
s_decided_page(zf_http_req_t *req, const json_t *a)
{
    const char *d = json_string_value(json_object_get(a, "decision"));
    if (!d) d = json_string_value(json_object_get(a, "status"));
    const json_t *at = json_object_get(a, "decided_at");
    char when[32] = "", text[160];
    if (json_is_integer(at)) zf_http_iso(json_integer_value(at), when);
    snprintf(text, sizeof text, "This request has already been decided: %s%s%s.", d ? d : "decided",
             *when ? " at " : "", when);
    s_page_t p;
    s_page_open(&p, "Already decided");
    s_para(&p, text);
    s_details(&p, a);
    s_page_send(req, &p, 200);
}

/* ---- shared ------------------------------------------------------------------------------ */

static bool
s_token_ok(const char *t)
{
    size_t n = t ? strlen(t) : 0;
    return n >= S_TOKEN_MIN && n <= S_TOKEN_MAX &&
           strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static bool
s_wants_html(zf_http_req_t *req)
{
    const char *accept = zf_http_req_header(req, "Accept");
    return accept && strstr(accept, "text/html");
}

//  An error as a page (HTML clients) or in the JSON envelope.
static void
s_fail(zf_http_req_t *req, bool html, int status, const char *code, const char *title,
       const char *text)
{
    if (html)
        s_simple_page(req, status, title, text);
    else
        zf_http_fail_code(req, status, code, "%s", text);
}

//  The guessing limit and the token's shape, before the engine is asked.
//  Returns the token, or NULL after answering.
static const char *
s_admit(zf_http_req_t *req, bool html, char ip[64])
{
    if (zf_http_client_ip(req, ip, 64) < 0) snprintf(ip, 64, "?");
    int64_t wait = s_limited(ip);
    if (wait > 0) {
        char secs[24];
        snprintf(secs, sizeof secs, "%lld", (long long)wait);
        zf_http_header(req, "Retry-After", secs);
        s_fail(req, html, 429, "rate_limited", "Too many requests",
               "Too many requests for unknown approval links; try again later.");
        return NULL;
    }
    const char *token = zf_http_param(req, "token");
    if (s_token_ok(token)) return token;
    s_count_failure(ip);
    s_fail(req, html, 404, "not_found", "Link not found", "This approval link does not exist.");
    return NULL;
}

/* ---- routes ------------------------------------------------------------------------------ */

void
zf_auto_callback_get(zf_http_req_t *req)
{
    char ip[64];
    const char *token = s_admit(req, true, ip);
    if (!token) return;
    json_t *rep = NULL;
    int rc = zf_http_call(req, "approval.get", json_pack("{s:s}", "token", token),
                          ZF_HTTP_CALL_TIMEOUT_MS, &rep, NULL, 0);
    const json_t *a = json_object_get(rep, "approval");
    const char *st = json_string_value(json_object_get(a, "status"));
    if (rc == ZF_ENOTFOUND) {
        s_count_failure(ip);
        s_simple_page(req, 404, "Link not found", "This approval link does not exist.");
    } else if (rc || !st) {
        s_simple_page(req, rc == ZF_EUNAVAIL || rc == ZF_ETIMEOUT ? 503 : 500,
                      "Temporarily unavailable",
                      "The request could not be loaded; try again later.");
    } else if (strcmp(st, "pending") == 0) {
        s_pending_page(req, a);
    } else if (strcmp(st, "expired") == 0) {
        s_simple_page(req, 410, "Link expired", "This approval link has expired.");
    } else if (strcmp(st, "closed") == 0) {
        s_simple_page(req, 410, "No longer open",
                      "This workflow run is no longer waiting for a decision.");
    } else {
        s_decided_page(req, a);
    }
    json_decref(rep);
}

//  The decision of a form or JSON body, or NULL.
static const char *
s_decision(zf_http_req_t *req)
{
    static char const *const ok[] = {"approved", "rejected"};
    char form[16];
    const char *d = json_string_value(json_object_get(zf_http_body(req), "decision"));
    if (!d && zf_http_form(req, "decision", form, sizeof form) >= 0) d = form;
    for (int i = 0; d && i < 2; i++) {
        if (strcmp(d, ok[i]) == 0) return ok[i];
    }
    return NULL;
}

static void
s_decide_failed(zf_http_req_t *req, bool html, int rc, const char *msg, const char *ip)
{
    const char *detail = zf_http_last_detail(req);
    if (rc == ZF_ENOTFOUND) {
        s_count_failure(ip);
        s_fail(req, html, 404, "not_found", "Link not found", "This approval link does not exist.");
    } else if (rc == ZF_ECONFLICT && strcmp(detail, "token_expired") == 0) {
        s_fail(req, html, 410, "token_expired", "Link expired", "This approval link has expired.");
    } else if (rc == ZF_ECONFLICT && strcmp(detail, "not_paused") == 0) {
        s_fail(req, html, 409, "not_paused", "No longer open",
               "This workflow run is no longer waiting for a decision.");
    } else if (rc == ZF_ECONFLICT) {
        s_fail(req, html, 409, "already_decided", "Already decided",
               "This request has already been decided.");
    } else if (rc == ZF_EINVAL) {
        s_fail(req, html, 400, "validation", "Invalid request", *msg ? msg : "Invalid request");
    } else {
        bool retry = rc == ZF_EUNAVAIL || rc == ZF_ETIMEOUT;
        s_fail(req, html, retry ? 503 : 500, retry ? "unavailable" : "internal",
               "Temporarily unavailable", "The decision could not be recorded; try again later.");
    }
}

void
zf_auto_callback_post(zf_http_req_t *req)
{
    bool html = s_wants_html(req);
    char ip[64], msg[512];
    const char *token = s_admit(req, html, ip);
    if (!token) return;
    const char *decision = s_decision(req);
    if (!decision) {
        s_fail(req, html, 400, "validation", "Invalid request",
               "decision: must be approved or rejected");
        return;
    }
    json_t *q =
        json_pack("{s:s, s:s, s:s}", "token", token, "decision", decision, "by", "callback");
    json_t *data = json_object_get(zf_http_body(req), "data"), *rep = NULL;
    if (data) json_object_set(q, "data", data);
    int rc =
        zf_http_call(req, "approval.decide", q, ZF_HTTP_CALL_TIMEOUT_MS, &rep, msg, sizeof msg);
    const json_t *run = json_object_get(rep, "run");
    if (rc) {
        s_decide_failed(req, html, rc, msg, ip);
    } else if (html) {
        char text[96];
        snprintf(text, sizeof text, "Thank you: the request was %s.", decision);
        s_simple_page(req, 200, "Decision recorded", text);
    } else {
        zf_http_respond(
            req, 200,
            json_pack("{s:b, s:s, s:O?, s:o}", "success", 1, "decision", decision, "runId",
                      json_object_get(run, "id"), "status",
                      zf_auto_run_status(json_string_value(json_object_get(run, "status")))));
    }
    json_decref(rep);
}

/* ---- form links (send_form) ---------------------------------------------------------------- */

//  One input per field; types outside the known set are text inputs.
static void
s_form_fields(s_page_t *p, const json_t *fields)
{
    size_t i;
    const json_t *f;
    fputs("<form method=\"post\">", p->f);
    json_array_foreach (fields, i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        const char *label = json_string_value(json_object_get(f, "label"));
        const char *type = json_string_value(json_object_get(f, "type"));
        if (!name) continue;
        bool req_ = json_is_true(json_object_get(f, "required"));
        fputs("<p><label>", p->f);
        s_esc(p->f, label ? label : name);
        fputs("<br>", p->f);
        if (type && strcmp(type, "textarea") == 0) {
            fputs("<textarea name=\"", p->f);
            s_esc(p->f, name);
            fprintf(p->f, "\"%s></textarea>", req_ ? " required" : "");
        } else {
            const char *t = type && (strcmp(type, "email") == 0 || strcmp(type, "number") == 0 ||
                                     strcmp(type, "checkbox") == 0)
                                ? type
                                : "text";
            fprintf(p->f, "<input type=\"%s\" name=\"", t);
            s_esc(p->f, name);
            fprintf(p->f, "\"%s%s>", strcmp(t, "checkbox") == 0 ? " value=\"true\"" : "",
                    req_ ? " required" : "");
        }
        fputs("</label></p>", p->f);
    }
    fputs("<button type=\"submit\">Submit</button></form>\n", p->f);
}

void
zf_auto_form_get(zf_http_req_t *req)
{
    char ip[64];
    const char *token = s_admit(req, true, ip);
    if (!token) return;
    json_t *rep = NULL;
    int rc = zf_http_call(req, "form.get", json_pack("{s:s}", "token", token),
                          ZF_HTTP_CALL_TIMEOUT_MS, &rep, NULL, 0);
    const json_t *a = json_object_get(rep, "form");
    const char *st = json_string_value(json_object_get(a, "status"));
    if (rc == ZF_ENOTFOUND) {
        s_count_failure(ip);
        s_simple_page(req, 404, "Link not found", "This form link does not exist.");
    } else if (rc || !st) {
        s_simple_page(req, 503, "Temporarily unavailable", "Try again later.");
    } else if (strcmp(st, "pending") == 0) {
        const char *title = json_string_value(json_object_get(a, "title"));
        const char *msg = json_string_value(json_object_get(a, "message"));
        s_page_t p;
        s_page_open(&p, title && *title ? title : "Please fill in this form");
        if (msg && *msg) s_para(&p, msg);
        s_details(&p, a);
        s_form_fields(&p, json_object_get(a, "fields"));
        s_page_send(req, &p, 200);
    } else if (strcmp(st, "expired") == 0 || strcmp(st, "closed") == 0) {
        s_simple_page(req, 410, "No longer open", "This form is no longer open.");
    } else {
        s_simple_page(req, 200, "Already submitted", "This form has already been submitted.");
    }
    json_decref(rep);
}

//  The submitted fields: the JSON body's "data" (or the body itself), or
//  the form-encoded fields the form page names.
static json_t *
s_form_data(zf_http_req_t *req, const char *token)
{
    json_t *body = zf_http_body(req);
    if (json_object_size(body) > 0) {
        json_t *d = json_object_get(body, "data");
        return json_incref(json_is_object(d) ? d : body);
    }
    json_t *rep = NULL, *out = json_object();
    if (zf_http_call(req, "form.get", json_pack("{s:s}", "token", token), ZF_HTTP_CALL_TIMEOUT_MS,
                     &rep, NULL, 0) == 0) {
        size_t i;
        const json_t *f;
        char value[4096];
        json_array_foreach (json_object_get(json_object_get(rep, "form"), "fields"), i, f) {
            const char *name = json_string_value(json_object_get(f, "name"));
            if (name && zf_http_form(req, name, value, sizeof value) >= 0)
                json_object_set_new(out, name, json_string(value));
        }
    }
    json_decref(rep);
    return out;
}

void
zf_auto_form_post(zf_http_req_t *req)
{
    bool html = s_wants_html(req);
    char ip[64], msg[512];
    const char *token = s_admit(req, html, ip);
    if (!token) return;
    json_t *q = json_pack("{s:s, s:o}", "token", token, "data", s_form_data(req, token)),
           *rep = NULL;
    int rc = zf_http_call(req, "form.submit", q, ZF_HTTP_CALL_TIMEOUT_MS, &rep, msg, sizeof msg);
    const json_t *run = json_object_get(rep, "run");
    if (rc)
        s_decide_failed(req, html, rc, msg, ip);
    else if (html)
        s_simple_page(req, 200, "Thank you", "Your answers were recorded.");
    else
        zf_http_respond(
            req, 200,
            json_pack("{s:b, s:O?, s:o}", "success", 1, "runId", json_object_get(run, "id"),
                      "status",
                      zf_auto_run_status(json_string_value(json_object_get(run, "status")))));
    json_decref(rep);
}
