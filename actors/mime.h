/*  actors/mime.h — RFC 5322 + MIME messages as bytes (no I/O, no JSON).

    Parses and checks mailboxes, and assembles a whole message: Date, From,
    Reply-To, To, Cc, Subject (RFC 2047 encoded-words when not plain
    ASCII), Message-ID, MIME-Version, Auto-Submitted; a quoted-printable
    UTF-8 body (text/plain, text/html, or both as multipart/alternative);
    with attachments, multipart/mixed: the body part first, then each
    attachment base64 in 76-character lines, its file name as an RFC 2231
    parameter (Content-Disposition filename) and an RFC 2047 word (the
    Content-Type name) when it is not short printable ASCII.

    Every line ends in CRLF and the message is 7-bit. CR/LF in subjects,
    display names and file names never reach the output as line breaks,
    so no value can start a header of its own. Used by actors/mail.c.

    Ownership: inputs are borrowed; returned char * / unsigned char * are
    the caller's (free). Out of memory aborts.
*/
#ifndef ZF_MIME_H
#define ZF_MIME_H

#include <stddef.h>
#include <stdint.h>

#define ZF_MIME_ADDR_MAX     254   // bytes in local@domain
#define ZF_MIME_MAILBOX_MAX  512   // bytes in one "Name <addr>" value
#define ZF_MIME_NAME_MAX     200   // bytes in a display name
#define ZF_MIME_SUBJECT_MAX  2000  // bytes of a subject that are kept
#define ZF_MIME_FILENAME_MAX 255   // bytes of an attachment's file name
#define ZF_MIME_TYPE_MAX     127   // bytes of an attachment's content type

//  One parsed mailbox.
typedef struct {
    char name[ZF_MIME_NAME_MAX + 1];  // display name, sanitised ("" = none)
    char addr[ZF_MIME_ADDR_MAX + 1];  // local@domain (ASCII dot-atom @ host name)
} zf_mime_mailbox_t;

//  One attachment.
typedef struct {
    const char *filename;       // UTF-8 file name; control characters dropped,
                                // '/' and '\' written as '_', "" = "attachment"
    const char *content_type;   // checked with zf_mime_type_ok (NULL = application/octet-stream)
    const unsigned char *data;  // the decoded bytes
    size_t len;                 // bytes of data
} zf_mime_attachment_t;

//  What a message says. Text values are UTF-8.
typedef struct {
    int64_t date_ms;                    // Date header (written in UTC)
    const zf_mime_mailbox_t *from;      // From (required)
    const zf_mime_mailbox_t *reply_to;  // Reply-To (NULL or addr "" = none)
    const zf_mime_mailbox_t *to;        // To mailboxes
    size_t n_to;                        // how many in to (0 = no To header)
    const zf_mime_mailbox_t *cc;        // Cc mailboxes
    size_t n_cc;                        // how many in cc
    const char *subject;                // sanitised, at most ZF_MIME_SUBJECT_MAX bytes kept
    const char *message_id;             // "<left@right>", written as given
    const char *text;                   // text/plain body (NULL = none)
    const char *html;                   // text/html body (NULL = none; both NULL = empty text)
    const zf_mime_attachment_t *attachments;  // attachments in order
    size_t n_attachments;                     // how many (0 = no multipart/mixed)
} zf_mime_message_t;

//  Parses "local@domain" or "Display Name <local@domain>" (blanks trimmed):
//  0 and *mb, or -1 when it is not one valid mailbox. The display name is
//  sanitised (CR/LF and blanks → one space, other controls, quotes and
//  backslashes dropped).
int zf_mime_mailbox_parse(const char *s, zf_mime_mailbox_t *mb);

//  The whole message (NUL-terminated; *len = its length if len).
char *zf_mime_build(const zf_mime_message_t *m, size_t *len);

//  1 if s is "type/subtype" (RFC 2045 tokens) with optional parameters
//  "; attr=token" or "; attr=\"quoted text\"", at most ZF_MIME_TYPE_MAX bytes.
int zf_mime_type_ok(const char *s);

//  Base64 (RFC 4648 alphabet; ASCII blanks and line breaks are ignored,
//  padding may be left out). check: 0 and the decoded size, -1 if s[0..n)
//  is not base64. decode: the bytes (*len set), NULL if not base64.
int zf_mime_b64_check(const char *s, size_t n, size_t *decoded);
unsigned char *zf_mime_b64_decode(const char *s, size_t n, size_t *len);
//  Base64 of data[0..n) on one line, padded, NUL-terminated.
char *zf_mime_b64_encode(const void *data, size_t n);

#endif
