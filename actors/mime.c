/*  actors/mime.c — RFC 5322 + MIME messages as bytes (see mime.h).

    Bodies are quoted-printable UTF-8 (short lines, 7-bit clean, no
    reliance on 8BITMIME). Boundaries start with "=_", which never occurs
    in quoted-printable text nor in base64, so no body can end its part.
*/
#include "actors/mime.h"
#include "actors/growbuf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_ALT_BOUNDARY   "=_zflow_alt_part"    // text + html alternatives
#define S_MIXED_BOUNDARY "=_zflow_mixed_part"  // body + attachments
#define S_B64_LINE       76                    // base64 characters per body line
#define S_SIMPLE_NAME    60                    // longest file name written as a quoted string
#define S_2231_CHUNK     54                    // encoded characters per RFC 2231 continuation

static const char s_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

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
    if (!at || n > ZF_MIME_ADDR_MAX || memchr(at + 1, '@', n - (size_t)(at - a) - 1)) return 0;
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

int
zf_mime_mailbox_parse(const char *s, zf_mime_mailbox_t *mb)
{
    memset(mb, 0, sizeof *mb);
    if (!s) return -1;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    if (n > ZF_MIME_MAILBOX_MAX) return -1;
    const char *addr = s, *lt = NULL;
    size_t alen = n;
    if (n > 0 && s[n - 1] == '>') {
        for (const char *p = s; p < s + n; p++)
            if (*p == '<') lt = p;
        if (!lt) return -1;
        addr = lt + 1;
        alen = (size_t)(s + n - 1 - addr);
        if ((size_t)(lt - s) > ZF_MIME_NAME_MAX) return -1;
        s_sanitize(s, (size_t)(lt - s), 1, mb->name);
    }
    if (!s_addr_ok(addr, alen)) return -1;
    memcpy(mb->addr, addr, alen);
    mb->addr[alen] = '\0';
    return 0;
}

// =========================================================================
//  Header words
// =========================================================================

//  Length of the UTF-8 character starting with byte c.
static size_t
s_utf8_len(unsigned char c)
{
    return c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
}

//  Base64 of p[0..k) (k <= 3) as one padded quantum.
static void
s_put_b64_quantum(zf_growbuf_t *b, const unsigned char *p, size_t k)
{
    unsigned v = (unsigned)p[0] << 16 | (k > 1 ? (unsigned)p[1] << 8 : 0) | (k > 2 ? p[2] : 0);
    char q[4] = {s_b64[v >> 18 & 63], s_b64[v >> 12 & 63], k > 1 ? s_b64[v >> 6 & 63] : '=',
                 k > 2 ? s_b64[v & 63] : '='};
    zf_growbuf_put(b, q, 4);
}

//  RFC 2047 "B" encoded-words of s, folded with CRLF SP between words;
//  each word holds at most 39 bytes of whole UTF-8 characters (64 chars,
//  so "Reply-To: " plus one word stays within 78 columns).
static void
s_put_encoded_words(zf_growbuf_t *b, const char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n) {
        size_t take = 0;
        while (i + take < n && take + s_utf8_len((unsigned char)s[i + take]) <= 39)
            take += s_utf8_len((unsigned char)s[i + take]);
        if (take == 0 || i + take > n) take = n - i;
        zf_growbuf_puts(b, i ? "\r\n =?UTF-8?B?" : "=?UTF-8?B?");
        for (size_t j = 0; j < take; j += 3)
            s_put_b64_quantum(b, (const unsigned char *)s + i + j, take - j < 3 ? take - j : 3);
        zf_growbuf_puts(b, "?=");
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
s_put_mailbox(zf_growbuf_t *b, const zf_mime_mailbox_t *mb)
{
    if (!mb->name[0]) {
        zf_growbuf_puts(b, mb->addr);
        return;
    }
    //  Encoded-words fill most of a line: the address goes on the next.
    if (s_plain_ascii(mb->name, ZF_MIME_NAME_MAX)) {
        zf_growbuf_printf(b, "\"%s\" <%s>", mb->name, mb->addr);
    } else {
        s_put_encoded_words(b, mb->name);
        zf_growbuf_printf(b, "\r\n <%s>", mb->addr);
    }
}

//  "Name: a, b, c" with one address per folded line.
static void
s_put_address_header(zf_growbuf_t *b, const char *name, const zf_mime_mailbox_t *mb, size_t n)
{
    if (n == 0) return;
    zf_growbuf_printf(b, "%s: ", name);
    for (size_t i = 0; i < n; i++) {
        if (i) zf_growbuf_puts(b, ",\r\n ");
        s_put_mailbox(b, &mb[i]);
    }
    zf_growbuf_puts(b, "\r\n");
}

static void
s_put_subject(zf_growbuf_t *b, const char *subject)
{
    char clean[ZF_MIME_SUBJECT_MAX + 1];
    size_t n = strlen(subject);
    s_sanitize(subject, n < ZF_MIME_SUBJECT_MAX ? n : ZF_MIME_SUBJECT_MAX, 0, clean);
    zf_growbuf_puts(b, "Subject: ");
    if (s_plain_ascii(clean, 900))
        zf_growbuf_puts(b, clean);
    else
        s_put_encoded_words(b, clean);
    zf_growbuf_puts(b, "\r\n");
}

//  RFC 5322 date in UTC, English names whatever the locale.
static void
s_put_date(zf_growbuf_t *b, int64_t now_ms)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    zf_growbuf_printf(b, "Date: %s, %d %s %d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday],
                      tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                      tm.tm_sec);
}

