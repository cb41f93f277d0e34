/*  actors/steps/send_email.c — kind "send_email": one message over SMTP (libcurl).

    config: {"to": ADDRS (required), "cc": ADDRS, "bcc": ADDRS,
             "subject": text, "body": text, "html": text,
             "template": name, "data": {key: value},
             "from": ADDR, "reply_to": ADDR}
      ADDR  = "local@domain" or "Display Name <local@domain>"
      ADDRS = ADDR or [ADDR, ...]; at most 50 recipients in to+cc+bcc
      text  = string (numbers and booleans, which a "{{x}}" template can
              render to, are printed as JSON)
    Either "template", or "subject" plus "body" and/or "html". With a
    template and no subject, the subject is the template name; with no
    body/html, the body is `data` as plain-text "key: value" lines in the
    object's order (string values raw, other values as JSON). There is no
    template store yet.
    output: {"message_id": "<run_id.node_id@zflow>",
             "accepted": [addr, ...], "rejected": [addr, ...]}

    The run actor renders {{templates}} in the config before exec, so
    validate() (create time) skips the address check of values still
    holding "{{"; exec re-validates the rendered config strictly.

    Message: RFC 5322 + MIME, CRLF lines. Date, From, Reply-To, To, Cc,
    Subject (RFC 2047 encoded-words when not plain ASCII), Message-ID,
    MIME-Version, Auto-Submitted; Bcc recipients are envelope-only. CR/LF
    in rendered subjects and display names become spaces and other control
    characters are dropped, so no value can start a header of its own;
    addresses with CR/LF are rejected. Bodies are quoted-printable UTF-8
    (short lines, 7-bit clean, no reliance on 8BITMIME): text/plain, or
    multipart/alternative (text + html) when both are given, or text/html
    alone. libcurl's SMTP upload does the dot-stuffing ("\r\n." sent as
    "\r\n..") and the final "\r\n.\r\n".

    The Message-ID depends only on run and node ids, so a retried send
    carries the same id and receivers can de-duplicate it.

    Sender: config "from", else ctx->smtp_from (--smtp-from), else
    zflow@localhost. Addresses are ASCII (no SMTPUTF8, no IDN); an address
    listed twice is sent to once. Date comes from ctx->now_ms.

    Delivery: ctx->smtp_url (--smtp-url; smtp:// is plain SMTP without
    STARTTLS, smtps:// is TLS; credentials in the URL), MAIL FROM = the
    From address; timeout: the node's timeout_ms, else 30 s (connect at
    most 10 s). No URL → FAIL_FINAL "email_delivery_failed: email is not
    configured: start zflow with --smtp-url". With libcurl >= 7.69 a
    rejected RCPT does not abort the others (CURLOPT_MAIL_RCPT_ALLOWFAILS,
    spelled ALLLOWFAILS before 8.2); the per-recipient replies are read
    from curl's protocol trace. Partial acceptance is success (rejected
    addresses listed, whatever their reply class: retrying would send a
    duplicate to the accepted ones). Older libcurl: all or nothing.
    Outcome: every recipient refused, or the server refusing the mail,
    with a 5xx reply → FAIL_FINAL; 4xx → FAIL (retryable); connection
    errors and timeouts → FAIL. Errors start with "email_delivery_failed: ".

    No egress guard: unlike http_request's URL, the SMTP server is chosen
    by the operator (--smtp-url), never by workflow authors, and is often
    a relay on localhost or a private network.
*/
#include "actors/step.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_RCPT_MAX        50                  // recipients in to + cc + bcc
#define S_ADDR_MAX        254                 // bytes in local@domain
#define S_MAILBOX_MAX     512                 // bytes in one "Name <addr>" value
#define S_NAME_MAX        200                 // bytes in a display name
#define S_SUBJECT_MAX     2000                // bytes in a subject
#define S_BODY_MAX        (1024 * 1024)       // bytes in body, html
#define S_TEMPLATE_MAX    200                 // bytes in a template name
#define S_DATA_MAX        (64 * 1024)         // bytes of the data rendering
#define S_TIMEOUT_DEFAULT 30000               // ms
#define S_ID_MAX          128                 // bytes kept of run/node ids in Message-ID
#define S_BOUNDARY        "=_zflow_alt_part"  // "=_" never occurs in quoted-printable text
#define S_DEFAULT_FROM    "zflow@localhost"   // when neither config nor ctx name a sender
#define S_ERR             "email_delivery_failed: "

