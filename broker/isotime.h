/*  broker/isotime.h — ISO-8601 parsing shared by the expression evaluator
    (actors/) and the dialects' date parameters (http/): the lowest layer
    both use. */
#ifndef ZF_ISOTIME_H
#define ZF_ISOTIME_H

//  Parses an ISO-8601 date or date-time ("2026-03-19", "2026-03-19T18:00:00Z",
//  "...+02:00", "+0200", fractional seconds, 'T', 't' or ' ' as separator;
//  no offset = UTC) into Unix ms (ms_out may be NULL). At most 64 bytes.
//  0 ok, ZF_EINVAL otherwise.
int zf_iso8601_ms(const char *s, long long *ms_out);

#endif
