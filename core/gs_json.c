/*
 * Two passes over the buffer are cheaper to get right than one fused
 * decoder: UTF-8 first, then a byte-level pass over strings and brackets.
 * It may work on bytes because in valid UTF-8 the ASCII values of '"',
 * '\\', '[', '{' and the control characters never occur inside a
 * multi-byte sequence.
 */
#include "gs_json.h"
#include "gs_utf8.h"

static gs_json_scan_e
gs_json_structure(const unsigned char *s, size_t len, unsigned max)
{
    unsigned depth = 0;
    int in_string = 0, escaped = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = s[i];

        if (in_string) {
            if (c < 0x20) {
                return GS_JSON_CONTROL;
            }
            if (escaped) {
                escaped = 0;
            } else if (c == '\\') {
                escaped = 1;
            } else if (c == '"') {
                in_string = 0;
            }
            continue;
        }

        switch (c) {
        case '"':
            in_string = 1;
            break;
        case '[':
        case '{':
            if (depth == max) {
                return GS_JSON_TOO_DEEP;
            }
            depth++;
            break;
        case ']':
        case '}':
            if (depth > 0) {
                depth--;
            }
            break;
        default:
            break;
        }
    }

    return GS_JSON_OK;
}

gs_json_scan_e
gs_json_scan(const unsigned char *s, size_t len, unsigned max_depth)
{
    if (!gs_utf8_valid(s, len)) {
        return GS_JSON_BAD_UTF8;
    }

    return len > 0 ? gs_json_structure(s, len, max_depth) : GS_JSON_OK;
}
