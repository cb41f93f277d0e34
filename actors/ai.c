/*  actors/ai.c — AI providers: the OpenAI-compatible one, and the glue
    the `ai` and `agent` step kinds share.

    Provider "openai": POST {url}/chat/completions with
      {"model", "messages": [{role, content}], "temperature"?, "max_tokens"?,
       "response_format"?: {"type": "json_object"}}
    and "Authorization: Bearer <key>" when a key is set. The answer is
    parsed strictly: a JSON object whose choices[0].message.content is a
    string; finish_reason a string or null; usage, when present, an object
    of non-negative integers. Anything else is a clear FINAL error (the
    endpoint is not OpenAI-compatible; retrying will not fix it).

    Outcome of a request: 2xx parsed; 408, 429, 5xx, transport errors and
    timeouts are retryable (Retry-After honoured); other statuses, redirects
    (never followed: the operator's URL is the only destination) and
    answers over ZF_AI_RESPONSE_MAX are final. Error texts carry the
    provider's error.message (sanitised, truncated) and never the key.
*/
#include "actors/ai.h"
#include "actors/growbuf.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_MODEL_MAX       200         // bytes in a model name
#define S_URL_MAX         8192        // bytes in the endpoint URL
#define S_RETRY_AFTER_MAX 86400000LL  // ms; longer Retry-After values are capped
#define S_DETAIL_MAX      160         // bytes of the provider's error message kept

//  State shared with curl's callbacks during one request.
typedef struct {
    char *body;            // response body (grows)
    size_t len;            // used bytes of body
    size_t cap;            // allocated bytes of body
    int too_large;         // body passed ZF_AI_RESPONSE_MAX
    char retry_after[64];  // Retry-After header value ("" = none)
} s_call_t;

static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;

static void
s_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void s_fail(zf_ai_reply_t *reply, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
s_fail(zf_ai_reply_t *reply, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reply->error, sizeof reply->error, fmt, ap);
    va_end(ap);
}

static char *
s_strdup(const char *s)
{
    char *d = strdup(s);
    if (!d) abort();
    return d;
}

// =========================================================================
//  curl callbacks
// =========================================================================

static size_t
s_on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    s_call_t *call = ud;
    return zf_growbuf_append(&call->body, &call->len, &call->cap, ZF_AI_RESPONSE_MAX,
                             &call->too_large, data, size * nmemb);
}

//  Keeps only Retry-After (of the last response).
static size_t
s_on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    s_call_t *call = ud;
    size_t n = size * nmemb, k = strlen("retry-after:");
    if (n >= 5 && !strncmp(data, "HTTP/", 5)) call->retry_after[0] = '\0';
    if (n <= k || strncasecmp(data, "retry-after:", k) != 0) return n;
    const char *v = data + k, *end = data + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    if ((size_t)(end - v) < sizeof call->retry_after)
        snprintf(call->retry_after, sizeof call->retry_after, "%.*s", (int)(end - v), v);
    return n;
}

//  Retry-After as delay-seconds or an HTTP-date (curl_getdate: no TZ games).
static int64_t
s_retry_after(const char *v)
{
    int64_t ms;
    if (!v[0]) return 0;
    if (strspn(v, "0123456789") == strlen(v))
        ms = strlen(v) > 9 ? S_RETRY_AFTER_MAX : atoll(v) * 1000;
    else {
        time_t t = curl_getdate(v, NULL);
        ms = t < 0 ? 0 : ((int64_t)t - (int64_t)time(NULL)) * 1000;
    }
    return ms < 0 ? 0 : ms > S_RETRY_AFTER_MAX ? S_RETRY_AFTER_MAX : ms;
}

// =========================================================================
//  Request
// =========================================================================

