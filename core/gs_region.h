/*
 * gs_region: GB/T 2260 six-digit administrative division codes.
 *
 * A code is exactly six ASCII digits whose first two (the province) are
 * in 11..82.  Province "xx0000", city "xxyy00" (yy != 00), county
 * "xxyyzz" (yy != 00, zz != 00).  "xx00zz" is no level and is INVALID:
 * counties directly under a province use a pseudo-city such as 4290xx.
 * Codes are checked for shape only, not against the published list.
 *
 * gs_region_level(): the level of the len bytes at code, or INVALID.
 * gs_region_parent(): writes the parent code and a NUL to out and
 *   returns 0 (county -> city, city -> province); -1 for a province or
 *   an invalid code, out then left untouched.
 * gs_region_within(): ancestor and code are NUL-terminated; 1 if code
 *   equals ancestor or lies below it, 0 otherwise or if either is not a
 *   valid 6-character code (NULL included).
 */
#ifndef GS_REGION_H
#define GS_REGION_H

#include <stddef.h>

typedef enum {
    GS_REGION_INVALID = 0,
    GS_REGION_PROVINCE,
    GS_REGION_CITY,
    GS_REGION_COUNTY
} gs_region_level_e;

gs_region_level_e gs_region_level(const char *code, size_t len);
int gs_region_parent(const char *code, size_t len, char out[7]);
int gs_region_within(const char *ancestor, const char *code);

#endif
