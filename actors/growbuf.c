/*  actors/growbuf.c — see growbuf.h. */
#include "actors/growbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Room for n more bytes and the NUL; doubling keeps appends amortised O(1).
static void
s_reserve(zf_growbuf_t *b, size_t n)
{
    if (b->len + n + 1 <= b->cap) return;
    b->cap = (b->len + n + 1) * 2;
    b->p = realloc(b->p, b->cap);
    if (!b->p) abort();
}

void
zf_growbuf_put(zf_growbuf_t *b, const void *data, size_t n)
{
    s_reserve(b, n);
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void
zf_growbuf_puts(zf_growbuf_t *b, const char *s)
{
    zf_growbuf_put(b, s, strlen(s));
}

void
zf_growbuf_printf(zf_growbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    s_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

size_t
zf_growbuf_append(char **buf, size_t *len, size_t *cap, size_t max, int *too_large,
                  const char *data, size_t n)
{
    if (*len + n > max) {
        *too_large = 1;
        return 0;
    }
    zf_growbuf_t b = {.p = *buf, .len = *len, .cap = *cap};
    zf_growbuf_put(&b, data, n);
    *buf = b.p, *len = b.len, *cap = b.cap;
    return n;
}