//  The JSON body of a chat completion request (caller frees); NULL when
//  the model name is not UTF-8 (it may come from --ai-model as typed).
static char *
s_request_body(const zf_ai_request_t *req)
{
    json_t *b = json_pack("{s:s, s:O}", "model", req->model, "messages", req->messages);
    if (!b) return NULL;
    if (req->temperature >= 0) json_object_set_new(b, "temperature", json_real(req->temperature));
    if (req->max_tokens > 0) json_object_set_new(b, "max_tokens", json_integer(req->max_tokens));
    if (req->json)
        json_object_set_new(b, "response_format", json_pack("{s:s}", "type", "json_object"));
    char *s = json_dumps(b, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(b);
    if (!s) abort();
    return s;
}

//  {url}/chat/completions with trailing slashes of url dropped; NULL if
//  the URL is not http(s) or too long.
static char *
s_endpoint_url(const char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    if (n > S_URL_MAX || (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8)))
        return NULL;
    char *out = NULL;
    if (asprintf(&out, "%.*s/chat/completions", (int)n, url) < 0) abort();
    return out;
}

static struct curl_slist *
s_append(struct curl_slist *list, const char *line)
{
    struct curl_slist *l = curl_slist_append(list, line);
    if (!l) abort();
    return l;
}

//  Content-Type, Accept, no Expect: 100-continue, and the bearer key
//  (checked for CR/LF by the caller).
static struct curl_slist *
s_headers(const zf_ai_endpoint_t *ep)
{
    struct curl_slist *list = s_append(NULL, "Content-Type: application/json");
    list = s_append(list, "Accept: application/json");
    list = s_append(list, "Expect:");
    if (ep->key && ep->key[0]) {
        char *line = NULL;
        if (asprintf(&line, "Authorization: Bearer %s", ep->key) < 0) abort();
        list = s_append(list, line);
        free(line);
    }
    return list;
}

//  Redirects are not followed and proxies from the environment are not
//  used: the operator's URL is the only place prompts are sent.
static void
s_setup(CURL *h, s_call_t *call, const char *url, long timeout_ms)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "zflow/1");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)ZF_AI_RESPONSE_MAX);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, call);
}

// =========================================================================
//  Response
// =========================================================================

//  The provider's error.message (or a string "error"), printable ASCII
//  only and truncated, into buf; "" when the body says nothing usable.
static void
s_error_detail(const char *body, size_t len, char *buf, size_t buflen)
{
    json_t *j = body ? json_loadb(body, len, 0, NULL) : NULL;
    const json_t *e = json_object_get(j, "error");
    const char *m =
        json_is_string(e) ? json_string_value(e) : json_string_value(json_object_get(e, "message"));
    size_t n = 0;
    for (; m && *m && n + 1 < buflen && n < S_DETAIL_MAX; m++)
        buf[n++] = (*m >= 0x20 && *m < 0x7f) ? *m : ' ';
    buf[n] = '\0';
    json_decref(j);
}

//  A non-2xx answer: status class, provider detail, Retry-After.
static zf_ai_status_t
s_http_error(s_call_t *call, long status, zf_ai_reply_t *reply)
{
    char detail[S_DETAIL_MAX + 1];
    s_error_detail(call->body, call->len, detail, sizeof detail);
    int retry = status == 408 || status == 429 || (status >= 500 && status <= 599);
    if (status >= 300 && status < 400)
        s_fail(reply, "ai: HTTP %ld from the provider (redirects are not followed; check --ai-url)",
               status);
    else
        s_fail(reply, "ai: HTTP %ld from the provider%s%s", status, detail[0] ? ": " : "", detail);
    if (retry) reply->retry_after_ms = s_retry_after(call->retry_after);
    return retry ? ZF_AI_RETRY : ZF_AI_FINAL;
}

