/*  tests/pdf_test.c — the PDF writer (actors/pdf.h) and the
    generate_document step kind.

    Each file is parsed here (header, every xref offset pointing at its
    "N 0 obj", startxref, stream lengths, page count, string escaping)
    and also handed to two real PDF readers Debian ships: `qpdf --check`
    (structure, xref) and `pdftotext` from poppler-utils (the text comes
    back out, WinAnsi mapped to UTF-8). scripts/deps.sh installs both; a
    missing one fails the test rather than skipping it.
*/
#include "tests/step_fixture.h"

#include "actors/mime.h"
#include "actors/pdf.h"
#include "broker/errors.h"

#include <openssl/sha.h>

#define T0 1700000000000LL  // 2023-11-14T22:13:20Z

// =========================================================================
//  Helpers
// =========================================================================

//  Position of needle in pdf[0..len) from `from`, or -1.
static long
s_find(const unsigned char *pdf, size_t len, size_t from, const char *needle)
{
    const void *p = from < len ? memmem(pdf + from, len - from, needle, strlen(needle)) : NULL;
    return p ? (long)((const unsigned char *)p - pdf) : -1;
}

static size_t
s_count(const unsigned char *pdf, size_t len, const char *needle)
{
    size_t n = 0;
    for (long at = s_find(pdf, len, 0, needle); at >= 0;
         at = s_find(pdf, len, (size_t)at + 1, needle))
        n++;
    return n;
}

//  The structural checks every file must pass; returns the page count.
static int
s_check_structure(const unsigned char *pdf, size_t len)
{
    assert_true(len > 100);
    assert_memory_equal(pdf, "%PDF-1.4\n%", 10);
    for (int i = 10; i < 14; i++)
        assert_true(pdf[i] >= 0x80);  // binary comment
    assert_memory_equal(pdf + len - 6, "%%EOF\n", 6);
    //  startxref points at the xref table.
    long sx = s_find(pdf, len, 0, "startxref\n");
    assert_true(sx > 0);
    size_t xref = strtoul((const char *)pdf + sx + 10, NULL, 10);
    assert_memory_equal(pdf + xref, "xref\n0 ", 7);
    char *end;
    long count = strtol((const char *)pdf + xref + 7, &end, 10);
    assert_true(count >= 7);
    const char *e = end + 1;  // past "\n"
    assert_memory_equal(e, "0000000000 65535 f \n", 20);
    //  Every in-use entry is 20 bytes and points at "k 0 obj".
    for (long k = 1; k < count; k++) {
        const char *entry = e + 20 * k;
        assert_memory_equal(entry + 10, " 00000 n \n", 10);
        size_t off = strtoul(entry, NULL, 10);
        char want[32];
        int n = snprintf(want, sizeof want, "%ld 0 obj\n", k);
        assert_true(off + (size_t)n < len);
        assert_memory_equal(pdf + off, want, (size_t)n);
        assert_true(off == 15 || pdf[off - 1] == '\n');
    }
    char trailer[64];
    snprintf(trailer, sizeof trailer, "trailer\n<< /Size %ld /Root 1 0 R", count);
    assert_true(s_find(pdf, len, 0, trailer) > 0);
    //  Each stream's /Length is exactly its data.
    for (long at = s_find(pdf, len, 0, "<< /Length "); at >= 0;
         at = s_find(pdf, len, (size_t)at + 1, "<< /Length ")) {
        size_t slen = strtoul((const char *)pdf + at + 11, NULL, 10);
        long data = s_find(pdf, len, (size_t)at, "stream\n") + 7;
        assert_memory_equal(pdf + data + slen, "\nendstream\n", 11);
    }
    //  Pages: /Count = Page objects = content streams.
    long c = s_find(pdf, len, 0, "/Type /Pages /Count ");
    int pages = atoi((const char *)pdf + c + 20);
    assert_int_equal(s_count(pdf, len, "/Type /Page /Parent"), pages);
    assert_int_equal(s_count(pdf, len, "<< /Length "), pages);
    assert_int_equal(count, 6 + 2 * pages);
    return pages;
}

