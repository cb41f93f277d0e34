/*  http/router.h — route patterns ("/:id/runs/:runId") matched against paths.

    A pattern is a sequence of "/segment" parts relative to a mount prefix;
    the empty pattern "" is the prefix itself. A segment is either a literal
    (compared exactly, case-sensitive) or ":name", which matches any
    non-empty path segment and captures it. Paths are split the same way;
    the pipeline strips one trailing slash before matching. Paths come as
    sent (civetweb runs with decode_url=no): literals compare with the raw
    segment, captures are percent-decoded one segment at a time (so "%2F"
    stays inside its segment), and a malformed escape or an encoded NUL
    never matches. Pure functions, no allocation, thread-safe.
*/
#ifndef ZF_HTTP_ROUTER_H
#define ZF_HTTP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#define ZF_ROUTE_MAX_PARAMS 4    // ":name" segments in one pattern
#define ZF_ROUTE_MAX_NAME   32   // bytes of a parameter name, with NUL
#define ZF_ROUTE_MAX_VALUE  128  // bytes of a captured segment, with NUL

typedef struct {
    int n;                                                 // captured parameters
    char names[ZF_ROUTE_MAX_PARAMS][ZF_ROUTE_MAX_NAME];    // parameter names, no ':'
    char values[ZF_ROUTE_MAX_PARAMS][ZF_ROUTE_MAX_VALUE];  // captured segments
} zf_route_params_t;

//  True if path matches pattern; params (may be NULL) then holds the
//  captures. A segment longer than ZF_ROUTE_MAX_VALUE - 1 never matches.
bool zf_route_match(const char *pattern, const char *path, zf_route_params_t *params);

//  Captured value of parameter name (borrowed), or NULL.
const char *zf_route_param(const zf_route_params_t *params, const char *name);

//  True if pattern is well formed: "" or "/seg"..., no empty segments, at
//  most ZF_ROUTE_MAX_PARAMS parameters with names of [A-Za-z0-9_].
bool zf_route_pattern_valid(const char *pattern);

#endif
