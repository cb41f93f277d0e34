/*  tests/fuzz/fuzz_router.c — libFuzzer target for route matching
    (http/router.c).

    The input is a request path matched against the patterns of the real
    dialects' shapes. A match must capture exactly the pattern's
    parameters, each a non-empty, NUL-free value shorter than
    ZF_ROUTE_MAX_VALUE; the input is also tried as a pattern, which, when
    valid, must match a path built from itself.
*/
#include "http/router.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const s_patterns[] = {
    "",        "/:id",    "/:id/runs",    "/:id/runs/:runId", "/:id/runs/:runId/steps/:stepId",
    "/health", "/events", "/:a/:b/:c/:d",
};

static int
s_count_params(const char *pattern)
{
    int n = 0;
    for (const char *p = pattern; (p = strstr(p, "/:")); p += 2)
        n++;
    return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1024) return 0;
    char *path = malloc(size + 1);
    if (!path) abort();
    memcpy(path, data, size);
    path[size] = '\0';
    for (size_t i = 0; i < sizeof s_patterns / sizeof s_patterns[0]; i++) {
        zf_route_params_t params;
        memset(&params, 0xA5, sizeof params);
        if (!zf_route_match(s_patterns[i], path, &params)) continue;
        if (params.n != s_count_params(s_patterns[i])) abort();
        for (int k = 0; k < params.n; k++) {
            size_t len = strnlen(params.values[k], ZF_ROUTE_MAX_VALUE);
            if (len == 0 || len >= ZF_ROUTE_MAX_VALUE) abort();
            if (zf_route_param(&params, params.names[k]) == NULL) abort();
        }
    }
    if (zf_route_pattern_valid(path)) {
        //  A pattern matches the path that spells its parameters as values.
        char concrete[2048];
        size_t n = 0;
        for (const char *p = path; *p && n + 2 < sizeof concrete;) {
            if (p[0] == '/' && p[1] == ':') {
                concrete[n++] = '/';
                concrete[n++] = 'v';
                p += 2;
                while (*p && *p != '/')
                    p++;
            } else
                concrete[n++] = *p++;
        }
        concrete[n] = '\0';
        //  (A segment of ZF_ROUTE_MAX_VALUE bytes or more never matches.)
        size_t seg = 0, longest = 0;
        for (size_t i = 0; i < n; i++) {
            seg = concrete[i] == '/' ? 0 : seg + 1;
            if (seg > longest) longest = seg;
        }
        zf_route_params_t params;
        if (longest < ZF_ROUTE_MAX_VALUE && n < sizeof concrete - 2 &&
            !zf_route_match(path, concrete, &params))
            abort();
    }
    free(path);
    return 0;
}