// =========================================================================
//  Bodies
// =========================================================================

//  Quoted-printable (RFC 2045) of UTF-8 text: any line end in the input
//  becomes CRLF, lines are cut with soft breaks at 76 columns, '=', control
//  and 8-bit bytes and trailing blanks are escaped. Ends with CRLF.
static void
s_put_qp(zf_growbuf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;
    for (size_t i = 0; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n') {
            if (c == '\r' && s[i + 1] == '\n') i++;
            zf_growbuf_puts(b, "\r\n");
            col = 0;
            continue;
        }
        int at_eol = s[i + 1] == '\0' || s[i + 1] == '\r' || s[i + 1] == '\n';
        int literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_eol);
        size_t w = literal ? 1 : 3;
        if (col + w > 75) {
            zf_growbuf_puts(b, "=\r\n");
            col = 0;
        }
        char esc[3] = {'=', hex[c >> 4], hex[c & 15]};
        zf_growbuf_put(b, literal ? (const char *)&s[i] : esc, w);
        col += w;
    }
    if (col > 0) zf_growbuf_puts(b, "\r\n");
}

static void
s_put_part(zf_growbuf_t *b, const char *type, const char *text)
{
    zf_growbuf_printf(b, "Content-Type: %s; charset=utf-8\r\n", type);
    zf_growbuf_puts(b, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
    s_put_qp(b, text);
}

//  Content headers and body: text/plain, text/html, or both as alternatives.
static void
s_put_content(zf_growbuf_t *b, const char *text, const char *html)
{
    if (!html || !text) {
        s_put_part(b, html ? "text/html" : "text/plain", html ? html : text ? text : "");
        return;
    }
    zf_growbuf_puts(b,
                    "Content-Type: multipart/alternative; boundary=\"" S_ALT_BOUNDARY "\"\r\n\r\n");
    zf_growbuf_puts(b, "This is a multi-part message in MIME format.\r\n");
    zf_growbuf_puts(b, "\r\n--" S_ALT_BOUNDARY "\r\n");
    s_put_part(b, "text/plain", text);
    zf_growbuf_puts(b, "\r\n--" S_ALT_BOUNDARY "\r\n");
    s_put_part(b, "text/html", html);
    zf_growbuf_puts(b, "\r\n--" S_ALT_BOUNDARY "--\r\n");
}

// =========================================================================
//  Attachments
// =========================================================================

//  The file name as written: controls dropped, path separators as '_',
//  blanks trimmed, cut to ZF_MIME_FILENAME_MAX bytes on a character
//  boundary, "attachment" when nothing is left.
static void
s_clean_filename(const char *s, char out[ZF_MIME_FILENAME_MAX + 1])
{
    size_t o = 0;
    for (size_t i = 0; s && s[i];) {
        size_t k = s_utf8_len((unsigned char)s[i]);
        if (o + k > ZF_MIME_FILENAME_MAX) break;
        unsigned char c = (unsigned char)s[i];
        if (k == 1 && (c < 0x20 || c == 0x7f)) {
            i++;
            continue;
        }
        for (size_t j = 0; j < k && s[i]; j++, i++)
            out[o++] = k == 1 && (c == '/' || c == '\\') ? '_' : s[i];
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
    size_t lead = strspn(out, " ");
    memmove(out, out + lead, o - lead + 1);
    if (!out[0]) strcpy(out, "attachment");
}

//  A name that can go in a quoted-string as it is on one short line.
static int
s_simple_name(const char *s)
{
    return s_plain_ascii(s, S_SIMPLE_NAME) && !strpbrk(s, "\"\\");
}

//  RFC 2231 attribute-char: CHAR except SPACE, CTLs, "*", "'", "%" and tspecials.
static int
s_attr_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("*'%()<>@,;:\\\"/[]?=", c);
}

//  filename*0*=UTF-8''%..;\r\n filename*1*=... (percent-encoded UTF-8,
//  continuations of at most S_2231_CHUNK characters; a section never
//  splits a character, as some readers decode sections one by one).
static void
s_put_rfc2231(zf_growbuf_t *b, const char *attr, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = S_2231_CHUNK, part = 0;
    for (size_t i = 0; s[i];) {
        size_t k = s_utf8_len((unsigned char)s[i]), w = 0;
        for (size_t j = 0; j < k && s[i + j]; j++)
            w += s_attr_char((unsigned char)s[i + j]) ? 1 : 3;
        if (col + w > S_2231_CHUNK) {
            zf_growbuf_printf(b, ";\r\n %s*%zu*=%s", attr, part, part ? "" : "UTF-8''");
            part++;
            col = 0;
        }
        for (size_t j = 0; j < k && s[i]; j++, i++) {
            unsigned char c = (unsigned char)s[i];
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            zf_growbuf_put(b, s_attr_char(c) ? (const char *)&s[i] : esc, s_attr_char(c) ? 1 : 3);
        }
        col += w;
    }
}

//  The headers of one attachment part.
static void
s_put_attachment_headers(zf_growbuf_t *b, const zf_mime_attachment_t *a)
{
    char name[ZF_MIME_FILENAME_MAX + 1];
    const char *type =
        a->content_type && *a->content_type ? a->content_type : "application/octet-stream";
    s_clean_filename(a->filename, name);
    //  A long type goes on a line of its own (a type over 76 bytes makes
    //  that line longer than 78 columns, still far below the 998 limit).
    zf_growbuf_puts(b, strlen("Content-Type: ") + strlen(type) + 1 > 78 ? "Content-Type:\r\n "
                                                                        : "Content-Type: ");
    zf_growbuf_puts(b, type);
    if (s_simple_name(name)) {
        zf_growbuf_printf(b, ";\r\n name=\"%s\"\r\n", name);
        zf_growbuf_printf(b, "Content-Disposition: attachment;\r\n filename=\"%s\"\r\n", name);
    } else {
        //  RFC 2047 words in the name parameter are what most mail
        //  programs write and read; RFC 2231 is the standard for filename.
        zf_growbuf_puts(b, ";\r\n name=\"");
        s_put_encoded_words(b, name);
        zf_growbuf_puts(b, "\"\r\nContent-Disposition: attachment");
        s_put_rfc2231(b, "filename", name);
        zf_growbuf_puts(b, "\r\n");
    }
    zf_growbuf_puts(b, "Content-Transfer-Encoding: base64\r\n\r\n");
}

//  Base64 of the data in lines of S_B64_LINE characters, each ending CRLF.
static void
s_put_b64_lines(zf_growbuf_t *b, const unsigned char *p, size_t n)
{
    const size_t per_line = S_B64_LINE / 4 * 3;
    for (size_t i = 0; i < n; i += per_line) {
        size_t end = i + per_line < n ? i + per_line : n;
        for (size_t j = i; j < end; j += 3)
            s_put_b64_quantum(b, p + j, end - j < 3 ? end - j : 3);
        zf_growbuf_puts(b, "\r\n");
    }
}

//  multipart/mixed: the body (one part or the alternatives), then each
//  attachment.
static void
s_put_mixed(zf_growbuf_t *b, const zf_mime_message_t *m)
{
    zf_growbuf_puts(b, "Content-Type: multipart/mixed; boundary=\"" S_MIXED_BOUNDARY "\"\r\n\r\n");
    zf_growbuf_puts(b, "This is a multi-part message in MIME format.\r\n");
    zf_growbuf_puts(b, "\r\n--" S_MIXED_BOUNDARY "\r\n");
    s_put_content(b, m->text, m->html);
    for (size_t i = 0; i < m->n_attachments; i++) {
        zf_growbuf_puts(b, "\r\n--" S_MIXED_BOUNDARY "\r\n");
        s_put_attachment_headers(b, &m->attachments[i]);
        s_put_b64_lines(b, m->attachments[i].data, m->attachments[i].len);
    }
    zf_growbuf_puts(b, "\r\n--" S_MIXED_BOUNDARY "--\r\n");
}

char *
zf_mime_build(const zf_mime_message_t *m, size_t *len)
{
    zf_growbuf_t b = {0};
    size_t hint = 4096;
    for (size_t i = 0; i < m->n_attachments; i++)
        hint += m->attachments[i].len / 57 * 78 + 1024;
    b.p = malloc(hint);
    if (!b.p) abort();
    b.cap = hint;
    b.p[0] = '\0';
    s_put_date(&b, m->date_ms);
    s_put_address_header(&b, "From", m->from, 1);
    if (m->reply_to && m->reply_to->addr[0]) s_put_address_header(&b, "Reply-To", m->reply_to, 1);
    s_put_address_header(&b, "To", m->to, m->n_to);
    s_put_address_header(&b, "Cc", m->cc, m->n_cc);
    s_put_subject(&b, m->subject ? m->subject : "");
    zf_growbuf_printf(&b, "Message-ID: %s\r\n", m->message_id);
    zf_growbuf_puts(&b, "MIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n");
    if (m->n_attachments)
        s_put_mixed(&b, m);
    else
        s_put_content(&b, m->text, m->html);
    if (len) *len = b.len;
    return b.p;
}

// =========================================================================
//  Content types
// =========================================================================

//  RFC 2045 token characters.
static size_t
s_token_len(const char *s)
{
    size_t n = 0;
    while (s[n] > 0x20 && s[n] < 0x7f && !strchr("()<>@,;:\\\"/[]?=", s[n]))
        n++;
    return n;
}

int
zf_mime_type_ok(const char *s)
{
    if (!s || strlen(s) > ZF_MIME_TYPE_MAX) return 0;
    size_t n = s_token_len(s);
    if (n == 0 || s[n] != '/') return 0;
    s += n + 1;
    if ((n = s_token_len(s)) == 0) return 0;
    for (s += n;;) {
        s += strspn(s, " ");
        if (!*s) return 1;
        if (*s++ != ';') return 0;
        s += strspn(s, " ");
        if ((n = s_token_len(s)) == 0 || s[n] != '=') return 0;
        s += n + 1;
        if (*s == '"') {
            for (s++; *s && *s != '"'; s++)
                if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e || *s == '\\') return 0;
            if (*s++ != '"') return 0;
        } else if ((n = s_token_len(s)) == 0) {
            return 0;
        } else {
            s += n;
        }
    }
}

