/*  actors/steps/generate_document.c — kind "generate_document": a PDF from
    a text template (actors/pdf.h), with no dependency.

    config: {"template": text (required: the body),
             "title"?: text, "filename"?: str (default "document.pdf"),
             "format"?: "pdf" (the only format), "variables"?: {..}}
      text = string (numbers and booleans are printed as JSON)
    The run actor renders {{templates}} in the whole config before exec,
    so the template's data comes from {{vars.x}}, {{steps.<node>.x}},
    {{inputs.x}}, {{record.x}}, ...: "variables" is accepted (seed 001
    sends it) but not printed nor substituted; put its values in the
    template with those paths instead. validate() (create time) skips the
    checks of values still holding "{{"; exec re-checks the rendered config.

    Body layout: each line of the template is a paragraph, word-wrapped;
    an empty line is vertical space, a line starting "# " a heading, a
    form feed a page break. "format": "docx" (or anything but "pdf") is a
    validation error: DOCX output cannot be produced here.

    output: {"filename", "contentType": "application/pdf", "size": bytes,
             "pages", "sha256": hex of the file, "content": base64 of the file}
    The file is deterministic: same text and step start time, same bytes.
    Limits: template 256 KiB, title 1000 bytes, 200 pages, 2 MiB of PDF
    (past them: FAIL_FINAL "document too long: ..." / "too large: ...").

    send_document emails the output; "{{steps.<node>}}" renders to the
    whole object (at most 256 KiB of rendered config, about 190 KB of PDF),
    while "document_step": "<node>" has no such limit.
*/
#include "actors/mail.h"
#include "actors/template.h"
#include "actors/mime.h"
#include "actors/pdf.h"
#include "actors/step.h"
#include "broker/errors.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_TEMPLATE_MAX (256 * 1024)    // bytes of the template text
#define S_TITLE_MAX    1000            // bytes of the title
#define S_DEFAULT_NAME "document.pdf"  // filename when none is given

//  A file name: 1..255 bytes, no path separators or control characters.
static int
s_filename_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > ZF_MIME_FILENAME_MAX || strpbrk(s, "/\\")) return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
    return 1;
}

static int
s_check(const json_t *config, int strict, char *err, size_t errlen)
{
    const json_t *tpl = json_object_get(config, "template"),
                 *title = json_object_get(config, "title");
    const json_t *name = json_object_get(config, "filename"),
                 *fmt = json_object_get(config, "format");
    const json_t *vars = json_object_get(config, "variables");
    if (!json_is_object(config)) return zf_errf(err, errlen, "config: must be an object");
    if (!zf_tpl_is_text(tpl) || (json_is_string(tpl) && json_string_length(tpl) > S_TEMPLATE_MAX))
        return zf_errf(err, errlen, "config.template: required, a string of at most %d bytes",
                       S_TEMPLATE_MAX);
    if (title && !json_is_null(title) &&
        (!zf_tpl_is_text(title) ||
         (json_is_string(title) && json_string_length(title) > S_TITLE_MAX)))
        return zf_errf(err, errlen, "config.title: must be a string of at most %d bytes",
                       S_TITLE_MAX);
    if (name && !json_is_null(name) && !zf_tpl_pending(name, strict) &&
        (!json_is_string(name) || !s_filename_ok(json_string_value(name))))
        return zf_errf(err, errlen,
                       "config.filename: must be a file name of 1 to %d bytes "
                       "without '/', '\\' or control characters",
                       ZF_MIME_FILENAME_MAX);
    if (fmt && !json_is_null(fmt) && !zf_tpl_pending(fmt, strict) &&
        (!json_is_string(fmt) || strcasecmp(json_string_value(fmt), "pdf") != 0))
        return zf_errf(err, errlen, "config.format: %.40s is not supported here, only pdf",
                       json_is_string(fmt) ? json_string_value(fmt) : "a non-string");
    if (vars && !json_is_null(vars) && !json_is_object(vars) && !zf_tpl_pending(vars, strict))
        return zf_errf(err, errlen, "config.variables: must be an object");
    return 0;
}

static int
s_validate(const json_t *config, char *err, size_t errlen)
{
    return s_check(config, 0, err, errlen);
}

//  The step output for a finished file.
static json_t *
s_output(const char *filename, const unsigned char *pdf, size_t len, int pages)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    SHA256(pdf, len, md);
    for (size_t i = 0; i < sizeof md; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    char *b64 = zf_mime_b64_encode(pdf, len);
    json_t *out = json_pack("{s:s, s:s, s:I, s:i, s:s, s:s}", "filename", filename, "contentType",
                            "application/pdf", "size", (json_int_t)len, "pages", pages, "sha256",
                            hex, "content", b64);
    free(b64);
    return out;
}

static void
s_exec(zf_step_ctx_t *ctx, const json_t *config, zf_step_result_t *res)
{
    char err[200];
    if (s_check(config, 1, err, sizeof err) != 0) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "%s", err);
        return;
    }
    const char *filename = json_string_value(json_object_get(config, "filename"));
    char *title = zf_mail_text_dup(json_object_get(config, "title"));
    char *text = zf_mail_text_dup(json_object_get(config, "template"));
    unsigned char *pdf = NULL;
    size_t len = 0;
    int pages = 0;
    if (zf_pdf_from_text(title, text, ctx->now_ms, &pdf, &len, &pages, err, sizeof err) != 0) {
        zf_step_fail(res, ZF_STEP_FAIL_FINAL, "%s", err);
    } else {
        res->status = ZF_STEP_OK;
        res->output = s_output(filename ? filename : S_DEFAULT_NAME, pdf, len, pages);
    }
    free(pdf);
    free(title);
    free(text);
}

const zf_step_kind_t zf_step_kind_generate_document = {
    .name = "generate_document", .validate = s_validate, .exec = s_exec, .cpu_only = 1};