//  usage: absent → all null; else an object whose known fields are
//  non-negative integers (or absent/null). NULL on a bad shape.
static json_t *
s_parse_usage(const json_t *u, const char **bad)
{
    static const char *const fields[] = {"prompt_tokens", "completion_tokens", "total_tokens"};
    json_t *out = json_object();
    if (u && !json_is_null(u) && !json_is_object(u)) *bad = "usage: must be an object";
    for (size_t i = 0; !*bad && i < 3; i++) {
        const json_t *v = json_object_get(u, fields[i]);
        if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) >= 0))
            *bad = i == 0   ? "usage.prompt_tokens: must be a non-negative integer"
                   : i == 1 ? "usage.completion_tokens: must be a non-negative integer"
                            : "usage.total_tokens: must be a non-negative integer";
        else
            json_object_set_new(out, fields[i], v ? json_deep_copy(v) : json_null());
    }
    if (*bad) json_decref(out);
    return *bad ? NULL : out;
}

//  The message of choices[0], or NULL with *bad set.
static const json_t *
s_first_choice(const json_t *root, const char **bad)
{
    const json_t *choices = json_object_get(root, "choices");
    if (!json_is_array(choices) || json_array_size(choices) == 0) {
        *bad = "choices: must be a non-empty array";
        return NULL;
    }
    const json_t *c = json_array_get(choices, 0);
    if (!json_is_object(c) || !json_is_object(json_object_get(c, "message"))) {
        *bad = "choices[0].message: must be an object";
        return NULL;
    }
    const json_t *fr = json_object_get(c, "finish_reason");
    if (fr && !json_is_null(fr) && !json_is_string(fr)) {
        *bad = "choices[0].finish_reason: must be a string or null";
        return NULL;
    }
    if (!json_is_string(json_object_get(json_object_get(c, "message"), "content"))) {
        *bad = "choices[0].message.content: must be a string";
        return NULL;
    }
    return c;
}

//  Strict parse of a 2xx body into reply.
static zf_ai_status_t
s_parse_ok(s_call_t *call, const zf_ai_request_t *req, zf_ai_reply_t *reply)
{
    json_error_t jerr;
    const char *bad = NULL;
    json_t *root =
        call->body ? json_loadb(call->body, call->len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!json_is_object(root)) {
        s_fail(reply, "ai: malformed response from the provider: %s",
               root        ? "not a JSON object"
               : call->len ? "not JSON"
                           : "empty body");
        json_decref(root);
        return ZF_AI_FINAL;
    }
    const json_t *choice = s_first_choice(root, &bad);
    const json_t *model = json_object_get(root, "model");
    if (!bad && model && !json_is_null(model) && !json_is_string(model))
        bad = "model: must be a string";
    json_t *usage = bad ? NULL : s_parse_usage(json_object_get(root, "usage"), &bad);
    if (bad) {
        s_fail(reply, "ai: malformed response from the provider: %s", bad);
        json_decref(root);
        return ZF_AI_FINAL;
    }
    const json_t *fr = json_object_get(choice, "finish_reason");
    reply->text =
        s_strdup(json_string_value(json_object_get(json_object_get(choice, "message"), "content")));
    reply->model = s_strdup(json_is_string(model) ? json_string_value(model) : req->model);
    reply->finish_reason = json_is_string(fr) ? s_strdup(json_string_value(fr)) : NULL;
    reply->usage = usage;
    json_decref(root);
    return ZF_AI_OK;
}

static zf_ai_status_t
s_transport_error(s_call_t *call, CURLcode rc, long timeout_ms, zf_ai_reply_t *reply)
{
    if (call->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        s_fail(reply, "ai: response too large (limit %d bytes)", ZF_AI_RESPONSE_MAX);
        return ZF_AI_FINAL;
    }
    if (rc == CURLE_OPERATION_TIMEDOUT)
        s_fail(reply, "ai: no answer from the provider within %ld ms", timeout_ms);
    else
        s_fail(reply, "ai: transport error: %s", curl_easy_strerror(rc));
    return ZF_AI_RETRY;
}