//  One parsed mailbox.
typedef struct {
    char name[S_NAME_MAX + 1];  // display name, sanitised ("" = none)
    char addr[S_ADDR_MAX + 1];  // local@domain
} s_mailbox_t;

//  The rendered message's envelope and header values.
typedef struct {
    s_mailbox_t from;              // From and MAIL FROM
    s_mailbox_t reply_to;          // Reply-To (addr "" = none)
    s_mailbox_t rcpt[S_RCPT_MAX];  // to, then cc, then bcc
    size_t n_to, n_cc, n_bcc;      // how many of each in rcpt
} s_envelope_t;

//  A growing byte buffer (aborts on OOM).
typedef struct {
    char *p;     // bytes, NUL-terminated
    size_t len;  // used bytes
    size_t cap;  // allocated bytes
} s_buf_t;

//  State shared with curl's callbacks during one send.
typedef struct {
    const char *msg;            // message being uploaded
    size_t len;                 // bytes of msg
    size_t off;                 // bytes already handed to curl
    char rcpt[S_ADDR_MAX + 1];  // address of the RCPT TO awaiting its reply
    int in_rcpt;                // a RCPT TO reply is pending
    json_t *accepted;           // addresses the server took
    json_t *rejected;           // addresses the server refused
    long code;                  // reply code to the latest command (0 = none yet)
    char reply[160];            // text of that reply, printable ASCII
    int quitting;               // QUIT was sent: later replies are ignored
} s_call_t;

static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;

static void
s_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

// =========================================================================
//  Buffer
// =========================================================================

static void
s_put(s_buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
s_puts(s_buf_t *b, const char *s)
{
    s_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void
s_putf(s_buf_t *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    s_put(b, tmp, n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

// =========================================================================
//  Addresses
// =========================================================================

//  RFC 5322 dot-atom text of a local part (no quoted local parts).
static int
s_local_ok(const char *s, size_t n)
{
    static const char atext[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789!#$%&'*+/=?^_`{|}~-.";
    if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.') return 0;
    for (size_t i = 0; i < n; i++)
        if (!memchr(atext, s[i], sizeof atext - 1) || (s[i] == '.' && s[i + 1] == '.')) return 0;
    return 1;
}

//  Host name of letters, digits and hyphens in dot-separated labels.
static int
s_domain_ok(const char *s, size_t n)
{
    size_t label = 0;
    if (n == 0 || n > 253) return 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-') return 0;
            label = 0;
        } else if (isalnum((unsigned char)s[i]) || s[i] == '-') {
            label++;
        } else {
            return 0;
        }
    }
    return 1;
}

//  A strict local@domain: no spaces, CR/LF, brackets, commas or quotes.
static int
s_addr_ok(const char *a, size_t n)
{
    const char *at = memchr(a, '@', n);
    if (!at || n > S_ADDR_MAX || memchr(at + 1, '@', n - (size_t)(at - a) - 1)) return 0;
    return s_local_ok(a, (size_t)(at - a)) && s_domain_ok(at + 1, n - (size_t)(at - a) - 1);
}

//  Copies a rendered header value: CR/LF runs become one space, other
//  control characters are dropped (phrase: also quotes and backslashes, so
//  it fits a quoted-string), blanks are trimmed. Output never exceeds input.
static void
s_sanitize(const char *s, size_t n, int phrase, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n' || c == '\t' || c == ' ') {
            if (o > 0 && out[o - 1] != ' ') out[o++] = ' ';
        } else if (c >= 0x20 && c != 0x7f && !(phrase && (c == '"' || c == '\\'))) {
            out[o++] = (char)c;
        }
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
    size_t lead = strspn(out, " ");
    memmove(out, out + lead, o - lead + 1);
}

//  Parses "addr" or "Name <addr>" (blanks trimmed); 0 ok.
static int
s_mailbox_parse(const char *s, s_mailbox_t *mb)
{
    size_t n = strlen(s);
    memset(mb, 0, sizeof *mb);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    if (n > S_MAILBOX_MAX) return -1;
    const char *addr = s, *lt = NULL;
    size_t alen = n;
    if (n > 0 && s[n - 1] == '>') {
        for (const char *p = s; p < s + n; p++)
            if (*p == '<') lt = p;
        if (!lt) return -1;
        addr = lt + 1;
        alen = (size_t)(s + n - 1 - addr);
        if ((size_t)(lt - s) > S_NAME_MAX) return -1;
        s_sanitize(s, (size_t)(lt - s), 1, mb->name);
    }
    if (!s_addr_ok(addr, alen)) return -1;
    memcpy(mb->addr, addr, alen);
    mb->addr[alen] = '\0';
    return 0;
}

// =========================================================================
//  Validation
// =========================================================================

//  Text fields: strings, or the scalars a "{{x}}" template may render to.
static int
s_is_text(const json_t *v)
{
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

//  One address value; strict = check even a value holding "{{".
static int
s_check_mailbox(const char *key, size_t i, const json_t *v, int strict, char *err, size_t errlen)
{
    s_mailbox_t mb;
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) > S_MAILBOX_MAX) {
        snprintf(err, errlen, "config.%s: addresses must be strings of at most %d bytes", key,
                 S_MAILBOX_MAX);
        return -1;
    }
    if ((!strict && strstr(s, "{{")) || s_mailbox_parse(s, &mb) == 0) return 0;
    if (i == (size_t)-1)
        snprintf(err, errlen, "config.%s: invalid email address '%.80s'", key, s);
    else
        snprintf(err, errlen, "config.%s[%zu]: invalid email address '%.80s'", key, i, s);
    return -1;
}

//  to/cc/bcc: a string or an array of strings; adds the count to *n.
static int
s_check_list(const json_t *config, const char *key, int strict, size_t *n, char *err, size_t errlen)
{
    const json_t *v = json_object_get(config, key), *e;
    size_t i;
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v)) {
        (*n)++;
        return s_check_mailbox(key, 0, v, strict, err, errlen);
    }
    if (!json_is_array(v)) {
        snprintf(err, errlen, "config.%s: must be an address or an array of addresses", key);
        return -1;
    }
    json_array_foreach (v, i, e) {
        if (s_check_mailbox(key, i, e, strict, err, errlen) != 0) return -1;
    }
    *n += json_array_size(v);
    return 0;
}

