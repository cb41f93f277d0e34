/*  actors/mail.c — one email: validation, envelope and SMTP delivery
    (libcurl); the message itself is built by actors/mime.c. See mail.h.

    Delivery: MAIL FROM = the From address; Bcc recipients are envelope-
    only; an address listed twice is sent to once. With libcurl >= 7.69 a
    rejected RCPT does not abort the others (CURLOPT_MAIL_RCPT_ALLOWFAILS,
    spelled ALLLOWFAILS before 8.2); the per-recipient replies are read
    from curl's protocol trace. Older libcurl: all or nothing. libcurl's
    SMTP upload does the dot-stuffing ("\r\n." sent as "\r\n..") and the
    final "\r\n.\r\n".

    No egress guard: unlike http_request's URL, the SMTP server is chosen
    by the operator (--smtp-url), never by workflow authors, and is often
    a relay on localhost or a private network.
*/
#include "actors/mail.h"
#include "actors/template.h"

#include "actors/mime.h"
#include "broker/errors.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define S_BODY_MAX        (1024 * 1024)      // bytes in body, html
#define S_TEMPLATE_MAX    200                // bytes in a template name
#define S_DATA_MAX        (64 * 1024)        // bytes of the data rendering
#define S_TIMEOUT_DEFAULT 30000              // ms
#define S_ID_MAX          128                // bytes kept of run/node ids in Message-ID
#define S_SEED_MAX        255                // bytes kept of a Message-ID seed
#define S_DEFAULT_FROM    "zflow@localhost"  // when neither config nor conf name a sender
#define S_DEFAULT_TYPE    "application/octet-stream"
#define S_ERR             "email_delivery_failed: "

//  The message's envelope and address headers.
typedef struct {
    zf_mime_mailbox_t from;                    // From and MAIL FROM
    zf_mime_mailbox_t reply_to;                // Reply-To (addr "" = none)
    zf_mime_mailbox_t rcpt[ZF_MAIL_RCPT_MAX];  // to, then cc, then bcc
    size_t n_to, n_cc, n_bcc;                  // how many of each in rcpt
} s_envelope_t;

//  State shared with curl's callbacks during one send.
typedef struct {
    const char *msg;                  // message being uploaded
    size_t len;                       // bytes of msg
    size_t off;                       // bytes already handed to curl
    char rcpt[ZF_MIME_ADDR_MAX + 1];  // address of the RCPT TO awaiting its reply
    int in_rcpt;                      // a RCPT TO reply is pending
    json_t *accepted;                 // addresses the server took
    json_t *rejected;                 // addresses the server refused
    long code;                        // reply code to the latest command (0 = none yet)
    char reply[160];                  // text of that reply, printable ASCII
    int quitting;                     // QUIT was sent: later replies are ignored
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

//  Writes "<root>.<key><fmt...>" (or "<key>..." without a root) into err.
__attribute__((format(printf, 5, 6))) static int
s_errf(char *err, size_t errlen, const char *root, const char *key, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (key)
        snprintf(err, errlen, "%s%s%s%s", root ? root : "", root ? "." : "", key, msg);
    else
        snprintf(err, errlen, "%s%s%s", root ? root : "", root ? ": " : "", msg);
    return ZF_EINVAL;
}

//  One address value; i = (size_t)-1 for single-address fields.
static int
s_check_mailbox(const char *root, const char *key, size_t i, const json_t *v, int strict, char *err,
                size_t errlen)
{
    zf_mime_mailbox_t mb;
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) > ZF_MIME_MAILBOX_MAX)
        return s_errf(err, errlen, root, key, ": addresses must be strings of at most %d bytes",
                      ZF_MIME_MAILBOX_MAX);
    if (zf_tpl_pending(v, strict) || zf_mime_mailbox_parse(s, &mb) == 0) return 0;
    if (i == (size_t)-1)
        return s_errf(err, errlen, root, key, ": invalid email address '%.80s'", s);
    return s_errf(err, errlen, root, key, "[%zu]: invalid email address '%.80s'", i, s);
}