//  One chat completion request (see the file comment for the outcomes).
static zf_ai_status_t
s_openai_chat(const zf_ai_endpoint_t *ep, const zf_ai_request_t *req, zf_ai_reply_t *reply)
{
    pthread_once(&s_curl_once, s_curl_init);
    if (ep->key && strpbrk(ep->key, "\r\n")) {
        s_fail(reply, "ai: ZFLOW_AI_KEY holds a line break");
        return ZF_AI_FINAL;
    }
    char *payload = s_request_body(req), *url = ep->url ? s_endpoint_url(ep->url) : NULL;
    if (!url || !payload) {
        s_fail(reply, "ai: %s",
               !url ? "the provider URL must be an http or https URL"
                    : "the model name is not valid UTF-8");
        free(payload);
        free(url);
        return ZF_AI_FINAL;
    }
    s_call_t call = {0};
    struct curl_slist *headers = s_headers(ep);
    CURL *h = curl_easy_init();
    if (!h) abort();
    s_setup(h, &call, url, req->timeout_ms);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply->http_status);
    zf_ai_status_t st;
    if (rc != CURLE_OK)
        st = s_transport_error(&call, rc, req->timeout_ms, reply);
    else if (reply->http_status < 200 || reply->http_status > 299)
        st = s_http_error(&call, reply->http_status, reply);
    else
        st = s_parse_ok(&call, req, reply);
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    free(payload);
    free(call.body);
    free(url);
    return st;
}

const zf_ai_provider_t zf_ai_openai = {"openai", s_openai_chat};

void
zf_ai_reply_clear(zf_ai_reply_t *reply)
{
    if (!reply) return;
    free(reply->text);
    free(reply->model);
    free(reply->finish_reason);
    json_decref(reply->usage);
    memset(reply, 0, sizeof *reply);
}

// =========================================================================
//  Step glue (kinds ai and agent)
// =========================================================================

static const char s_json_rule[] = "Answer with a single JSON object and nothing else.";

int
zf_ai_check_options(const json_t *config, char *err, size_t errlen)
{
    const json_t *m = json_object_get(config, "model"), *s = json_object_get(config, "system");
    const json_t *t = json_object_get(config, "temperature");
    const json_t *mt = json_object_get(config, "max_tokens"), *j = json_object_get(config, "json");
    const char *bad = NULL;
    if (m &&
        !(json_is_string(m) && json_string_length(m) >= 1 && json_string_length(m) <= S_MODEL_MAX &&
          strlen(json_string_value(m)) == json_string_length(m)))
        bad = "config.model: must be a string of 1 to 200 characters";
    else if (s && !(json_is_string(s) && json_string_length(s) <= ZF_AI_TEXT_MAX))
        bad = "config.system: must be a string of at most 524288 bytes";
    else if (t && !(json_is_number(t) && json_number_value(t) >= 0 && json_number_value(t) <= 2))
        bad = "config.temperature: must be a number from 0 to 2";
    else if (mt && !(json_is_integer(mt) && json_integer_value(mt) >= 1 &&
                     json_integer_value(mt) <= ZF_AI_MAX_TOKENS_LIMIT))
        bad = "config.max_tokens: must be an integer from 1 to 32768";
    else if (j && !json_is_boolean(j))
        bad = "config.json: must be a boolean";
    if (bad) snprintf(err, errlen, "%s", bad);
    return bad ? -1 : 0;
}

//  [{system}, {user}]; json mode adds the JSON rule to the system text
//  (OpenAI refuses json_object mode unless a message mentions JSON).
static json_t *
s_messages(const char *system, const char *prompt, int json)
{
    json_t *msgs = json_array();
    char *sys = NULL;
    if (json &&
        asprintf(&sys, "%s%s%s", system ? system : "", system ? "\n\n" : "", s_json_rule) < 0)
        abort();
    if (sys || system)
        json_array_append_new(
            msgs, json_pack("{s:s, s:s}", "role", "system", "content", sys ? sys : system));
    json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", prompt));
    free(sys);
    return msgs;
}

