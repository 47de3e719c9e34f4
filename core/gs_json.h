/*
 * gs_json: a cheap pre-scan of a request body, run before cJSON parses it.
 *
 * gs_json_scan() checks that the len bytes at s are valid UTF-8 (as
 * gs_utf8_valid()), that no string literal holds a raw control character
 * (U+0000 to U+001F, which JSON wants escaped: cJSON would take them, and
 * a NUL would cut the string the module sees short of the one a JSON
 * reader elsewhere sees), and that the nesting of '[' and '{' outside
 * string literals never exceeds max_depth (max_depth 0 allows no
 * container at all).  Backslash escapes inside
 * strings are honoured, so "\"[" does not open anything.  It is not a
 * JSON validator: unbalanced or stray brackets, bad escapes and
 * unterminated strings are left for cJSON to reject.  A stray closing
 * bracket at depth 0 is ignored.  When several checks fail,
 * GS_JSON_BAD_UTF8 wins, then the first of the other two in the text.  s may be NULL only when len is 0.  The point is to bound cJSON's
 * recursion and to guarantee it only ever sees valid UTF-8.
 */
#ifndef GS_JSON_H
#define GS_JSON_H

#include <stddef.h>

typedef enum {
    GS_JSON_OK = 0,
    GS_JSON_BAD_UTF8,
    GS_JSON_TOO_DEEP,
    GS_JSON_CONTROL
} gs_json_scan_e;

gs_json_scan_e gs_json_scan(const unsigned char *s, size_t len,
                            unsigned max_depth);

#endif
