/*  actors/growbuf.c — see growbuf.h. */
#include "actors/growbuf.h"

#include <stdlib.h>
#include <string.h>

size_t
zf_growbuf_append(char **buf, size_t *len, size_t *cap, size_t max, int *too_large,
                  const char *data, size_t n)
{
    if (*len + n > max) {
        *too_large = 1;
        return 0;
    }
    if (*len + n + 1 > *cap) {  // doubling keeps appends amortised O(1)
        *cap = (*len + n + 1) * 2;
        *buf = realloc(*buf, *cap);
        if (!*buf) abort();
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
    return n;
}
