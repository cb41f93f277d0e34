/*  actors/pdf.c — a small PDF 1.4 writer for text documents (see pdf.h).

    File layout (ISO 32000-1 §7.5): header with a binary comment, then
    objects 1 Catalog, 2 Pages, 3 Helvetica, 4 Helvetica-Bold, 5 Info,
    then for page i object 6+2i (the Page) and 7+2i (its content stream),
    then the xref table (20-byte entries), the trailer and startxref.
    Pages are laid out in memory first and written at the end, when their
    number (for the Kids array and the footers) is known.
*/
#include "actors/pdf.h"
#include "actors/growbuf.h"

#include "broker/errors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_PAGE_W     595                        // A4 width, pt
#define S_PAGE_H     842                        // A4 height, pt
#define S_MARGIN     56                         // left, right and top margins, pt
#define S_BOTTOM     56                         // lowest line bottom, pt
#define S_FOOTER_Y   30                         // footer baseline, pt
#define S_FOOTER_PT  9                          // footer size, pt
#define S_TEXT_W     (S_PAGE_W - 2 * S_MARGIN)  // line width, pt
#define S_OBJ_PAGES0 6                          // object number of the first Page

//  Advance widths of WinAnsi codes 32..255 in 1/1000 em: the Adobe AFM
//  metrics of the standard 14 fonts (as shipped in groff's devps HR and
//  HB files); 0 = no glyph at that code.
static const uint16_t s_helvetica[224] = {
    278,  278, 355, 556, 556, 889,  667,  191,  333, 333,  389, 584, 278,  333, 278, 278,  // 32
    556,  556, 556, 556, 556, 556,  556,  556,  556, 556,  278, 278, 584,  584, 584, 556,  // 48
    1015, 667, 667, 722, 722, 667,  611,  778,  722, 278,  500, 667, 556,  833, 722, 778,  // 64
    667,  778, 722, 667, 611, 722,  667,  944,  667, 667,  611, 278, 278,  278, 469, 556,  // 80
    333,  556, 556, 500, 556, 556,  278,  556,  556, 222,  222, 500, 222,  833, 556, 556,  // 96
    556,  556, 333, 500, 278, 556,  500,  722,  500, 500,  500, 334, 260,  334, 584, 0,    // 112
    556,  0,   222, 556, 333, 1000, 556,  556,  333, 1000, 667, 333, 1000, 0,   611, 0,    // 128
    0,    222, 222, 333, 333, 350,  556,  1000, 333, 1000, 500, 333, 944,  0,   500, 667,  // 144
    278,  333, 556, 556, 556, 556,  260,  556,  333, 737,  370, 556, 584,  333, 737, 333,  // 160
    400,  584, 333, 333, 333, 578,  537,  278,  333, 333,  365, 556, 834,  834, 834, 611,  // 176
    667,  667, 667, 667, 667, 667,  1000, 722,  667, 667,  667, 667, 278,  278, 278, 278,  // 192
    722,  722, 778, 778, 778, 778,  778,  584,  778, 722,  722, 722, 722,  667, 667, 611,  // 208
    556,  556, 556, 556, 556, 556,  889,  500,  556, 556,  556, 556, 278,  278, 278, 278,  // 224
    556,  556, 556, 556, 556, 556,  556,  584,  611, 556,  556, 556, 556,  500, 556, 500,  // 240
};
static const uint16_t s_helvetica_bold[224] = {
    278, 333, 474, 556, 556, 889,  722,  238,  333, 333,  389, 584, 278,  333, 278, 278,  // 32
    556, 556, 556, 556, 556, 556,  556,  556,  556, 556,  333, 333, 584,  584, 584, 611,  // 48
    975, 722, 722, 722, 722, 667,  611,  778,  722, 278,  556, 722, 611,  833, 722, 778,  // 64
    667, 778, 722, 667, 611, 722,  667,  944,  667, 667,  611, 333, 278,  333, 584, 556,  // 80
    333, 556, 611, 556, 611, 556,  333,  611,  611, 278,  278, 556, 278,  889, 611, 611,  // 96
    611, 611, 389, 556, 333, 611,  556,  778,  556, 556,  500, 389, 280,  389, 584, 0,    // 112
    556, 0,   278, 556, 500, 1000, 556,  556,  333, 1000, 667, 333, 1000, 0,   611, 0,    // 128
    0,   278, 278, 500, 500, 350,  556,  1000, 333, 1000, 556, 333, 944,  0,   500, 667,  // 144
    278, 333, 556, 556, 556, 556,  280,  556,  333, 737,  370, 556, 584,  333, 737, 333,  // 160
    400, 584, 333, 333, 333, 611,  556,  278,  333, 333,  365, 556, 834,  834, 834, 611,  // 176
    722, 722, 722, 722, 722, 722,  1000, 722,  667, 667,  667, 667, 278,  278, 278, 278,  // 192
    722, 722, 778, 778, 778, 778,  778,  584,  778, 722,  722, 722, 722,  667, 667, 611,  // 208
    556, 556, 556, 556, 556, 556,  889,  556,  556, 556,  556, 556, 278,  278, 278, 278,  // 224
    611, 611, 611, 611, 611, 611,  611,  584,  611, 611,  611, 611, 611,  556, 611, 556,  // 240
};

