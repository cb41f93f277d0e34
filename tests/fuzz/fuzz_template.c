/*  tests/fuzz/fuzz_template.c — templates: any input renders or fails
    cleanly, and whatever renders also passes the create-time check. */
#include "actors/template.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *
s_scope_root(void)
{
    static json_t *root;
    if (!root)
        root = json_loads("{\"record\": {\"name\": \"J\\u00e9\", \"n\": 1.5, \"d\": \"2024-02-28\","
                          " \"o\": {\"a\": [1, 2]}, \"t\": \"{{record.name}}\"},"
                          " \"vars\": {\"x\": 3}, \"steps\": {}, \"inputs\": {}}",
                          0, NULL);
    return root;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char err[160];
    zf_tpl_scope_t scope = {.root = s_scope_root(), .now_ms = 1773943200000LL};
    json_t *v = zf_tpl_render(&scope, s, err, sizeof err);
    if (v && zf_tpl_check(s, err, sizeof err) != 0) abort();  // render ok implies check ok
    json_decref(v);
    json_t *str = json_stringn(s, size);  // NULL unless valid UTF-8
    if (str) {
        json_decref(zf_tpl_render_value(&scope, str, err, sizeof err));
        json_decref(str);
    }
    free(s);
    return 0;
}
