/*  http/dialects/dialects.h — the dialect tables, one per file here. */
#ifndef ZF_HTTP_DIALECTS_H
#define ZF_HTTP_DIALECTS_H

#include "http/dialect.h"

extern const zf_http_dialect_t zf_dialect_v2;    // seed 002, dialects/v2.c
extern const zf_http_dialect_t zf_dialect_data;  // records, events, notifications: dialects/data.c
extern const zf_http_dialect_t zf_dialect_coherence;    // seed 003, dialects/coherence.c
extern const zf_http_dialect_t zf_dialect_lendworks;    // seeds 000/004, dialects/lendworks.c
extern const zf_http_dialect_t zf_dialect_automations;  // seed 001, dialects/automations*.c

#endif