//  How a kind of line is set.
typedef struct {
    const char *font;        // resource name: F1 Helvetica, F2 Helvetica-Bold
    const uint16_t *widths;  // that font's widths of codes 32..255
    int size;                // font size, pt
    int leading;             // line height, pt
    int space_before;        // extra space above the first line (not at a page top), pt
} s_style_t;

static const s_style_t s_body = {"F1", s_helvetica, 11, 15, 0};
static const s_style_t s_heading = {"F2", s_helvetica_bold, 14, 20, 6};
static const s_style_t s_title = {"F2", s_helvetica_bold, 18, 24, 0};

struct zf_pdf_t {
    zf_growbuf_t *pages;  // content stream of each page
    int n_pages;          // pages started
    int y;                // top of the free space on the current page, pt from the bottom
    size_t bytes;         // content bytes so far (all pages)
    int64_t now_ms;       // CreationDate
    char *title;          // first title (UTF-8), for /Title; NULL = none
    int failed;           // a limit was passed: everything is refused
    char err[128];        // why
};

// =========================================================================
//  Text: UTF-8 to WinAnsi
// =========================================================================

//  Next code point of s[0..n) (advances *i); U+FFFD for a malformed sequence.
static uint32_t
s_utf8_next(const char *s, size_t n, size_t *i)
{
    unsigned char c = (unsigned char)s[*i];
    size_t k = c < 0x80             ? 1
               : (c & 0xe0) == 0xc0 ? 2
               : (c & 0xf0) == 0xe0 ? 3
               : (c & 0xf8) == 0xf0 ? 4
                                    : 0;
    uint32_t cp = k == 1 ? c : k == 2 ? c & 0x1f : k == 3 ? c & 0x0f : c & 0x07;
    if (k == 0 || *i + k > n) {
        (*i)++;
        return 0xfffd;
    }
    for (size_t j = 1; j < k; j++) {
        unsigned char d = (unsigned char)s[*i + j];
        if ((d & 0xc0) != 0x80) {
            *i += j;
            return 0xfffd;
        }
        cp = cp << 6 | (d & 0x3f);
    }
    *i += k;
    return cp;
}

//  WinAnsi code of a code point; '?' when there is none, 0 to drop it.
static unsigned char
s_winansi(uint32_t cp)
{
    static const uint16_t cp1252[][2] = {
        {0x20AC, 0x80}, {0x201A, 0x82}, {0x0192, 0x83}, {0x201E, 0x84}, {0x2026, 0x85},
        {0x2020, 0x86}, {0x2021, 0x87}, {0x02C6, 0x88}, {0x2030, 0x89}, {0x0160, 0x8A},
        {0x2039, 0x8B}, {0x0152, 0x8C}, {0x017D, 0x8E}, {0x2018, 0x91}, {0x2019, 0x92},
        {0x201C, 0x93}, {0x201D, 0x94}, {0x2022, 0x95}, {0x2013, 0x96}, {0x2014, 0x97},
        {0x02DC, 0x98}, {0x2122, 0x99}, {0x0161, 0x9A}, {0x203A, 0x9B}, {0x0153, 0x9C},
        {0x017E, 0x9E}, {0x0178, 0x9F}, {0x2010, '-'},  {0x2011, '-'},  {0x2012, '-'},
        {0x2212, '-'},  {0x2032, '\''}, {0x2033, '"'},  {0x202F, ' '},  {0x3000, ' '}};
    if ((cp >= 0x20 && cp < 0x7f) || (cp >= 0xa0 && cp <= 0xff)) return (unsigned char)cp;
    if (cp >= 0x2000 && cp <= 0x200a) return ' ';
    if (cp == 0x200b || cp == 0x200c || cp == 0x200d || cp == 0xfeff || cp < 0x20 || cp == 0x7f ||
        (cp >= 0x80 && cp < 0xa0))
        return 0;
    for (size_t i = 0; i < sizeof cp1252 / sizeof cp1252[0]; i++)
        if (cp1252[i][0] == cp) return (unsigned char)cp1252[i][1];
    return '?';
}