//  A single-address field (from, reply_to).
static int
s_check_single(const json_t *config, const char *key, int strict, char *err, size_t errlen)
{
    const json_t *v = json_object_get(config, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) {
        snprintf(err, errlen, "config.%s: must be an email address", key);
        return -1;
    }
    return s_check_mailbox(key, (size_t)-1, v, strict, err, errlen);
}

static int
s_check_recipients(const json_t *config, int strict, char *err, size_t errlen)
{
    size_t n = 0;
    const json_t *to = json_object_get(config, "to");
    if (!to || json_is_null(to) || (json_is_array(to) && json_array_size(to) == 0)) {
        snprintf(err, errlen, "config.to: required (an address or an array of addresses)");
        return -1;
    }
    if (s_check_list(config, "to", strict, &n, err, errlen) != 0 ||
        s_check_list(config, "cc", strict, &n, err, errlen) != 0 ||
        s_check_list(config, "bcc", strict, &n, err, errlen) != 0 ||
        s_check_single(config, "from", strict, err, errlen) != 0 ||
        s_check_single(config, "reply_to", strict, err, errlen) != 0)
        return -1;
    if (n > S_RCPT_MAX) {
        snprintf(err, errlen, "config: at most %d recipients in to, cc and bcc (got %zu)",
                 S_RCPT_MAX, n);
        return -1;
    }
    return 0;
}

//  subject/body/html/template/data: types, sizes, and which must be there.
static int
s_check_content(const json_t *config, char *err, size_t errlen)
{
    static const struct {
        const char *key;  // config key
        size_t max;       // byte limit of a string value
    } fields[] = {{"subject", S_SUBJECT_MAX},
                  {"body", S_BODY_MAX},
                  {"html", S_BODY_MAX},
                  {"template", S_TEMPLATE_MAX}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const json_t *v = json_object_get(config, fields[i].key);
        if (v && !json_is_null(v) &&
            (!s_is_text(v) || (json_is_string(v) && json_string_length(v) > fields[i].max))) {
            snprintf(err, errlen, "config.%s: must be a string of at most %zu bytes", fields[i].key,
                     fields[i].max);
            return -1;
        }
    }
    const json_t *data = json_object_get(config, "data");
    if (data && !json_is_null(data) && !json_is_object(data)) {
        snprintf(err, errlen, "config.data: must be an object");
        return -1;
    }
    int has_tpl = s_is_text(json_object_get(config, "template"));
    int has_subject = s_is_text(json_object_get(config, "subject"));
    int has_body =
        s_is_text(json_object_get(config, "body")) || s_is_text(json_object_get(config, "html"));
    if (!has_tpl && (!has_subject || !has_body)) {
        snprintf(err, errlen,
                 "config: needs \"template\", or \"subject\" and \"body\" or \"html\"");
        return -1;
    }
    return 0;
}

