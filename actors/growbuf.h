/*  actors/growbuf.h — a bounded, growing response buffer for libcurl
    write callbacks (http_request, ai).
*/
#ifndef ZF_GROWBUF_H
#define ZF_GROWBUF_H

#include <stddef.h>

//  Appends n bytes of data to *buf (kept NUL-terminated; *len used, *cap
//  allocated). Past max bytes in all it sets *too_large and returns 0 (so
//  libcurl aborts the transfer), else returns n. Aborts on out of memory.
size_t zf_growbuf_append(char **buf, size_t *len, size_t *cap, size_t max, int *too_large,
                         const char *data, size_t n);

#endif