//  s as WinAnsi bytes (malloc'd, *n set): tabs become 4 spaces, any line
//  end '\n', '\f' stays (a page break), other controls are dropped.
static unsigned char *
s_encode(const char *s, size_t *n)
{
    size_t len = strlen(s), o = 0;
    unsigned char *out = malloc(len * 4 + 1);
    if (!out) abort();
    for (size_t i = 0; i < len;) {
        uint32_t cp = s_utf8_next(s, len, &i);
        if (cp == '\r' && i < len && s[i] == '\n') continue;
        if (cp == '\t') {
            memcpy(out + o, "    ", 4);
            o += 4;
        } else if (cp == '\r' || cp == '\n' || cp == '\f') {
            out[o++] = cp == '\f' ? '\f' : '\n';
        } else {
            unsigned char c = s_winansi(cp);
            if (c) out[o++] = c;
        }
    }
    *n = o;
    return out;
}

// =========================================================================
//  Layout
// =========================================================================

static int
s_fail(zf_pdf_t *p, const char *msg)
{
    if (!p->failed) snprintf(p->err, sizeof p->err, "%s", msg);
    p->failed = 1;
    return ZF_ELIMIT;
}

static int
s_new_page(zf_pdf_t *p)
{
    if (p->n_pages >= ZF_PDF_PAGES_MAX) return s_fail(p, "document too long: more than 200 pages");
    zf_growbuf_t *pages = realloc(p->pages, (size_t)(p->n_pages + 1) * sizeof *pages);
    if (!pages) abort();
    p->pages = pages;
    p->pages[p->n_pages++] = (zf_growbuf_t){0};
    p->y = S_PAGE_H - S_MARGIN;
    return 0;
}

//  Width of s[0..n) in 1/1000 pt at the style's size.
static long
s_width(const s_style_t *st, const unsigned char *s, size_t n)
{
    long w = 0;
    for (size_t i = 0; i < n; i++)
        w += s[i] >= 32 ? st->widths[s[i] - 32] : 0;
    return w * st->size;
}

//  A PDF literal string body: ( ) \ escaped, bytes outside ASCII as \ooo.
static void
s_put_pdf_string(zf_growbuf_t *b, const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '(' || s[i] == ')' || s[i] == '\\')
            zf_growbuf_printf(b, "\\%c", s[i]);
        else if (s[i] < 0x20 || s[i] > 0x7e)
            zf_growbuf_printf(b, "\\%03o", s[i]);
        else
            zf_growbuf_put(b, &s[i], 1);
    }
}

//  One line of text (n = 0: an empty line), on a new page if it does not fit.
static int
s_line(zf_pdf_t *p, const s_style_t *st, const unsigned char *s, size_t n)
{
    if (p->y - st->leading < S_BOTTOM && s_new_page(p) != 0) return ZF_ELIMIT;
    p->y -= st->leading;
    while (n > 0 && s[n - 1] == ' ')
        n--;
    if (n == 0) return 0;
    zf_growbuf_t *b = &p->pages[p->n_pages - 1];
    size_t before = b->len;
    zf_growbuf_printf(b, "BT /%s %d Tf %d %d Td (", st->font, st->size, S_MARGIN,
                      p->y + st->leading - st->size);
    s_put_pdf_string(b, s, n);
    zf_growbuf_printf(b, ") Tj ET\n");
    p->bytes += b->len - before;
    if (p->bytes > ZF_PDF_BYTES_MAX) return s_fail(p, "document too large: more than 2 MiB");
    return 0;
}

//  Greedy word wrap of one line of text: breaks at the last space that
//  fits, or inside a word wider than the line; spaces at a break vanish.
static int
s_wrap(zf_pdf_t *p, const s_style_t *st, const unsigned char *s, size_t n)
{
    const long max = (long)S_TEXT_W * 1000;
    size_t start = 0;
    if (n == 0) return s_line(p, st, s, 0);
    while (start < n) {
        size_t i = start, space = start;
        long w = 0;
        for (; i < n; i++) {
            long cw = s_width(st, &s[i], 1);
            if (w + cw > max && i > start) break;
            if (s[i] == ' ') space = i;
            w += cw;
        }
        size_t end = i < n && s[i] != ' ' && space > start ? space : i;
        if (s_line(p, st, s + start, end - start) != 0) return ZF_ELIMIT;
        for (start = end; start < n && s[start] == ' ';)
            start++;
    }
    return 0;
}