//  to/cc/bcc: a string or an array of strings; adds the count to *n.
static int
s_check_list(const json_t *config, const char *root, const char *key, int strict, size_t *n,
             char *err, size_t errlen)
{
    const json_t *v = json_object_get(config, key), *e;
    size_t i;
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v)) {
        (*n)++;
        return s_check_mailbox(root, key, 0, v, strict, err, errlen);
    }
    if (!json_is_array(v))
        return s_errf(err, errlen, root, key, ": must be an address or an array of addresses");
    json_array_foreach (v, i, e) {
        if (s_check_mailbox(root, key, i, e, strict, err, errlen) != 0) return ZF_EINVAL;
    }
    *n += json_array_size(v);
    return 0;
}

//  A single-address field (from, reply_to).
static int
s_check_single(const json_t *config, const char *root, const char *key, int strict, char *err,
               size_t errlen)
{
    const json_t *v = json_object_get(config, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return s_errf(err, errlen, root, key, ": must be an email address");
    return s_check_mailbox(root, key, (size_t)-1, v, strict, err, errlen);
}

static int
s_check_recipients(const json_t *config, const char *root, int strict, char *err, size_t errlen)
{
    size_t n = 0;
    const json_t *to = json_object_get(config, "to");
    if (!to || json_is_null(to) || (json_is_array(to) && json_array_size(to) == 0))
        return s_errf(err, errlen, root, "to", ": required (an address or an array of addresses)");
    if (s_check_list(config, root, "to", strict, &n, err, errlen) != 0 ||
        s_check_list(config, root, "cc", strict, &n, err, errlen) != 0 ||
        s_check_list(config, root, "bcc", strict, &n, err, errlen) != 0 ||
        s_check_single(config, root, "from", strict, err, errlen) != 0 ||
        s_check_single(config, root, "reply_to", strict, err, errlen) != 0)
        return ZF_EINVAL;
    if (n > ZF_MAIL_RCPT_MAX)
        return s_errf(err, errlen, root, NULL, "at most %d recipients in to, cc and bcc (got %zu)",
                      ZF_MAIL_RCPT_MAX, n);
    return 0;
}

//  subject/body/html/template/data: types, sizes, and which must be there.
static int
s_check_content(const json_t *config, const char *root, char *err, size_t errlen)
{
    static const struct {
        const char *key;  // config key
        size_t max;       // byte limit of a string value
    } fields[] = {{"subject", ZF_MIME_SUBJECT_MAX},
                  {"body", S_BODY_MAX},
                  {"html", S_BODY_MAX},
                  {"template", S_TEMPLATE_MAX}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const json_t *v = json_object_get(config, fields[i].key);
        if (v && !json_is_null(v) &&
            (!zf_tpl_is_text(v) || (json_is_string(v) && json_string_length(v) > fields[i].max)))
            return s_errf(err, errlen, root, fields[i].key,
                          ": must be a string of at most %zu bytes", fields[i].max);
    }
    const json_t *data = json_object_get(config, "data");
    if (data && !json_is_null(data) && !json_is_object(data))
        return s_errf(err, errlen, root, "data", ": must be an object");
    int has_tpl = zf_tpl_is_text(json_object_get(config, "template"));
    int has_subject = zf_tpl_is_text(json_object_get(config, "subject"));
    int has_body = zf_tpl_is_text(json_object_get(config, "body")) ||
                   zf_tpl_is_text(json_object_get(config, "html"));
    if (!has_tpl && (!has_subject || !has_body))
        return s_errf(err, errlen, root, NULL,
                      "needs \"template\", or \"subject\" and \"body\" or \"html\"");
    return 0;
}

//  One attachment; adds its decoded size to *total.
static int
s_check_attachment(const json_t *a, size_t i, const char *root, int strict, size_t *total,
                   char *err, size_t errlen)
{
    const json_t *name = json_object_get(a, "filename"), *content = json_object_get(a, "content");
    const json_t *type = json_object_get(a, "contentType");
    size_t n = 0;
    if (zf_tpl_pending(a, strict)) return 0;
    if (!json_is_object(a))
        return s_errf(err, errlen, root, "attachments",
                      "[%zu]: must be an object with "
                      "\"filename\" and \"content\"",
                      i);
    if (!json_is_string(name) || json_string_length(name) == 0 ||
        json_string_length(name) > ZF_MIME_FILENAME_MAX)
        return s_errf(err, errlen, root, "attachments",
                      "[%zu].filename: must be a string of 1 to "
                      "%d bytes",
                      i, ZF_MIME_FILENAME_MAX);
    if (type && !json_is_null(type) && !zf_tpl_pending(type, strict) &&
        !zf_mime_type_ok(json_string_value(type)))
        return s_errf(err, errlen, root, "attachments",
                      "[%zu].contentType: must be a MIME type "
                      "such as application/pdf",
                      i);
    if (zf_tpl_pending(content, strict)) return 0;
    if (!json_is_string(content))
        return s_errf(err, errlen, root, "attachments", "[%zu].content: must be a base64 string",
                      i);
    if (zf_mime_b64_check(json_string_value(content), json_string_length(content), &n) != 0)
        return s_errf(err, errlen, root, "attachments", "[%zu].content: invalid base64", i);
    *total += n;
    return 0;
}

static int
s_check_attachments(const json_t *config, const char *root, int strict, char *err, size_t errlen)
{
    const json_t *list = json_object_get(config, "attachments"), *a;
    size_t i, total = 0;
    if (!list || json_is_null(list) || zf_tpl_pending(list, strict)) return 0;
    if (!json_is_array(list) || json_array_size(list) > ZF_MAIL_ATTACH_MAX)
        return s_errf(err, errlen, root, "attachments",
                      ": must be an array of at most %d "
                      "attachments",
                      ZF_MAIL_ATTACH_MAX);
    json_array_foreach (list, i, a) {
        if (s_check_attachment(a, i, root, strict, &total, err, errlen) != 0) return ZF_EINVAL;
    }
    if (total > ZF_MAIL_ATTACH_BYTES)
        return s_errf(err, errlen, root, "attachments",
                      ": at most %d MiB of decoded content in "
                      "all (got %zu bytes)",
                      ZF_MAIL_ATTACH_BYTES >> 20, total);
    return 0;
}

int
zf_mail_validate(const json_t *config, int strict, const char *root, char *err, size_t errlen)
{
    if (!json_is_object(config)) return s_errf(err, errlen, root, NULL, "must be an object");
    if (s_check_recipients(config, root, strict, err, errlen) != 0 ||
        s_check_content(config, root, err, errlen) != 0)
        return ZF_EINVAL;
    return s_check_attachments(config, root, strict, err, errlen);
}

// =========================================================================
//  Message parts from the description
// =========================================================================

char *
zf_mail_text_dup(const json_t *v)
{
    char *s = NULL;
    if (json_is_string(v))
        s = strdup(json_string_value(v));
    else if (v && !json_is_null(v))
        s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    else
        return NULL;
    if (!s) abort();
    return s;
}

//  The template fallback body: "key: value" lines of data, bounded.
static char *
s_data_body(const json_t *data)
{
    size_t len = 0;
    char *out = calloc(1, S_DATA_MAX + 1);
    const char *key;
    const json_t *v;
    if (!out) abort();
    json_object_foreach ((json_t *)data, key, v) {
        char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        const char *val = json_is_string(v) ? json_string_value(v) : text ? text : "";
        size_t n = strlen(key) + strlen(val) + 3;
        if (len + n + 1 > S_DATA_MAX) {
            free(text);
            break;
        }
        len += (size_t)snprintf(out + len, S_DATA_MAX + 1 - len, "%s: %s\n", key, val);
        free(text);
    }
    return out;
}

//  Appends the addresses of one list (string or array), dropping repeats.
static void
s_add_list(s_envelope_t *env, const json_t *v, size_t *count)
{
    size_t n = json_is_array(v) ? json_array_size(v) : v && json_is_string(v) ? 1 : 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        size_t at = env->n_to + env->n_cc + env->n_bcc;
        int dup = 0;
        if (at >= ZF_MAIL_RCPT_MAX ||
            zf_mime_mailbox_parse(json_string_value(e), &env->rcpt[at]) != 0)
            continue;
        for (size_t j = 0; j < at && !dup; j++)
            dup = !strcasecmp(env->rcpt[j].addr, env->rcpt[at].addr);
        if (!dup) (*count)++;
    }
}

