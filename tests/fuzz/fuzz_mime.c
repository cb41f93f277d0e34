/*  tests/fuzz/fuzz_mime.c — base64, content types, mailboxes, whole
    messages (actors/mime.c) and PDFs (actors/pdf.c) from any input.

    The first byte picks the decoder; the rest is its input. Invariants:
    base64 check and decode agree and re-encoding round-trips; a message
    built from hostile subject, names, file names and bodies is 7-bit with
    CRLF-only lines and no header line a value could have started; a PDF
    is well framed or refused with ZF_ELIMIT.
*/
#include "actors/mime.h"
#include "actors/pdf.h"
#include "broker/errors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_base64(const char *s, size_t n)
{
    size_t checked = 0, len = 0;
    int ok = zf_mime_b64_check(s, n, &checked) == 0;
    unsigned char *out = zf_mime_b64_decode(s, n, &len);
    if (ok != (out != NULL) || (ok && len != checked)) abort();
    if (!out) return;
    char *again = zf_mime_b64_encode(out, len);
    size_t len2 = 0;
    unsigned char *back = zf_mime_b64_decode(again, strlen(again), &len2);
    if (!back || len2 != len || memcmp(back, out, len) != 0) abort();
    free(back);
    free(again);
    free(out);
}

//  Every line ends CRLF, every byte is 7-bit, and no line of the header
//  section starts a header named Bcc or X-Evil (injections).
static void
s_check_wire(const char *m)
{
    const char *body = strstr(m, "\r\n\r\n");
    for (size_t i = 0; m[i]; i++) {
        if (m + i == body) body = NULL;  // past the headers: only bytes and line ends
        if ((unsigned char)m[i] >= 0x80 || (m[i] == '\n' && (i == 0 || m[i - 1] != '\r')) ||
            (m[i] == '\r' && m[i + 1] != '\n'))
            abort();
        if (body && m[i] == '\n' &&
            (!strncmp(m + i + 1, "Bcc:", 4) || !strncmp(m + i + 1, "X-Evil:", 7)))
            abort();
    }
}

//  Splits s at NULs into up to 4 strings: subject, name, filename, text.
static void
s_message(const char *s, size_t n)
{
    const char *f[4] = {"", "", "", ""};
    for (size_t i = 0, k = 0; k < 4 && i <= n; k++) {
        f[k] = s + i;
        i += strlen(s + i) + 1;
    }
    zf_mime_mailbox_t from, to;
    if (zf_mime_mailbox_parse("a@x.test", &from) != 0) abort();
    if (zf_mime_mailbox_parse(f[1], &to) != 0) zf_mime_mailbox_parse("b@x.test", &to);
    zf_mime_attachment_t att = {f[2], zf_mime_type_ok(f[1]) ? f[1] : NULL,
                                (const unsigned char *)f[3], strlen(f[3])};
    zf_mime_message_t m = {.date_ms = 0,
                           .from = &from,
                           .to = &to,
                           .n_to = 1,
                           .subject = f[0],
                           .message_id = "<x@zflow>",
                           .text = f[3],
                           .html = n % 2 ? f[2] : NULL,
                           .attachments = &att,
                           .n_attachments = n % 3 ? 1 : 0};
    char *msg = zf_mime_build(&m, NULL);
    s_check_wire(msg);
    free(msg);
}

static void
s_pdf(const char *s, size_t n)
{
    unsigned char *pdf = NULL;
    size_t len = 0;
    int pages = 0;
    char err[128];
    const char *title = n % 2 ? s : NULL;
    int rc = zf_pdf_from_text(title, s, 0, &pdf, &len, &pages, err, sizeof err);
    if (rc != 0 && rc != ZF_ELIMIT) abort();
    if (rc == 0 && (len < 20 || memcmp(pdf, "%PDF-1.4", 8) || memcmp(pdf + len - 6, "%%EOF\n", 6) ||
                    pages < 1 || pages > ZF_PDF_PAGES_MAX))
        abort();
    free(pdf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    char *s = malloc(size);
    if (!s) return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    zf_mime_mailbox_t mb;
    switch (data[0] % 4) {
    case 0:
        s_base64(s, size - 1);
        break;
    case 1:
        (void)zf_mime_type_ok(s);
        (void)zf_mime_mailbox_parse(s, &mb);
        break;
    case 2:
        s_message(s, size - 1);
        break;
    default:
        s_pdf(s, size - 1);
        break;
    }
    free(s);
    return 0;
}