//  Lays out text in a style: '\n' ends a line, '\f' starts a page.
static int
s_layout(zf_pdf_t *p, const s_style_t *st, const char *utf8)
{
    size_t n = 0;
    if (p->failed) return ZF_ELIMIT;
    unsigned char *s = s_encode(utf8 ? utf8 : "", &n);
    int rc = 0;
    if (st->space_before && p->y < S_PAGE_H - S_MARGIN) p->y -= st->space_before;
    for (size_t start = 0; rc == 0;) {
        size_t end = start;
        while (end < n && s[end] != '\n' && s[end] != '\f')
            end++;
        //  A '\f' adds no empty line of its own.
        int at_ff =
            end == start && ((end < n && s[end] == '\f') || (start > 0 && s[start - 1] == '\f'));
        if (!at_ff) rc = s_wrap(p, st, s + start, end - start);
        if (rc || end >= n) break;
        if (s[end] == '\f') rc = s_new_page(p);
        start = end + 1;
    }
    free(s);
    return rc;
}

zf_pdf_t *
zf_pdf_new(int64_t now_ms)
{
    zf_pdf_t *p = calloc(1, sizeof *p);
    if (!p) abort();
    p->now_ms = now_ms;
    s_new_page(p);
    return p;
}

void
zf_pdf_destroy(zf_pdf_t **pp)
{
    if (!pp || !*pp) return;
    zf_pdf_t *p = *pp;
    for (int i = 0; i < p->n_pages; i++)
        free(p->pages[i].p);
    free(p->pages);
    free(p->title);
    free(p);
    *pp = NULL;
}

int
zf_pdf_title(zf_pdf_t *p, const char *utf8)
{
    if (!p->title && utf8 && *utf8) {
        p->title = strdup(utf8);
        if (!p->title) abort();
    }
    int rc = s_layout(p, &s_title, utf8);
    if (rc == 0) p->y -= 8;
    return rc;
}

int
zf_pdf_heading(zf_pdf_t *p, const char *utf8)
{
    return s_layout(p, &s_heading, utf8);
}

int
zf_pdf_paragraph(zf_pdf_t *p, const char *utf8)
{
    return s_layout(p, &s_body, utf8);
}

// =========================================================================
//  File
// =========================================================================

//  /Title value: a literal string for printable ASCII, else UTF-16BE hex
//  with a byte order mark (the PDF text string forms).
static void
s_put_text_string(zf_growbuf_t *b, const char *s)
{
    size_t n = strlen(s), i = 0;
    int ascii = 1;
    for (size_t j = 0; j < n; j++)
        ascii &= s[j] >= 0x20 && s[j] < 0x7f;
    if (ascii) {
        zf_growbuf_put(b, "(", 1);
        s_put_pdf_string(b, (const unsigned char *)s, n);
        zf_growbuf_put(b, ")", 1);
        return;
    }
    zf_growbuf_put(b, "<FEFF", 5);
    while (i < n) {
        uint32_t cp = s_utf8_next(s, n, &i);
        if (cp < 0x20) continue;
        if (cp > 0xffff)
            zf_growbuf_printf(b, "%04X%04X", 0xd800 + ((cp - 0x10000) >> 10),
                              0xdc00 + ((cp - 0x10000) & 0x3ff));
        else
            zf_growbuf_printf(b, "%04X", cp);
    }
    zf_growbuf_put(b, ">", 1);
}

//  "Page i of n", centred at the bottom of every page.
static void
s_put_footers(zf_pdf_t *p)
{
    const s_style_t foot = {"F1", s_helvetica, S_FOOTER_PT, 0, 0};
    for (int i = 0; i < p->n_pages; i++) {
        char text[40];
        int n = snprintf(text, sizeof text, "Page %d of %d", i + 1, p->n_pages);
        long w = s_width(&foot, (const unsigned char *)text, (size_t)n);
        zf_growbuf_printf(&p->pages[i], "BT /F1 %d Tf %.2f %d Td (%s) Tj ET\n", S_FOOTER_PT,
                          (S_PAGE_W - w / 1000.0) / 2, S_FOOTER_Y, text);
    }
}