static void
s_envelope(const zf_mail_conf_t *conf, const json_t *config, s_envelope_t *env)
{
    const char *from = json_string_value(json_object_get(config, "from"));
    const char *reply = json_string_value(json_object_get(config, "reply_to"));
    memset(env, 0, sizeof *env);
    if (!from || !*from) from = conf->smtp_from && *conf->smtp_from ? conf->smtp_from : NULL;
    if (!from || zf_mime_mailbox_parse(from, &env->from) != 0)
        zf_mime_mailbox_parse(S_DEFAULT_FROM, &env->from);
    if (reply) zf_mime_mailbox_parse(reply, &env->reply_to);
    s_add_list(env, json_object_get(config, "to"), &env->n_to);
    s_add_list(env, json_object_get(config, "cc"), &env->n_cc);
    s_add_list(env, json_object_get(config, "bcc"), &env->n_bcc);
}

//  Decoded attachments of a validated description (n set; NULL if none).
static zf_mime_attachment_t *
s_attachments(const json_t *config, size_t *n)
{
    const json_t *list = json_object_get(config, "attachments"), *a;
    size_t i;
    *n = json_is_array(list) ? json_array_size(list) : 0;
    if (*n == 0) return NULL;
    zf_mime_attachment_t *out = calloc(*n, sizeof *out);
    if (!out) abort();
    json_array_foreach (list, i, a) {
        const json_t *content = json_object_get(a, "content");
        out[i].filename = json_string_value(json_object_get(a, "filename"));
        out[i].content_type = json_string_value(json_object_get(a, "contentType"));
        out[i].data = zf_mime_b64_decode(json_string_value(content), json_string_length(content),
                                         &out[i].len);
        if (!out[i].data) abort();  // validated before
    }
    return out;
}