//  The answer of json mode as an object: the text, or the body of a
//  ```json fence around it. NULL with err when it is not a JSON object.
static json_t *
s_json_answer(const char *text, char *err, size_t errlen)
{
    const char *b = text, *e = text + strlen(text);
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    if (e - b >= 6 && !strncmp(b, "```", 3) && !strncmp(e - 3, "```", 3)) {
        const char *nl = memchr(b, '\n', (size_t)(e - b));
        b = nl && nl < e - 3 ? nl + 1 : e - 3;
        e -= 3;
    }
    json_error_t jerr;
    json_t *j = json_loadb(b, (size_t)(e - b), JSON_REJECT_DUPLICATES, &jerr);
    if (json_is_object(j)) return j;
    snprintf(err, errlen, "%s", j ? "a JSON value but not an object" : jerr.text);
    json_decref(j);
    return NULL;
}

//  OK output from a reply; json mode parses the answer (a non-object is a
//  retryable failure: another sample of the model may comply).
static void
s_step_output(const zf_ai_reply_t *reply, int json, zf_step_result_t *res)
{
    char err[160];
    json_t *parsed = json ? s_json_answer(reply->text, err, sizeof err) : NULL;
    if (json && !parsed) {
        zf_step_fail(res, ZF_STEP_FAIL,
                     "ai: json mode: the model's answer is not a JSON object (%s)", err);
        return;
    }
    res->output = json_pack("{s:s, s:s, s:s?, s:O}", "text", reply->text, "model", reply->model,
                            "finish_reason", reply->finish_reason, "usage", reply->usage);
    if (!res->output) abort();
    if (parsed) json_object_set_new(res->output, "json", parsed);
    res->status = ZF_STEP_OK;
}

static const char *
s_model(const zf_step_ctx_t *ctx, const json_t *config)
{
    const char *m = json_string_value(json_object_get(config, "model"));
    if (m) return m;
    return ctx->ai_model && ctx->ai_model[0] ? ctx->ai_model : ZF_AI_DEFAULT_MODEL;
}

void
zf_ai_step_run(zf_step_ctx_t *ctx, const json_t *config, const char *system, const char *prompt,
               zf_step_result_t *res)
{
    if (!ctx->ai_url || !ctx->ai_url[0]) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "%s", ZF_AI_UNCONFIGURED);
        return;
    }
    size_t plen = strlen(prompt), slen = system ? strlen(system) : 0;
    if (plen > ZF_AI_TEXT_MAX || slen > ZF_AI_TEXT_MAX) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "ai: the %s is %zu bytes (limit %d)",
                     plen > ZF_AI_TEXT_MAX ? "prompt" : "system text",
                     plen > ZF_AI_TEXT_MAX ? plen : slen, ZF_AI_TEXT_MAX);
        return;
    }
    const json_t *t = json_object_get(config, "temperature");
    int json = json_is_true(json_object_get(config, "json"));
    json_t *messages = s_messages(system, prompt, json);
    zf_ai_request_t req = {
        .model = s_model(ctx, config),
        .messages = messages,
        .temperature = t ? json_number_value(t) : -1,
        .max_tokens = (int)json_integer_value(json_object_get(config, "max_tokens")),
        .json = json,
        .timeout_ms = ctx->timeout_ms > 0 ? (long)ctx->timeout_ms : ZF_AI_TIMEOUT_MS,
    };
    zf_ai_endpoint_t ep = {.url = ctx->ai_url, .key = ctx->ai_key};
    zf_ai_reply_t reply = {0};
    zf_ai_status_t st = zf_ai_openai.chat(&ep, &req, &reply);
    if (st == ZF_AI_OK)
        s_step_output(&reply, json, res);
    else {
        zf_step_fail(res, st == ZF_AI_RETRY ? ZF_STEP_FAIL : ZF_STEP_FAIL_FINAL, "%s", reply.error);
        res->retry_after_ms = reply.retry_after_ms;
    }
    zf_ai_reply_clear(&reply);
    json_decref(messages);
}
