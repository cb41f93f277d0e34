/*  actors/pdf.h — a small PDF 1.4 writer for text documents (no dependency).

    A document is a title and a sequence of headings and paragraphs, laid
    out on A4 pages (595 x 842 pt, 56 pt margins) in the standard Type 1
    fonts Helvetica (body, 11 pt) and Helvetica-Bold (title 18 pt,
    headings 14 pt), which every PDF reader has, so nothing is embedded.
    Text is UTF-8 and is written in WinAnsiEncoding (Windows-1252):
    characters it has are kept (Latin-1, € „ “ ” ‘ ’ – — … • ™ Š Œ Ž ...),
    a few look-alikes are mapped (other spaces and hyphens), everything
    else becomes '?'. Paragraphs are word-wrapped with the fonts' Adobe
    metrics (a word wider than the line is cut), pages break as needed and
    each page has a "Page i of n" footer. Content streams are not
    compressed; the xref table gives exact byte offsets.

    Bounded: at most ZF_PDF_PAGES_MAX pages and ZF_PDF_BYTES_MAX bytes of
    output; past either, the calls fail with ZF_ELIMIT (broker/errors.h).
    Output is deterministic: the same text and clock give the same bytes.

    Ownership: zf_pdf_new returns the writer (zf_pdf_destroy it); strings
    are borrowed; zf_pdf_finish returns a malloc'd buffer that is the
    caller's.
*/
#ifndef ZF_PDF_H
#define ZF_PDF_H

#include <stddef.h>
#include <stdint.h>

#define ZF_PDF_PAGES_MAX 200                // pages in one document
#define ZF_PDF_BYTES_MAX (2 * 1024 * 1024)  // bytes of one PDF file

typedef struct zf_pdf_t zf_pdf_t;

//  A writer with an empty first page; now_ms is the CreationDate.
zf_pdf_t *zf_pdf_new(int64_t now_ms);
void zf_pdf_destroy(zf_pdf_t **p);

//  Each call lays out more text; 0, or ZF_ELIMIT once a limit is passed
//  (the writer then refuses everything). A '\f' in any text starts a new page.
//  title: large bold lines, also the document's /Title (the first one).
int zf_pdf_title(zf_pdf_t *p, const char *utf8);
//  heading: bold lines with a little space above.
int zf_pdf_heading(zf_pdf_t *p, const char *utf8);
//  paragraph: one block of body text, word-wrapped ("" = an empty line).
int zf_pdf_paragraph(zf_pdf_t *p, const char *utf8);

//  The PDF file (*len bytes, *pages pages), or NULL with ZF_ELIMIT's
//  message in err when a limit was passed. The writer is spent after it.
unsigned char *zf_pdf_finish(zf_pdf_t *p, size_t *len, int *pages, char *err, size_t errlen);

//  A whole document from plain text: optional title, then each line of
//  text a paragraph ("\n", "\r\n" or "\r" end lines; an empty line is
//  vertical space; a line starting "# " is a heading). 0 and *out (the
//  caller's), or ZF_ELIMIT with err.
int zf_pdf_from_text(const char *title, const char *text, int64_t now_ms, unsigned char **out,
                     size_t *len, int *pages, char *err, size_t errlen);

#endif
