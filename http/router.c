/*  http/router.c — route pattern matching. See router.h. */
#include "http/router.h"

#include <string.h>

//  Length of the segment starting at s (up to the next '/' or the end).
static size_t
s_seg_len(const char *s)
{
    return strcspn(s, "/");
}

static int
s_hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

//  Percent-decodes seg (slen bytes) into out (NUL-terminated); false on a
//  malformed escape or an encoded NUL (it would cut the value short).
static bool
s_decode(const char *seg, size_t slen, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < slen; i++) {
        if (seg[i] != '%') {
            out[n++] = seg[i];
            continue;
        }
        if (i + 2 >= slen) return false;  // "%" or "%X" at the end
        int a = s_hex(seg[i + 1]), b = s_hex(seg[i + 2]);
        if (a < 0 || b < 0 || (a == 0 && b == 0)) return false;
        out[n++] = (char)(a * 16 + b);
        i += 2;
    }
    out[n] = '\0';
    return true;
}

//  Matches one pattern segment (pat, plen) against one path segment (seg,
//  slen, as sent: percent-encoded), capturing ":name" segments into params
//  decoded.
static bool
s_match_segment(const char *pat, size_t plen, const char *seg, size_t slen,
                zf_route_params_t *params)
{
    if (plen > 0 && pat[0] == ':') {
        if (slen == 0 || slen >= ZF_ROUTE_MAX_VALUE) return false;
        if (!params) return true;
        if (params->n >= ZF_ROUTE_MAX_PARAMS || plen - 1 >= ZF_ROUTE_MAX_NAME) return false;
        memcpy(params->names[params->n], pat + 1, plen - 1);
        params->names[params->n][plen - 1] = '\0';
        if (!s_decode(seg, slen, params->values[params->n])) return false;
        params->n++;
        return true;
    }
    return plen == slen && memcmp(pat, seg, plen) == 0;
}

bool
zf_route_match(const char *pattern, const char *path, zf_route_params_t *params)
{
    if (params) params->n = 0;
    while (*pattern && *path) {
        if (*pattern != '/' || *path != '/') return false;
        pattern++;
        path++;
        size_t plen = s_seg_len(pattern), slen = s_seg_len(path);
        if (!s_match_segment(pattern, plen, path, slen, params)) return false;
        pattern += plen;
        path += slen;
    }
    return *pattern == '\0' && *path == '\0';
}

const char *
zf_route_param(const zf_route_params_t *params, const char *name)
{
    for (int i = 0; params && i < params->n; i++) {
        if (strcmp(params->names[i], name) == 0) return params->values[i];
    }
    return NULL;
}

bool
zf_route_pattern_valid(const char *pattern)
{
    int nparams = 0;
    while (*pattern) {
        if (*pattern++ != '/') return false;
        size_t len = s_seg_len(pattern);
        if (len == 0) return false;
        if (pattern[0] == ':') {
            if (len < 2 || len - 1 >= ZF_ROUTE_MAX_NAME || ++nparams > ZF_ROUTE_MAX_PARAMS)
                return false;
            for (size_t i = 1; i < len; i++) {
                char c = pattern[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_'))
                    return false;
            }
        }
        pattern += len;
    }
    return true;
}
