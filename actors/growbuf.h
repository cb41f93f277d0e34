/*  actors/growbuf.h — growing byte buffers.

    zf_growbuf_t builds documents (MIME messages, PDFs); zf_growbuf_append
    is the bounded form for libcurl write callbacks (http_request, ai).
    Both keep the bytes NUL-terminated and abort on out of memory.
*/
#ifndef ZF_GROWBUF_H
#define ZF_GROWBUF_H

#include <stddef.h>

typedef struct {
    char *p;     // bytes, NUL-terminated (NULL while empty)
    size_t len;  // used bytes
    size_t cap;  // allocated bytes
} zf_growbuf_t;

void zf_growbuf_put(zf_growbuf_t *b, const void *data, size_t n);
void zf_growbuf_puts(zf_growbuf_t *b, const char *s);
//  Appends the formatted text whole (no length limit).
__attribute__((format(printf, 2, 3))) void zf_growbuf_printf(zf_growbuf_t *b, const char *fmt, ...);

//  Appends n bytes of data to *buf (kept NUL-terminated; *len used, *cap
//  allocated). Past max bytes in all it sets *too_large and returns 0 (so
//  libcurl aborts the transfer), else returns n.
size_t zf_growbuf_append(char **buf, size_t *len, size_t *cap, size_t max, int *too_large,
                         const char *data, size_t n);

#endif
