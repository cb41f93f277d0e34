/*  tests/fuzz/fuzz_cron.c — cron expressions: parsing never crashes, and a
    parsed expression's next instants strictly increase and match it. */
#include "actors/cron.h"
#include "actors/tz.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char expr[300];
    if (size >= sizeof expr) return 0;
    memcpy(expr, data, size);
    expr[size] = '\0';
    zf_cron_t c;
    char err[160];
    if (zf_cron_parse(expr, &c, err, sizeof err) != 0) return 0;
    const zf_tz_t *tz = zf_tz_get(size % 2 ? "America/New_York" : "UTC", NULL, 0);
    int64_t t = 1773943200000LL;
    for (int i = 0; i < 4; i++) {
        int64_t next = zf_cron_next(&c, tz, t);
        if (next < 0) break;
        if (next <= t) abort();
        t = next;
    }
    return 0;
}
