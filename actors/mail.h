/*  actors/mail.h — one email: validate its JSON description, build it
    (actors/mime.h) and deliver it over SMTP with libcurl, synchronously.

    Used by the send_email / email and send_document step kinds and by the
    engine's `mail.send` message (called from a worker thread: it blocks
    for up to conf->timeout_ms).

    The JSON description ("config"):
      {"to": ADDRS (required), "cc": ADDRS, "bcc": ADDRS,
       "subject": text, "body": text, "html": text,
       "template": name, "data": {key: value},
       "from": ADDR, "reply_to": ADDR,
       "attachments": [{"filename": str, "content": base64 str,
                        "contentType"?: str (application/octet-stream)}]}
      ADDR  = "local@domain" or "Display Name <local@domain>" (ASCII address)
      ADDRS = ADDR or [ADDR, ...]; at most 50 recipients in to+cc+bcc
      text  = string (numbers and booleans are printed as JSON)
    Either "template", or "subject" plus "body" and/or "html". With a
    template and no subject, the subject is the template name; with no
    body/html, the body is `data` as "key: value" lines. At most 10
    attachments and 10 MiB of decoded content in all; content is RFC 4648
    base64 (blanks and line breaks ignored, padding optional); a file name
    is 1..255 bytes of any text (control characters are dropped and '/'
    or '\' written as '_' in the message); contentType is "type/subtype"
    with optional "; attr=value" parameters.

    Errors are the project's codes (broker/errors.h), with a message in err:
      ZF_EINVAL   the description is invalid; err names the field
                  ("to[0]: invalid email address 'x'", with root "config":
                  "config.to[0]: ...").
      ZF_EUNAVAIL no SMTP server configured: err "email_not_configured: ...";
                  or a transient failure (4xx reply, connection refused or
                  dropped, TLS): err "email_delivery_failed: ...". Retry.
      ZF_ETIMEOUT the exchange took longer than the timeout
                  ("email_delivery_failed: timeout after N ms"). Retry.
      ZF_EIO      a permanent failure: the server refused with a 5xx reply
                  (every recipient, the sender or the message), or the URL
                  is not smtp:// or smtps:// ("email_delivery_failed: server
                  refused: 550 ..."). Do not retry; the text is the server's
                  reply and safe to show.
    Partial acceptance is success: the refused recipients are listed in
    "rejected" (retrying would send a duplicate to the accepted ones).
*/
#ifndef ZF_MAIL_H
#define ZF_MAIL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ZF_MAIL_RCPT_MAX     50                  // recipients in to + cc + bcc
#define ZF_MAIL_ATTACH_MAX   10                  // attachments in one message
#define ZF_MAIL_ATTACH_BYTES (10 * 1024 * 1024)  // decoded attachment bytes in one message
#define ZF_MAIL_SEED_MAX     260                 // bytes of a Message-ID seed (with NUL)

//  Where and how to send.
typedef struct {
    const char *smtp_url;   // --smtp-url: smtp:// (no STARTTLS) or smtps:// (TLS), credentials
                            // in the URL; NULL or "" = not configured (ZF_EUNAVAIL)
    const char *smtp_from;  // sender when the description has no "from" (NULL = zflow@localhost)
    int64_t now_ms;         // wall clock for the Date header
    int64_t timeout_ms;     // whole SMTP exchange; <= 0 = 30 s (connecting: at most 10 s)
} zf_mail_conf_t;

//  0 if config is a valid description, else ZF_EINVAL with the field in
//  err. strict = 0 (workflow create time) accepts values still holding
//  "{{" (rendered later) without checking them; strict = 1 checks all.
//  root prefixes field names in err ("config" → "config.to[0]: ...",
//  "config: at most ..."); NULL = bare names ("to[0]: ...").
int zf_mail_validate(const json_t *config, int strict, const char *root, char *err, size_t errlen);

//  Validates config strictly (root NULL), builds the message and sends it.
//  Returns 0 and *out = {"message_id": "<seed@zflow>", "accepted": [addr],
//  "rejected": [addr]} (new ref), else an error code above with err set
//  and *out = NULL. message_id_seed is the Message-ID's left part (a retry
//  with the same seed carries the same Message-ID, so receivers can
//  de-duplicate); characters outside RFC 5322 atext become '_', at most
//  255 bytes are kept; NULL or "" = a random one.
int zf_mail_send(const zf_mail_conf_t *conf, const json_t *config, const char *message_id_seed,
                 json_t **out, char *err, size_t errlen);

//  The seed of a workflow step's Message-ID: "<run>.<node>" with each part
//  cut to 128 bytes and anything outside atext as '_' (out: ZF_MAIL_SEED_MAX).
void zf_mail_id_seed(const char *run_id, const char *node_id, char *out, size_t outlen);

//  Text of a text field (malloc'd): a string as is, numbers and booleans
//  (what a "{{x}}" template may render to) as JSON; NULL when absent or null.
char *zf_mail_text_dup(const json_t *v);

#endif