// =========================================================================
//  Base64
// =========================================================================

//  Value of a base64 character, -1 for a blank to skip, -2 otherwise.
static int
s_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') return -1;
    return -2;
}

//  One pass over s: counts data characters and checks where '=' may be;
//  writes the bytes into out when out is not NULL.
static int
s_b64_scan(const char *s, size_t n, unsigned char *out, size_t *decoded)
{
    size_t chars = 0, pad = 0, o = 0;
    unsigned acc = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int v = s_b64_value(c);
        if (c == '=') {
            pad++;
            continue;
        }
        if (v == -1) continue;
        if (v == -2 || pad) return -1;  // data after padding
        acc = acc << 6 | (unsigned)v;
        if (++chars % 4 == 0) {
            if (out) {
                out[o] = (unsigned char)(acc >> 16);
                out[o + 1] = (unsigned char)(acc >> 8);
                out[o + 2] = (unsigned char)acc;
            }
            o += 3;
            acc = 0;
        }
    }
    size_t rest = chars % 4;
    if (rest == 1 || pad > 2 || (pad && (rest == 0 || rest + pad != 4))) return -1;
    if (rest >= 2 && out) out[o] = (unsigned char)(acc >> (rest == 2 ? 4 : 10));
    if (rest == 3 && out) out[o + 1] = (unsigned char)(acc >> 2);
    *decoded = o + (rest ? rest - 1 : 0);
    return 0;
}

int
zf_mime_b64_check(const char *s, size_t n, size_t *decoded)
{
    size_t d = 0;
    int rc = s_b64_scan(s, n, NULL, &d);
    if (decoded) *decoded = d;
    return rc;
}

unsigned char *
zf_mime_b64_decode(const char *s, size_t n, size_t *len)
{
    size_t d = 0;
    if (s_b64_scan(s, n, NULL, &d) != 0) return NULL;
    unsigned char *out = malloc(d + 1);
    if (!out) abort();
    s_b64_scan(s, n, out, &d);
    if (len) *len = d;
    return out;
}

char *
zf_mime_b64_encode(const void *data, size_t n)
{
    zf_growbuf_t b = {0};
    b.cap = (n + 2) / 3 * 4 + 1;
    b.p = malloc(b.cap);
    if (!b.p) abort();
    b.p[0] = '\0';
    for (size_t j = 0; j < n; j += 3)
        s_put_b64_quantum(&b, (const unsigned char *)data + j, n - j < 3 ? n - j : 3);
    return b.p;
}