static void
s_put_info(zf_growbuf_t *b, const zf_pdf_t *p)
{
    time_t t = (time_t)(p->now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    zf_growbuf_printf(b, "<< /Producer (zflow) /CreationDate (D:%04d%02d%02d%02d%02d%02dZ)",
                      tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                      tm.tm_sec);
    if (p->title) {
        zf_growbuf_printf(b, " /Title ");
        s_put_text_string(b, p->title);
    }
    zf_growbuf_printf(b, " >>");
}

//  Every object in number order; off[k] = byte offset of object k.
static void
s_put_objects(zf_growbuf_t *b, const zf_pdf_t *p, size_t *off)
{
    static const char *const fonts[] = {"Helvetica", "Helvetica-Bold"};
    off[1] = b->len;
    zf_growbuf_printf(b, "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    off[2] = b->len;
    zf_growbuf_printf(b, "2 0 obj\n<< /Type /Pages /Count %d /Kids [", p->n_pages);
    for (int i = 0; i < p->n_pages; i++)
        zf_growbuf_printf(b, "%s%d 0 R", i ? " " : "", S_OBJ_PAGES0 + 2 * i);
    zf_growbuf_printf(b, "] >>\nendobj\n");
    for (int f = 0; f < 2; f++) {
        off[3 + f] = b->len;
        zf_growbuf_printf(b,
                          "%d 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /%s "
                          "/Encoding /WinAnsiEncoding >>\nendobj\n",
                          3 + f, fonts[f]);
    }
    off[5] = b->len;
    zf_growbuf_printf(b, "5 0 obj\n");
    s_put_info(b, p);
    zf_growbuf_printf(b, "\nendobj\n");
    for (int i = 0; i < p->n_pages; i++) {
        int obj = S_OBJ_PAGES0 + 2 * i;
        off[obj] = b->len;
        zf_growbuf_printf(b,
                          "%d 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources "
                          "<< /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents %d 0 R >>\nendobj\n",
                          obj, S_PAGE_W, S_PAGE_H, obj + 1);
        off[obj + 1] = b->len;
        zf_growbuf_printf(b, "%d 0 obj\n<< /Length %zu >>\nstream\n", obj + 1, p->pages[i].len);
        zf_growbuf_put(b, p->pages[i].p ? p->pages[i].p : "", p->pages[i].len);
        zf_growbuf_printf(b, "\nendstream\nendobj\n");
    }
}

unsigned char *
zf_pdf_finish(zf_pdf_t *p, size_t *len, int *pages, char *err, size_t errlen)
{
    if (p->failed) {
        snprintf(err, errlen, "%s", p->err);
        return NULL;
    }
    s_put_footers(p);
    int count = S_OBJ_PAGES0 + 2 * p->n_pages;  // objects 0..count-1
    size_t *off = calloc((size_t)count, sizeof *off);
    zf_growbuf_t b = {0};
    if (!off) abort();
    zf_growbuf_put(&b, "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", 15);
    s_put_objects(&b, p, off);
    size_t xref = b.len;
    zf_growbuf_printf(&b, "xref\n0 %d\n0000000000 65535 f \n", count);
    for (int k = 1; k < count; k++)
        zf_growbuf_printf(&b, "%010zu 00000 n \n", off[k]);
    zf_growbuf_printf(&b,
                      "trailer\n<< /Size %d /Root 1 0 R /Info 5 0 R >>\nstartxref\n%zu\n%%%%EOF\n",
                      count, xref);
    free(off);
    p->failed = 1;  // spent
    snprintf(p->err, sizeof p->err, "the document was already finished");
    if (b.len > ZF_PDF_BYTES_MAX) {
        free(b.p);
        snprintf(err, errlen, "document too large: more than 2 MiB");
        return NULL;
    }
    *len = b.len;
    if (pages) *pages = p->n_pages;
    return (unsigned char *)b.p;
}

int
zf_pdf_from_text(const char *title, const char *text, int64_t now_ms, unsigned char **out,
                 size_t *len, int *pages, char *err, size_t errlen)
{
    zf_pdf_t *p = zf_pdf_new(now_ms);
    int rc = title && *title ? zf_pdf_title(p, title) : 0;
    for (const char *s = text ? text : ""; rc == 0 && *s;) {
        size_t n = strcspn(s, "\r\n");
        char *line = strndup(s, n);
        if (!line) abort();
        rc = strncmp(line, "# ", 2) == 0 ? zf_pdf_heading(p, line + 2) : zf_pdf_paragraph(p, line);
        free(line);
        s += n;
        s += s[0] == '\r' && s[1] == '\n' ? 2 : s[0] ? 1 : 0;
    }
    *out = rc == 0 ? zf_pdf_finish(p, len, pages, err, errlen) : NULL;
    if (rc != 0) snprintf(err, errlen, "%s", p->err);
    zf_pdf_destroy(&p);
    return *out ? 0 : ZF_ELIMIT;
}