static void
s_attachments_free(zf_mime_attachment_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((void *)a[i].data);
    free(a);
}

//  The whole message of a validated description.
static char *
s_message(const zf_mail_conf_t *conf, const json_t *config, const s_envelope_t *env,
          const char *msgid, size_t *len)
{
    const json_t *tpl = json_object_get(config, "template");
    zf_mime_message_t m = {.date_ms = conf->now_ms,
                           .from = &env->from,
                           .reply_to = &env->reply_to,
                           .to = env->rcpt,
                           .n_to = env->n_to,
                           .cc = env->rcpt + env->n_to,
                           .n_cc = env->n_cc,
                           .message_id = msgid};
    char *subject = zf_mail_text_dup(json_object_get(config, "subject"));
    char *text = zf_mail_text_dup(json_object_get(config, "body"));
    char *html = zf_mail_text_dup(json_object_get(config, "html"));
    if (!subject) subject = zf_mail_text_dup(tpl);
    if (!text && !html) text = s_data_body(json_object_get(config, "data"));
    m.subject = subject;
    m.text = text;
    m.html = html;
    zf_mime_attachment_t *att = s_attachments(config, &m.n_attachments);
    m.attachments = att;
    char *msg = zf_mime_build(&m, len);
    s_attachments_free(att, m.n_attachments);
    free(subject);
    free(text);
    free(html);
    return msg;
}

// =========================================================================
//  Message-ID
// =========================================================================

//  Message-ID atom: s with anything outside atext as '_', at most max bytes.
static size_t
s_id_part(const char *s, size_t max, int dots, char *out)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789!#$%&'*+/=?^_`{|}~-";
    size_t n = 0;
    for (; s && s[n] && n < max; n++) {
        //  A dot-atom: no dot first, last or after another dot.
        int dot_ok = dots && s[n] == '.' && n > 0 && s[n + 1] && n + 1 < max && out[n - 1] != '.';
        out[n] = memchr(ok, s[n], sizeof ok - 1) || dot_ok ? s[n] : '_';
    }
    out[n] = '\0';
    return n;
}

