/*
 * gs_query: a request's query string, checked whole before any of its
 * arguments is read.
 *
 * gs_query_check() splits the len bytes at s on '&' and '=' and decodes
 * each name and value as the module's argument reader does (%XX escapes;
 * '+' stays '+'), and says whether every escape has two hex digits and
 * every decoded part is valid UTF-8 (gs_utf8_valid) without a NUL byte:
 * a NUL would end the C string the module hands on, short of what was
 * sent, and PostgreSQL refuses text that is not UTF-8.  The first fault
 * in the text wins.  s may be NULL only when len is 0.
 *
 * gs_query_decode() decodes len bytes at s into out (room for len bytes
 * at least: decoding never lengthens) and returns the decoded length, or
 * -1 at a malformed escape.
 */
#ifndef GS_QUERY_H
#define GS_QUERY_H

#include <stddef.h>

typedef enum {
    GS_QUERY_OK = 0,
    GS_QUERY_BAD_ESCAPE,
    GS_QUERY_NUL,
    GS_QUERY_BAD_UTF8
} gs_query_e;

gs_query_e gs_query_check(const unsigned char *s, size_t len);

long gs_query_decode(const unsigned char *s, size_t len, unsigned char *out);

#endif
