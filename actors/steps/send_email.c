/*  actors/steps/send_email.c — kinds "send_email" and "email" (seed 001's
    name for the same step): one message over SMTP (actors/mail.h).

    config: {"to": ADDRS (required), "cc": ADDRS, "bcc": ADDRS,
             "subject": text, "body": text, "html": text,
             "template": name, "data": {key: value},
             "from": ADDR, "reply_to": ADDR,
             "attachments": [{"filename": str, "content": base64 str,
                              "contentType"?: str}]}
      ADDR  = "local@domain" or "Display Name <local@domain>"
      ADDRS = ADDR or [ADDR, ...]; at most 50 recipients in to+cc+bcc
      text  = string (numbers and booleans, which a "{{x}}" template can
              render to, are printed as JSON)
    Either "template", or "subject" plus "body" and/or "html". With a
    template and no subject, the subject is the template name; with no
    body/html, the body is `data` as plain-text "key: value" lines in the
    object's order (string values raw, other values as JSON). There is no
    template store yet. Attachments: at most 10, 10 MiB decoded in all
    (actors/mail.h has the rules); with attachments the message is
    multipart/mixed.
    output: {"message_id": "<run_id.node_id@zflow>",
             "accepted": [addr, ...], "rejected": [addr, ...]}

    The run actor renders {{templates}} in the config before exec, so
    validate() (create time) skips the checks of values still holding
    "{{"; exec re-validates the rendered config strictly.

    Message (actors/mime.h): RFC 5322 + MIME, CRLF lines, 7-bit. Subjects
    and display names that are not plain ASCII are RFC 2047 encoded-words;
    CR/LF in them become spaces, so no value can start a header of its
    own; addresses with CR/LF are rejected. Bodies are quoted-printable
    UTF-8. The Message-ID depends only on run and node ids, so a retried
    send carries the same id and receivers can de-duplicate it.

    Sender: config "from", else ctx->smtp_from (--smtp-from), else
    zflow@localhost. Addresses are ASCII (no SMTPUTF8, no IDN); an address
    listed twice is sent to once. Date comes from ctx->now_ms.

    Delivery: ctx->smtp_url (--smtp-url); timeout: the node's timeout_ms,
    else 30 s (connect at most 10 s). No URL → FAIL_FINAL
    "email_delivery_failed: email is not configured: start zflow with
    --smtp-url". Partial acceptance is success (rejected addresses
    listed). Every recipient refused, or the server refusing the mail,
    with a 5xx reply → FAIL_FINAL; 4xx → FAIL (retryable); connection
    errors and timeouts → FAIL. Errors start with "email_delivery_failed: ".
*/
#include "actors/mail.h"
#include "actors/step.h"
#include "broker/errors.h"

#include <stdio.h>

#define S_ERR "email_delivery_failed: "

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    return zf_mail_validate(config, 0, "config", err, errlen) == 0 ? 0 : -1;
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    char err[256], seed[ZF_MAIL_SEED_MAX];
    json_t *out = NULL;
    if (zf_mail_validate(config, 1, "config", err, sizeof err) != 0) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, S_ERR "%s", err);
        return;
    }
    if (!ctx->smtp_url || !*ctx->smtp_url) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL,
                     S_ERR "email is not configured: start zflow with --smtp-url");
        return;
    }
    zf_mail_conf_t conf = {.smtp_url = ctx->smtp_url,
                           .smtp_from = ctx->smtp_from,
                           .now_ms = ctx->now_ms,
                           .timeout_ms = ctx->timeout_ms};
    zf_mail_id_seed(ctx->run_id, ctx->node_id, seed, sizeof seed);
    int rc = zf_mail_send(&conf, config, seed, &out, err, sizeof err);
    if (rc == 0) {
        res->status = ZF_STEP_OK;
        res->output = out;
    } else {
        //  5xx replies and a bad URL are final; 4xx, transport, timeouts retry.
        zf_step_fail(res,
                     rc == ZF_EUNAVAIL || rc == ZF_ETIMEOUT ? ZF_STEP_FAIL : ZF_STEP_FAIL_FINAL,
                     "%s", err);
    }
}

const zf_step_kind_t zf_step_kind_send_email = {
    .name = "send_email", .validate = s_validate, .exec = s_exec, .cpu_only = 0};
//  Seed 001's name for the same kind.
const zf_step_kind_t zf_step_kind_email = {
    .name = "email", .validate = s_validate, .exec = s_exec, .cpu_only = 0};