void
zf_mail_id_seed(const char *run_id, const char *node_id, char *out, size_t outlen)
{
    char run[S_ID_MAX + 1], node[S_ID_MAX + 1];
    if (s_id_part(run_id, S_ID_MAX, 0, run) == 0) strcpy(run, "x");
    if (s_id_part(node_id, S_ID_MAX, 0, node) == 0) strcpy(node, "x");
    snprintf(out, outlen, "%s.%s", run, node);
}

//  "<seed@zflow>" (malloc'd); a random seed when none is given.
static char *
s_message_id(const char *seed)
{
    char part[S_SEED_MAX + 1], rnd[33];
    if (!seed || !*seed) {
        unsigned char r[16];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) abort();
        for (size_t i = 0; i < sizeof r; i++)
            snprintf(rnd + 2 * i, 3, "%02x", r[i]);
        seed = rnd;
    }
    s_id_part(seed, S_SEED_MAX, 1, part);
    char *id = malloc(strlen(part) + 9);
    if (!id) abort();
    sprintf(id, "<%s@zflow>", part);
    return id;
}

// =========================================================================
//  curl
// =========================================================================

static size_t
s_on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    s_call_t *call = ud;
    size_t n = size * nmemb;
    if (n > call->len - call->off) n = call->len - call->off;
    memcpy(buf, call->msg + call->off, n);
    call->off += n;
    return n;
}

//  One server reply line: the final line of a reply ("250 ok", not
//  "250-...") sets the code and settles a pending RCPT.
static void
s_on_reply_line(s_call_t *call, const char *line, size_t n)
{
    if (n < 3 || !isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
        !isdigit((unsigned char)line[2]) || (n > 3 && line[3] == '-'))
        return;
    call->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < sizeof call->reply; i++)
        if (line[i] >= 0x20 && line[i] < 0x7f) call->reply[o++] = line[i];
    call->reply[o] = '\0';
    if (call->in_rcpt)
        json_array_append_new(call->code / 100 == 2 ? call->accepted : call->rejected,
                              json_string(call->rcpt));
    call->in_rcpt = 0;
}

//  curl's protocol trace: commands out (remember which RCPT is pending)
//  and replies in. Message data (CURLINFO_DATA_OUT) is ignored.
static int
s_on_trace(CURL *h, curl_infotype type, char *data, size_t size, void *ud)
{
    s_call_t *call = ud;
    (void)h;
    if (type == CURLINFO_HEADER_OUT && size >= 4 && !strncasecmp(data, "QUIT", 4)) {
        call->quitting = 1;  // the reply to QUIT must not hide the one that failed
    } else if (type == CURLINFO_HEADER_OUT) {
        call->code = 0;
        call->reply[0] = '\0';
        call->in_rcpt = size > 9 && !strncasecmp(data, "RCPT TO:<", 9);
        const char *gt = call->in_rcpt ? memchr(data + 9, '>', size - 9) : NULL;
        size_t n = gt ? (size_t)(gt - data - 9) : 0;
        if (n > ZF_MIME_ADDR_MAX) n = ZF_MIME_ADDR_MAX;
        memcpy(call->rcpt, data + 9, n);
        call->rcpt[n] = '\0';
    } else if (type == CURLINFO_HEADER_IN && !call->quitting) {
        for (size_t i = 0; i < size;) {
            const char *nl = memchr(data + i, '\n', size - i);
            size_t end = nl ? (size_t)(nl - data) : size, n = end - i;
            while (n > 0 && (data[i + n - 1] == '\r' || data[i + n - 1] == '\n'))
                n--;
            s_on_reply_line(call, data + i, n);
            i = end + 1;
        }
    }
    return 0;
}