//  Writes pdf to a temp file; path in `path` (unlink it).
static void
s_write_tmp(const unsigned char *pdf, size_t len, char path[64])
{
    snprintf(path, 64, "/tmp/zf-pdf-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, pdf, len), (ssize_t)len);
    close(fd);
}

//  Output of a shell command (malloc'd) and its exit status.
static char *
s_run_cmd(const char *cmd, int *status)
{
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t cap = 1 << 16, n = 0, r;
    char *out = malloc(cap);
    while ((r = fread(out + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap) out = realloc(out, cap *= 2);
    }
    out[n] = '\0';
    *status = pclose(f);
    return out;
}

//  qpdf --check must pass; returns pdftotext's text (malloc'd).
static char *
s_readers(const unsigned char *pdf, size_t len)
{
    char path[64], cmd[200];
    int st;
    s_write_tmp(pdf, len, path);
    snprintf(cmd, sizeof cmd, "qpdf --check %s 2>&1", path);
    char *out = s_run_cmd(cmd, &st);
    if (st != 0 || !strstr(out, "No syntax or stream encoding errors found"))
        fail_msg("qpdf --check (apt install qpdf): status %d\n%s", st, out);
    free(out);
    snprintf(cmd, sizeof cmd, "pdftotext -enc UTF-8 %s - 2>&1", path);
    out = s_run_cmd(cmd, &st);
    if (st != 0) fail_msg("pdftotext (apt install poppler-utils): status %d\n%s", st, out);
    unlink(path);
    return out;
}

// =========================================================================
//  Writer
// =========================================================================

static void
test_one_page_structure_and_text(void **state)
{
    (void)state;
    unsigned char *pdf = NULL;
    size_t len = 0;
    int pages = 0;
    char err[128] = "";
    int rc = zf_pdf_from_text("Quarterly report", "# Summary\nRevenue grew.\n\nThe end.", T0, &pdf,
                              &len, &pages, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_int_equal(pages, 1);
    assert_int_equal(s_check_structure(pdf, len), 1);
    assert_true(s_find(pdf, len, 0, "/BaseFont /Helvetica /Encoding /WinAnsiEncoding") > 0);
    assert_true(s_find(pdf, len, 0, "/BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding") > 0);
    assert_true(s_find(pdf, len, 0, "/Title (Quarterly report)") > 0);
    assert_true(s_find(pdf, len, 0, "/CreationDate (D:20231114221320Z)") > 0);
    assert_true(s_find(pdf, len, 0, "BT /F2 18 Tf 56 768 Td (Quarterly report) Tj ET") > 0);
    assert_true(s_find(pdf, len, 0, "/F2 14 Tf") > 0);  // the heading
    char *text = s_readers(pdf, len);
    const char *want[] = {"Quarterly report", "Summary", "Revenue grew.", "The end.",
                          "Page 1 of 1"};
    const char *at = text;
    for (size_t i = 0; i < 5; i++) {  // in this order
        const char *p = strstr(at, want[i]);
        if (!p)
            fail_msg("'%s' missing after offset %zu in:\n%s", want[i], (size_t)(at - text), text);
        at = p + strlen(want[i]);
    }
    free(text);
    //  Deterministic: same input, same bytes.
    unsigned char *again = NULL;
    size_t len2 = 0;
    assert_int_equal(zf_pdf_from_text("Quarterly report", "# Summary\nRevenue grew.\n\nThe end.",
                                      T0, &again, &len2, NULL, err, sizeof err),
                     0);
    assert_int_equal(len2, len);
    assert_memory_equal(again, pdf, len);
    free(again);
    free(pdf);
}

static void
test_escaping_and_winansi(void **state)
{
    (void)state;
    unsigned char *pdf = NULL;
    size_t len = 0;
    char err[128] = "";
    const char *body = "f(x) = \\alpha) (unbalanced\n"
                       "Grüße, café €5 “quoted” ‘single’ – — … • ™ Œuvre Łódź 東京 😀\n"
                       "tab\there\x01!";
    assert_int_equal(
        zf_pdf_from_text("Ünïcödé (title) ✓", body, T0, &pdf, &len, NULL, err, sizeof err), 0);
    s_check_structure(pdf, len);
    //  ( ) \ escaped; WinAnsi bytes written as octal escapes.
    assert_true(s_find(pdf, len, 0, "(f\\(x\\) = \\\\alpha\\) \\(unbalanced) Tj") > 0);
    assert_true(s_find(pdf, len, 0,
                       "Gr\\374\\337e, caf\\351 \\2005 \\223quoted\\224 "
                       "\\221single\\222 \\226 \\227 \\205 \\225 \\231 \\214uvre "
                       "?\\363d? ?? ?") > 0);
    assert_true(s_find(pdf, len, 0, "(tab    here!) Tj") > 0);  // tab = 4 spaces, \x01 dropped
    //  A non-ASCII title is UTF-16BE with a BOM in /Title; ✓ is U+2713.
    assert_true(s_find(pdf, len, 0, "/Title <FEFF00DC006E00EF006300F6006400E90020") > 0);
    assert_true(s_find(pdf, len, 0, "2713>") > 0);
    char *text = s_readers(pdf, len);
    assert_non_null(strstr(text, "f(x) = \\alpha) (unbalanced"));
    assert_non_null(strstr(text, "Grüße, café €5 “quoted” ‘single’ – — … • ™ Œuvre ?ód? ?? ?"));
    assert_non_null(strstr(text, "Ünïcödé (title) ?"));
    free(text);
    free(pdf);
}

static void
test_wrapping_and_page_breaks(void **state)
{
    (void)state;
    //  600 numbered words in one paragraph, a word longer than a line, and
    //  a form feed.
    size_t cap = 64 * 1024, o = 0;
    char *body = malloc(cap);
    for (int i = 0; i < 600; i++)
        o += (size_t)snprintf(body + o, cap - o, "word%03d ", i);
    o += (size_t)snprintf(body + o, cap - o, "\n");
    for (int i = 0; i < 150; i++)
        body[o++] = (char)('a' + i % 26);
    o += (size_t)snprintf(body + o, cap - o, "\n\flast page");
    for (int i = 0; i < 120; i++)
        o += (size_t)snprintf(body + o, cap - o, "\nline %d", i);
    unsigned char *pdf = NULL;
    size_t len = 0;
    int pages = 0;
    char err[128] = "";
    assert_int_equal(zf_pdf_from_text(NULL, body, T0, &pdf, &len, &pages, err, sizeof err), 0);
    assert_int_equal(s_check_structure(pdf, len), pages);
    //  600 words at 10 a line (45 pt each, 483 pt lines) and 2 lines of
    //  the long word: 62 lines at 48 a page, 2 pages; the form feed starts
    //  the 3rd; 121 more lines: 3 pages.
    assert_int_equal(pages, 5);
    assert_true(s_find(pdf, len, 0, "/Title") < 0);
    char *text = s_readers(pdf, len);
    //  Every word comes back, in order, none cut.
    const char *at = text;
    for (int i = 0; i < 600; i++) {
        char w[16];
        snprintf(w, sizeof w, "word%03d", i);
        const char *p = strstr(at, w);
        if (!p) fail_msg("%s missing", w);
        at = p + strlen(w);
    }
    //  The long word was cut into pieces that together are all of it.
    char joined[200] = "";
    for (const char *p = strstr(text, "abcdefghij"); p && *p && strlen(joined) < 150; p++)
        if (*p >= 'a' && *p <= 'z') strncat(joined, p, 1);
    for (int i = 0; i < 150; i++)
        assert_int_equal(joined[i], 'a' + i % 26);
    //  "last page" opens page 3: after page 2's footer, before page 3's.
    const char *last = strstr(text, "last page");
    assert_true(last && last > strstr(text, "Page 2 of 5") && last < strstr(text, "Page 3 of 5"));
    assert_non_null(strstr(text, "line 119"));
    assert_non_null(strstr(text, "Page 5 of 5"));
    free(text);
    //  No line is wider than the text area: every Td is at x = 56 and
    //  lines are at least 15 pt apart on a page.
    assert_int_equal(s_count(pdf, len, " Td ("), s_count(pdf, len, "Tf 56 ") + (size_t)pages);
    free(pdf);
    free(body);
}

static void
test_limits(void **state)
{
    (void)state;
    unsigned char *pdf = NULL;
    size_t len = 0;
    int pages = 0;
    char err[128] = "";
    //  200 pages is the most: 199 form feeds fit, 200 do not.
    char ff[202];
    memset(ff, '\f', 199);
    ff[199] = 'x';
    ff[200] = '\0';
    assert_int_equal(zf_pdf_from_text(NULL, ff, T0, &pdf, &len, &pages, err, sizeof err), 0);
    assert_int_equal(pages, 200);
    assert_int_equal(s_check_structure(pdf, len), 200);
    free(pdf);
    memset(ff, '\f', 200);
    ff[200] = 'x';
    ff[201] = '\0';
    assert_int_equal(zf_pdf_from_text(NULL, ff, T0, &pdf, &len, &pages, err, sizeof err),
                     ZF_ELIMIT);
    assert_null(pdf);
    assert_string_equal(err, "document too long: more than 200 pages");
    //  Full lines of é (78 a line, 4 bytes each as \351) reach 2 MiB
    //  before 200 pages.
    size_t n = 7000 * 78;
    char *big = malloc(n * 2 + 7000 + 1), *o = big;
    for (size_t i = 0; i < n; i++) {
        memcpy(o, "é", 2);
        o += 2;
        if (i % 78 == 77) *o++ = '\n';
    }
    *o = '\0';
    assert_int_equal(zf_pdf_from_text(NULL, big, T0, &pdf, &len, &pages, err, sizeof err),
                     ZF_ELIMIT);
    assert_string_equal(err, "document too large: more than 2 MiB");
    free(big);
    //  A spent or failed writer refuses more.
    zf_pdf_t *p = zf_pdf_new(T0);
    assert_int_equal(zf_pdf_paragraph(p, "x"), 0);
    unsigned char *out = zf_pdf_finish(p, &len, &pages, err, sizeof err);
    assert_non_null(out);
    free(out);
    assert_null(zf_pdf_finish(p, &len, &pages, err, sizeof err));
    assert_int_equal(zf_pdf_paragraph(p, "y"), ZF_ELIMIT);
    zf_pdf_destroy(&p);
    assert_null(p);
    zf_pdf_destroy(&p);
}

// =========================================================================
//  generate_document
// =========================================================================

static void
test_generate_document_validate(void **state)
{
    (void)state;
    static const s_vcase_t cases[] = {
        {"{'template':'Hello'}", NULL},
        {"{'template':'Hi {{record.name}}','title':'{{vars.t}}','filename':'{{vars.f}}.pdf',"
         "'format':'{{vars.fmt}}','variables':{'a':1}}",
         NULL},
        {"{'template':'x','format':'PDF','title':3,'filename':'Report 2024 – Q1.pdf'}", NULL},
        {"[]", "config: must be an object"},
        {"{}", "config.template: required"},
        {"{'template':['x']}", "config.template: required"},
        {"{'template':'x','format':'docx'}", "config.format: docx is not supported here, only pdf"},
        {"{'template':'x','format':'html'}", "config.format: html is not supported here"},
        {"{'template':'x','format':1}", "config.format: a non-string is not supported"},
        {"{'template':'x','filename':'../etc/passwd'}", "config.filename: must be a file name"},
        {"{'template':'x','filename':'a\\\\b.pdf'}", "config.filename"},
        {"{'template':'x','filename':'a\\nb.pdf'}", "config.filename"},
        {"{'template':'x','filename':''}", "config.filename"},
        {"{'template':'x','title':{}}", "config.title: must be a string"},
        {"{'template':'x','variables':[1]}", "config.variables: must be an object"},
    };
    CHECK_VALIDATE("generate_document", cases);
    const zf_step_kind_t *k = zf_step_find("generate_document");
    assert_int_equal(k->cpu_only, 1);
}

static void
test_generate_document_output(void **state)
{
    (void)state;
    s_env_t env;
    s_env_init(&env, NULL);
    zf_step_result_t res = s_run(&env, "generate_document",
                                 s_json("{\"template\":\"Dear Ann,\\n\\nYour loan of 5000 € is "
                                        "approved.\",\"title\":\"Approval\",\"format\":\"pdf\","
                                        "\"filename\":\"approval-42.pdf\",\"variables\":{}}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    const json_t *o = res.output;
    assert_string_equal(s_str(o, "filename"), "approval-42.pdf");
    assert_string_equal(s_str(o, "contentType"), "application/pdf");
    assert_int_equal(json_integer_value(json_object_get(o, "pages")), 1);
    size_t len = 0;
    const char *b64 = s_str(o, "content");
    unsigned char *pdf = zf_mime_b64_decode(b64, strlen(b64), &len);
    assert_non_null(pdf);
    assert_int_equal(json_integer_value(json_object_get(o, "size")), (json_int_t)len);
    unsigned char md[SHA256_DIGEST_LENGTH];
    char hex[65];
    SHA256(pdf, len, md);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    assert_string_equal(s_str(o, "sha256"), hex);
    s_check_structure(pdf, len);
    char *text = s_readers(pdf, len);
    assert_non_null(strstr(text, "Approval"));
    assert_non_null(strstr(text, "Your loan of 5000 € is approved."));
    free(text);
    free(pdf);
    zf_step_result_clear(&res);
    //  Defaults; numbers rendered from "{{x}}" print as text.
    res = s_run(&env, "generate_document", s_json("{\"template\":42}"));
    assert_int_equal(res.status, ZF_STEP_OK);
    assert_string_equal(s_str(res.output, "filename"), "document.pdf");
    zf_step_result_clear(&res);
    //  exec re-checks the rendered config, and limits fail without retry.
    res = s_run(&env, "generate_document", s_json("{\"template\":\"x\",\"format\":\"docx\"}"));
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_string_equal(res.error, "config.format: docx is not supported here, only pdf");
    zf_step_result_clear(&res);
    json_t *cfg = json_object();
    char ff[260];
    memset(ff, '\f', 250);
    ff[250] = '\0';
    json_object_set_new(cfg, "template", json_string(ff));
    res = s_run(&env, "generate_document", cfg);
    assert_int_equal(res.status, ZF_STEP_FAIL_FINAL);
    assert_string_equal(res.error, "document too long: more than 200 pages");
    zf_step_result_clear(&res);
    s_env_free(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_page_structure_and_text),
        cmocka_unit_test(test_escaping_and_winansi),
        cmocka_unit_test(test_wrapping_and_page_breaks),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_generate_document_validate),
        cmocka_unit_test(test_generate_document_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
