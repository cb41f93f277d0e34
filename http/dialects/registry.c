/*  http/dialects/registry.c — every dialect the server mounts. Adding a
    seed API: one file in this folder, one line here, one in CMakeLists. */
#include "http/dialects/dialects.h"
#include "http/http_int.h"

const zf_http_dialect_t *const zf_http_dialects[] = {
    &zf_dialect_v2,        &zf_dialect_data,        &zf_dialect_coherence,
    &zf_dialect_lendworks, &zf_dialect_automations, NULL,
};