static struct curl_slist *
s_rcpt_list(const s_envelope_t *env)
{
    struct curl_slist *list = NULL;
    char line[ZF_MIME_ADDR_MAX + 3];
    for (size_t i = 0; i < env->n_to + env->n_cc + env->n_bcc; i++) {
        snprintf(line, sizeof line, "<%s>", env->rcpt[i].addr);
        struct curl_slist *l = curl_slist_append(list, line);
        if (!l) abort();
        list = l;
    }
    return list;
}

static void
s_setup(CURL *h, const char *url, s_call_t *call, long timeout_ms, const char *from)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, s_on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, call);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)call->len);
    //  The trace is how per-recipient replies are learnt; it goes to
    //  s_on_trace only, never to stderr.
    curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, s_on_trace);
    curl_easy_setopt(h, CURLOPT_DEBUGDATA, call);
#if LIBCURL_VERSION_NUM >= 0x080200
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT_ALLOWFAILS, 1L);
#elif LIBCURL_VERSION_NUM >= 0x074500
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L);
#endif
}

//  A failed transfer: the server's reply class decides, else the transport.
static int
s_fail(const s_call_t *call, CURLcode rc, long timeout_ms, char *err, size_t errlen)
{
    if (call->code >= 500) {
        snprintf(err, errlen, S_ERR "server refused: %.160s", call->reply);
        return ZF_EIO;
    }
    if (call->code >= 400) {
        snprintf(err, errlen, S_ERR "server deferred: %.160s", call->reply);
        return ZF_EUNAVAIL;
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(err, errlen, S_ERR "timeout after %ld ms", timeout_ms);
        return ZF_ETIMEOUT;
    }
    if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT) {
        snprintf(err, errlen, S_ERR "--smtp-url must be an smtp:// or smtps:// URL");
        return ZF_EIO;
    }
    snprintf(err, errlen, S_ERR "%s", curl_easy_strerror(rc));
    return ZF_EUNAVAIL;
}

//  Sends msg to the envelope's recipients; 0 with *out, or an error code.
static int
s_deliver(const zf_mail_conf_t *conf, const s_envelope_t *env, const char *msg, size_t len,
          const char *msgid, json_t **out, char *err, size_t errlen)
{
    char from[ZF_MIME_ADDR_MAX + 3];
    long timeout_ms = conf->timeout_ms > 0 ? (long)conf->timeout_ms : S_TIMEOUT_DEFAULT;
    s_call_t call = {.msg = msg, .len = len, .accepted = json_array(), .rejected = json_array()};
    struct curl_slist *rcpt = s_rcpt_list(env);
    CURL *h = curl_easy_init();
    if (!h || !call.accepted || !call.rejected) abort();
    snprintf(from, sizeof from, "<%s>", env->from.addr);
    s_setup(h, conf->smtp_url, &call, timeout_ms, from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    CURLcode rc = curl_easy_perform(h);
    int ret = 0;
    if (rc == CURLE_OK)
        *out = json_pack("{s:s, s:O, s:O}", "message_id", msgid, "accepted", call.accepted,
                         "rejected", call.rejected);
    else
        ret = s_fail(&call, rc, timeout_ms, err, errlen);
    curl_easy_cleanup(h);
    curl_slist_free_all(rcpt);
    json_decref(call.accepted);
    json_decref(call.rejected);
    return ret;
}

int
zf_mail_send(const zf_mail_conf_t *conf, const json_t *config, const char *message_id_seed,
             json_t **out, char *err, size_t errlen)
{
    s_envelope_t env;
    size_t len = 0;
    *out = NULL;
    pthread_once(&s_curl_once, s_curl_init);
    int rc = zf_mail_validate(config, 1, NULL, err, errlen);
    if (rc != 0) return rc;
    if (!conf->smtp_url || !*conf->smtp_url) {
        snprintf(err, errlen, "email_not_configured: start zflow with --smtp-url");
        return ZF_EUNAVAIL;
    }
    s_envelope(conf, config, &env);
    char *msgid = s_message_id(message_id_seed);
    char *msg = s_message(conf, config, &env, msgid, &len);
    rc = s_deliver(conf, &env, msg, len, msgid, out, err, errlen);
    free(msg);
    free(msgid);
    return rc;
}
