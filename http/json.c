/*  http/json.c — strict request-body parsing. See json.h. */
#include "http/json.h"

#include <stdio.h>

size_t
zf_http_json_depth(const char *buf, size_t len, size_t limit)
{
    size_t depth = 0, max = 0;
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max) max = depth;
            if (max > limit) return max;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return max;
}

//  A fixed phrase for each jansson error: its own texts can quote input
//  bytes (even invalid UTF-8), which must not reach a response.
static const char *
s_phrase(enum json_error_code code)
{
    switch (code) {
    case json_error_invalid_utf8:
        return "the body is not valid UTF-8";
    case json_error_duplicate_key:
        return "duplicate object key";
    case json_error_premature_end_of_input:
        return "unexpected end of input";
    case json_error_end_of_input_expected:
        return "unexpected data after the JSON value";
    case json_error_null_character:
    case json_error_null_byte_in_key:
        return "NUL characters are not allowed";
    case json_error_numeric_overflow:
        return "number out of range";
    case json_error_stack_overflow:
        return "nesting too deep";
    case json_error_wrong_type:
        return "expected a JSON object";
    default:
        return "syntax error";
    }
}

json_t *
zf_http_json_parse(const char *buf, size_t len, size_t max_depth, char *msg, size_t msglen)
{
    if (zf_http_json_depth(buf, len, max_depth) > max_depth) {
        snprintf(msg, msglen, "invalid JSON body: nested deeper than %zu levels", max_depth);
        return NULL;
    }
    json_error_t jerr;
    json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!v) {
        snprintf(msg, msglen, "invalid JSON body: %s at line %d, column %d",
                 s_phrase(json_error_code(&jerr)), jerr.line, jerr.column);
    } else if (!json_is_object(v) && !json_is_array(v)) {
        //  valid JSON, but a bare 42, "x", true or null is no request
        snprintf(msg, msglen, "invalid JSON body: expected a JSON object, not %s",
                 json_is_string(v)   ? "a string"
                 : json_is_number(v) ? "a number"
                 : json_is_null(v)   ? "null"
                                     : "a boolean");
        json_decref(v);
        v = NULL;
    }
    return v;
}