static int
s_validate_mode(const json_t *config, int strict, char *err, size_t errlen)
{
    if (!json_is_object(config)) {
        snprintf(err, errlen, "config: must be an object");
        return -1;
    }
    if (s_check_recipients(config, strict, err, errlen) != 0) return -1;
    return s_check_content(config, err, errlen);
}

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    return s_validate_mode(config, 0, err, errlen);
}

// =========================================================================
//  Message
// =========================================================================

//  Text of a text field (malloc'd; NULL when absent or null).
static char *
s_text_dup(const json_t *v)
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
    s_buf_t b = {0};
    const char *key;
    const json_t *v;
    s_puts(&b, "");
    json_object_foreach ((json_t *)data, key, v) {
        char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        const char *val = json_is_string(v) ? json_string_value(v) : text ? text : "";
        if (b.len + strlen(key) + strlen(val) + 4 > S_DATA_MAX) {
            free(text);
            break;
        }
        s_puts(&b, key);
        s_puts(&b, ": ");
        s_puts(&b, val);
        s_puts(&b, "\n");
        free(text);
    }
    return b.p;
}

//  Length of the UTF-8 character starting with byte c (strings are valid UTF-8).
static size_t
s_utf8_len(unsigned char c)
{
    return c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

//  RFC 2047 "B" encoded-words of s, folded with CRLF SP between words;
//  each word holds at most 39 bytes of whole UTF-8 characters (64 chars,
//  so "Reply-To: " plus one word stays within 78 columns).
static void
s_put_encoded_words(s_buf_t *b, const char *s)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s), i = 0;
    while (i < n) {
        size_t take = 0;
        while (i + take < n && take + s_utf8_len((unsigned char)s[i + take]) <= 39)
            take += s_utf8_len((unsigned char)s[i + take]);
        if (take == 0 || i + take > n) take = n - i;
        s_puts(b, i ? "\r\n =?UTF-8?B?" : "=?UTF-8?B?");
        for (size_t j = 0; j < take; j += 3) {
            const unsigned char *p = (const unsigned char *)s + i + j;
            size_t k = take - j;
            unsigned v =
                (unsigned)p[0] << 16 | (k > 1 ? (unsigned)p[1] << 8 : 0) | (k > 2 ? p[2] : 0);
            char q[4] = {b64[v >> 18 & 63], b64[v >> 12 & 63], k > 1 ? b64[v >> 6 & 63] : '=',
                         k > 2 ? b64[v & 63] : '='};
            s_put(b, q, 4);
        }
        s_puts(b, "?=");
        i += take;
    }
}

//  Printable ASCII only (no "=?" that a reader could take for an encoded-word).
static int
s_plain_ascii(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e) return 0;
    return n <= max && !strstr(s, "=?");
}

static void
s_put_mailbox(s_buf_t *b, const s_mailbox_t *mb)
{
    if (!mb->name[0]) {
        s_puts(b, mb->addr);
        return;
    }
    //  Encoded-words fill most of a line: the address goes on the next.
    if (s_plain_ascii(mb->name, S_NAME_MAX)) {
        s_putf(b, "\"%s\" <%s>", mb->name, mb->addr);
    } else {
        s_put_encoded_words(b, mb->name);
        s_putf(b, "\r\n <%s>", mb->addr);
    }
}

//  "Name: a, b, c" with one address per folded line.
static void
s_put_address_header(s_buf_t *b, const char *name, const s_mailbox_t *mb, size_t n)
{
    if (n == 0) return;
    s_putf(b, "%s: ", name);
    for (size_t i = 0; i < n; i++) {
        if (i) s_puts(b, ",\r\n ");
        s_put_mailbox(b, &mb[i]);
    }
    s_puts(b, "\r\n");
}

static void
s_put_subject(s_buf_t *b, const char *subject)
{
    char clean[S_SUBJECT_MAX + 1];
    size_t n = strlen(subject);
    s_sanitize(subject, n < S_SUBJECT_MAX ? n : S_SUBJECT_MAX, 0, clean);
    s_puts(b, "Subject: ");
    if (s_plain_ascii(clean, 900))
        s_puts(b, clean);
    else
        s_put_encoded_words(b, clean);
    s_puts(b, "\r\n");
}

