/*  actors/steps/send_document.c — kind "send_document": emails a document
    (normally a generate_document output) as an attachment (actors/mail.h).

    config: {"to": ADDRS (required), "cc"?: ADDRS, "bcc"?: ADDRS,
             "from"?: ADDR, "reply_to"?: ADDR,
             "subject"?: text (default "Document: <filename>"),
             "body"?: text, "html"?: text
               (neither: "Please find the attached document <filename>."),
             and one of
             "document": {"filename"?, "content": base64, "contentType"?}
               (usually "{{steps.<node>}}", which renders to the object;
               the rendered config is limited to 256 KiB, so about 190 KB
               of PDF), or
             "document_step": "<node id>" (that node's output, any size
               up to the mail limit of 10 MiB)}
    Addresses, texts and their limits are send_email's. filename defaults
    to "document.pdf", contentType to "application/pdf".

    output: send_email's {"message_id", "accepted", "rejected"} plus
    "filename". Errors and retries are send_email's ("email_delivery_failed:
    ..."); a document_step without output (the node has not run before
    this one) or a document without base64 content is FAIL_FINAL.
*/
#include "actors/mail.h"
#include "actors/template.h"
#include "actors/step.h"
#include "broker/errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ERR          "email_delivery_failed: "
#define S_DEFAULT_NAME "document.pdf"  // filename when the document has none
#define S_NODE_MAX     200             // bytes of a node id

//  The mail fields send_document passes through unchanged.
static const char *const s_mail_keys[] = {"to",       "cc",      "bcc",  "from",
                                          "reply_to", "subject", "body", "html"};

//  The message description for mail.h: the mail fields, the default
//  subject and body, and the document as the one attachment (if given).
static json_t *
s_mail_config(const json_t *config, const json_t *doc)
{
    json_t *mail = json_object();
    const char *name = json_string_value(json_object_get(doc, "filename"));
    const char *type = json_string_value(json_object_get(doc, "contentType"));
    char text[400];
    for (size_t i = 0; i < sizeof s_mail_keys / sizeof s_mail_keys[0]; i++) {
        json_t *v = json_object_get(config, s_mail_keys[i]);
        if (v && !json_is_null(v)) json_object_set(mail, s_mail_keys[i], v);
    }
    if (!name || !*name) name = S_DEFAULT_NAME;
    if (!json_object_get(mail, "subject")) {
        snprintf(text, sizeof text, "Document: %.300s", name);
        json_object_set_new(mail, "subject", json_string(text));
    }
    if (!json_object_get(mail, "body") && !json_object_get(mail, "html")) {
        snprintf(text, sizeof text, "Please find the attached document %.300s.", name);
        json_object_set_new(mail, "body", json_string(text));
    }
    if (json_is_object(doc))
        json_object_set_new(mail, "attachments",
                            json_pack("[{s:s, s:O, s:s}]", "filename", name, "content",
                                      json_object_get(doc, "content"), "contentType",
                                      type && *type ? type : "application/pdf"));
    return mail;
}

//  A document object: content required, the other fields optional.
static int
s_check_document(const json_t *doc, const char *what, char *err, size_t errlen)
{
    const json_t *content = json_object_get(doc, "content");
    const json_t *name = json_object_get(doc, "filename"),
                 *type = json_object_get(doc, "contentType");
    if (!json_is_object(doc))
        return zf_errf(err, errlen, "%s: must be a document (a generate_document output)", what);
    if (!json_is_string(content))
        return zf_errf(err, errlen, "%s.content: required, the document as base64", what);
    if (name && !json_is_null(name) && !json_is_string(name))
        return zf_errf(err, errlen, "%s.filename: must be a string", what);
    if (type && !json_is_null(type) && !json_is_string(type))
        return zf_errf(err, errlen, "%s.contentType: must be a string", what);
    return 0;
}

//  mail.h names the document "attachments[0]": say "document" instead.
static void
s_rename_err(char *err, size_t errlen)
{
    static const char *const from[] = {"config.attachments[0]", "config.attachments"};
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(from[i]);
        if (strncmp(err, from[i], n) == 0) {
            char rest[256];
            snprintf(rest, sizeof rest, "%s", err + n);
            snprintf(err, errlen, "config.document%s", rest);
            return;
        }
    }
}

