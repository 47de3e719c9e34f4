/*
 * gs_utf8: strict UTF-8 validation (RFC 3629, Unicode Table 3-7).
 *
 * Both functions return 1 when the len bytes at s are well-formed UTF-8
 * and 0 otherwise.  Rejected: stray continuation bytes, overlong forms
 * (C0, C1, E0 80..9F, F0 80..8F), UTF-16 surrogates U+D800..U+DFFF, code
 * points above U+10FFFF (F4 90.., F5..FF) and sequences cut short by the
 * end of the buffer.  s may be NULL only when len is 0; an empty buffer
 * is valid.  gs_utf8_valid_text() also rejects U+0000, which is valid
 * UTF-8 but would silently truncate a text field on its way to C strings
 * and PostgreSQL.  Pure functions: no allocation, no global state.
 */
#ifndef GS_UTF8_H
#define GS_UTF8_H

#include <stddef.h>

int gs_utf8_valid(const unsigned char *s, size_t len);
int gs_utf8_valid_text(const unsigned char *s, size_t len);

#endif