//  RFC 5322 date in UTC, English names whatever the locale.
static void
s_put_date(s_buf_t *b, int64_t now_ms)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    s_putf(b, "Date: %s, %d %s %d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday], tm.tm_mday,
           months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

//  Message-ID atom: run and node ids with anything outside atext as '_'.
static void
s_put_id_part(s_buf_t *b, const char *s)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789!#$%&'*+/=?^_`{|}~-";
    size_t n = 0;
    for (; s && s[n] && n < S_ID_MAX; n++)
        s_put(b, memchr(ok, s[n], sizeof ok - 1) ? &s[n] : "_", 1);
    if (n == 0) s_puts(b, "x");
}

static char *
s_message_id(const zf_step_ctx_t *ctx)
{
    s_buf_t b = {0};
    s_puts(&b, "<");
    s_put_id_part(&b, ctx->run_id);
    s_puts(&b, ".");
    s_put_id_part(&b, ctx->node_id);
    s_puts(&b, "@zflow>");
    return b.p;
}

//  Quoted-printable (RFC 2045) of UTF-8 text: any line end in the input
//  becomes CRLF, lines are cut with soft breaks at 76 columns, '=', control
//  and 8-bit bytes and trailing blanks are escaped. Ends with CRLF.
static void
s_put_qp(s_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;
    for (size_t i = 0; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n') {
            if (c == '\r' && s[i + 1] == '\n') i++;
            s_puts(b, "\r\n");
            col = 0;
            continue;
        }
        int at_eol = s[i + 1] == '\0' || s[i + 1] == '\r' || s[i + 1] == '\n';
        int literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_eol);
        size_t w = literal ? 1 : 3;
        if (col + w > 75) {
            s_puts(b, "=\r\n");
            col = 0;
        }
        char esc[3] = {'=', hex[c >> 4], hex[c & 15]};
        s_put(b, literal ? (const char *)&s[i] : esc, w);
        col += w;
    }
    if (col > 0) s_puts(b, "\r\n");
}

static void
s_put_part(s_buf_t *b, const char *type, const char *text)
{
    s_putf(b, "Content-Type: %s; charset=utf-8\r\n", type);
    s_puts(b, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
    s_put_qp(b, text);
}

//  Content headers and body: text/plain, text/html, or both as alternatives.
static void
s_put_content(s_buf_t *b, const char *text, const char *html)
{
    if (!html || !text) {
        s_put_part(b, html ? "text/html" : "text/plain", html ? html : text);
        return;
    }
    s_puts(b, "Content-Type: multipart/alternative; boundary=\"" S_BOUNDARY "\"\r\n\r\n");
    s_puts(b, "This is a multi-part message in MIME format.\r\n");
    s_puts(b, "\r\n--" S_BOUNDARY "\r\n");
    s_put_part(b, "text/plain", text);
    s_puts(b, "\r\n--" S_BOUNDARY "\r\n");
    s_put_part(b, "text/html", html);
    s_puts(b, "\r\n--" S_BOUNDARY "--\r\n");
}

//  The whole message. Text fields come from the (validated) config.
static char *
s_message(const zf_step_ctx_t *ctx, const json_t *config, const s_envelope_t *env,
          const char *msgid)
{
    s_buf_t b = {0};
    const json_t *tpl = json_object_get(config, "template");
    char *subject = s_text_dup(json_object_get(config, "subject"));
    char *text = s_text_dup(json_object_get(config, "body"));
    char *html = s_text_dup(json_object_get(config, "html"));
    if (!subject) subject = s_text_dup(tpl);
    if (!text && !html) text = s_data_body(json_object_get(config, "data"));
    s_put_date(&b, ctx->now_ms);
    s_put_address_header(&b, "From", &env->from, 1);
    if (env->reply_to.addr[0]) s_put_address_header(&b, "Reply-To", &env->reply_to, 1);
    s_put_address_header(&b, "To", env->rcpt, env->n_to);
    s_put_address_header(&b, "Cc", env->rcpt + env->n_to, env->n_cc);
    s_put_subject(&b, subject ? subject : "");
    s_putf(&b, "Message-ID: %s\r\n", msgid);
    s_puts(&b, "MIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n");
    s_put_content(&b, text, html);
    free(subject);
    free(text);
    free(html);
    return b.p;
}

// =========================================================================
//  Envelope
// =========================================================================

//  Appends the addresses of one list (string or array), dropping repeats.
static void
s_add_list(s_envelope_t *env, const json_t *v, size_t *count)
{
    size_t n = json_is_array(v) ? json_array_size(v) : v && json_is_string(v) ? 1 : 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
        size_t at = env->n_to + env->n_cc + env->n_bcc;
        int dup = 0;
        if (at >= S_RCPT_MAX || s_mailbox_parse(json_string_value(e), &env->rcpt[at]) != 0)
            continue;
        for (size_t j = 0; j < at && !dup; j++)
            dup = !strcasecmp(env->rcpt[j].addr, env->rcpt[at].addr);
        if (!dup) (*count)++;
    }
}