static int
s_check(const json_t *config, int strict, char *err, size_t errlen)
{
    if (!json_is_object(config)) return zf_errf(err, errlen, "config: must be an object");
    const json_t *doc = json_object_get(config, "document");
    const json_t *step = json_object_get(config, "document_step");
    int has_doc = doc && !json_is_null(doc), has_step = step && !json_is_null(step);
    if (has_doc == has_step)
        return zf_errf(err, errlen,
                       "config: needs either \"document\" (a generate_document "
                       "output, e.g. \"{{steps.<node>}}\") or \"document_step\" (its node id)");
    if (has_step && (!json_is_string(step) || json_string_length(step) == 0 ||
                     json_string_length(step) > S_NODE_MAX))
        return zf_errf(err, errlen, "config.document_step: must be a node id");
    if (has_doc && !zf_tpl_pending(doc, strict) &&
        s_check_document(doc, "config.document", err, errlen) != 0)
        return -1;
    json_t *mail = s_mail_config(config, json_is_object(doc) ? doc : NULL);
    int rc = zf_mail_validate(mail, strict, "config", err, errlen);
    if (rc != 0) s_rename_err(err, errlen);
    json_decref(mail);
    return rc == 0 ? 0 : -1;
}

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    return s_check(config, 0, err, errlen);
}

//  The document to send (borrowed), or NULL with err.
static const json_t *
s_document(const zf_step_ctx_t *ctx, const json_t *config, char *err, size_t errlen)
{
    const char *step = json_string_value(json_object_get(config, "document_step"));
    if (!step) return json_object_get(config, "document");
    const json_t *doc = json_object_get(ctx->steps, step);
    if (!doc || json_is_null(doc)) {
        snprintf(err, errlen,
                 "config.document_step: step '%.100s' has no output (it must run "
                 "before this one)",
                 step);
        return NULL;
    }
    if (s_check_document(doc, "config.document_step", err, errlen) != 0) return NULL;
    return doc;
}

static void
s_send(zf_step_ctx_t *ctx, json_t *mail, zf_step_result_t *res)
{
    char err[256], seed[ZF_MAIL_SEED_MAX];
    json_t *out = NULL;
    zf_mail_conf_t conf = {.smtp_url = ctx->smtp_url,
                           .smtp_from = ctx->smtp_from,
                           .now_ms = ctx->now_ms,
                           .timeout_ms = ctx->timeout_ms};
    zf_mail_id_seed(ctx->run_id, ctx->node_id, seed, sizeof seed);
    int rc = zf_mail_send(&conf, mail, seed, &out, err, sizeof err);
    if (rc != 0) {
        zf_step_fail(res,
                     rc == ZF_EUNAVAIL || rc == ZF_ETIMEOUT ? ZF_STEP_FAIL : ZF_STEP_FAIL_FINAL,
                     "%s", err);
        return;
    }
    const json_t *att = json_array_get(json_object_get(mail, "attachments"), 0);
    json_object_set(out, "filename", json_object_get(att, "filename"));
    res->status = ZF_STEP_OK;
    res->output = out;
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    char err[256];
    const json_t *doc = NULL;
    if (s_check(config, 1, err, sizeof err) != 0 ||
        !(doc = s_document(ctx, config, err, sizeof err))) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, S_ERR "%s", err);
        return;
    }
    json_t *mail = s_mail_config(config, doc);
    if (zf_mail_validate(mail, 1, "config", err, sizeof err) != 0) {
        s_rename_err(err, sizeof err);
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, S_ERR "%s", err);
    } else if (!ctx->smtp_url || !*ctx->smtp_url) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL,
                     S_ERR "email is not configured: start zflow with --smtp-url");
    } else {
        s_send(ctx, mail, res);
    }
    json_decref(mail);
}

const zf_step_kind_t zf_step_kind_send_document = {
    .name = "send_document", .validate = s_validate, .exec = s_exec, .cpu_only = 0};