static void
s_envelope(const zf_step_ctx_t *ctx, const json_t *config, s_envelope_t *env)
{
    const char *from = json_string_value(json_object_get(config, "from"));
    const char *reply = json_string_value(json_object_get(config, "reply_to"));
    memset(env, 0, sizeof *env);
    if (!from || !*from) from = ctx->smtp_from && *ctx->smtp_from ? ctx->smtp_from : NULL;
    if (!from || s_mailbox_parse(from, &env->from) != 0)
        s_mailbox_parse(S_DEFAULT_FROM, &env->from);
    if (reply) s_mailbox_parse(reply, &env->reply_to);
    s_add_list(env, json_object_get(config, "to"), &env->n_to);
    s_add_list(env, json_object_get(config, "cc"), &env->n_cc);
    s_add_list(env, json_object_get(config, "bcc"), &env->n_bcc);
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
        if (n > S_ADDR_MAX) n = S_ADDR_MAX;
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
    char line[S_ADDR_MAX + 3];
    for (size_t i = 0; i < env->n_to + env->n_cc + env->n_bcc; i++) {
        snprintf(line, sizeof line, "<%s>", env->rcpt[i].addr);
        struct curl_slist *l = curl_slist_append(list, line);
        if (!l) abort();
        list = l;
    }
    return list;
}

static void
s_setup(CURL *h, const zf_step_ctx_t *ctx, s_call_t *call, long timeout_ms, const char *from)
{
    curl_easy_setopt(h, CURLOPT_URL, ctx->smtp_url);
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
static void
s_fail(zf_step_result_t *res, const s_call_t *call, CURLcode rc, long timeout_ms)
{
    if (call->code >= 500)
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, S_ERR "server refused: %.160s", call->reply);
    else if (call->code >= 400)
        zf_step_fail(res, ZF_STEP_FAIL, S_ERR "server deferred: %.160s", call->reply);
    else if (rc == CURLE_OPERATION_TIMEDOUT)
        zf_step_fail(res, ZF_STEP_FAIL, S_ERR "timeout after %ld ms", timeout_ms);
    else if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT)
        zf_step_fail(res, ZF_STEP_FAIL_FINAL,
                     S_ERR "--smtp-url must be an smtp:// or smtps:// URL");
    else
        zf_step_fail(res, ZF_STEP_FAIL, S_ERR "%s", curl_easy_strerror(rc));
}

//  Builds, sends and reports one message.
static void
s_send(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    s_envelope_t env;
    char from[S_ADDR_MAX + 3];
    long timeout_ms = ctx->timeout_ms > 0 ? (long)ctx->timeout_ms : S_TIMEOUT_DEFAULT;
    s_envelope(ctx, config, &env);
    char *msgid = s_message_id(ctx);
    char *msg = s_message(ctx, config, &env, msgid);
    s_call_t call = {
        .msg = msg, .len = strlen(msg), .accepted = json_array(), .rejected = json_array()};
    struct curl_slist *rcpt = s_rcpt_list(&env);
    CURL *h = curl_easy_init();
    if (!h || !call.accepted || !call.rejected) abort();
    snprintf(from, sizeof from, "<%s>", env.from.addr);
    s_setup(h, ctx, &call, timeout_ms, from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK) {
        res->status = ZF_STEP_OK;
        res->output = json_pack("{s:s, s:O, s:O}", "message_id", msgid, "accepted", call.accepted,
                                "rejected", call.rejected);
    } else {
        s_fail(res, &call, rc, timeout_ms);
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(rcpt);
    json_decref(call.accepted);
    json_decref(call.rejected);
    free(msg);
    free(msgid);
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    char err[200];
    pthread_once(&s_curl_once, s_curl_init);
    if (s_validate_mode(config, 1, err, sizeof err) != 0) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, S_ERR "%s", err);
        return;
    }
    if (!ctx->smtp_url || !*ctx->smtp_url) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL,
                     S_ERR "email is not configured: start zflow with --smtp-url");
        return;
    }
    s_send(ctx, config, res);
}

const zf_step_kind_t zf_step_kind_send_email = {"send_email", s_validate, s_exec, 0};
