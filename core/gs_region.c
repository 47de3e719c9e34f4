#include <string.h>

#include "gs_region.h"

#define GS_REGION_CODE_LEN  6

static int
gs_region_is_zero_pair(const char *p)
{
    return p[0] == '0' && p[1] == '0';
}

gs_region_level_e
gs_region_level(const char *code, size_t len)
{
    int province;
    size_t i;

    if (code == NULL || len != GS_REGION_CODE_LEN) {
        return GS_REGION_INVALID;
    }

    for (i = 0; i < len; i++) {
        if (code[i] < '0' || code[i] > '9') {
            return GS_REGION_INVALID;
        }
    }

    province = (code[0] - '0') * 10 + (code[1] - '0');
    if (province < 11 || province > 82) {
        return GS_REGION_INVALID;
    }

    if (gs_region_is_zero_pair(code + 2)) {
        return gs_region_is_zero_pair(code + 4) ? GS_REGION_PROVINCE
                                                : GS_REGION_INVALID;
    }

    return gs_region_is_zero_pair(code + 4) ? GS_REGION_CITY
                                            : GS_REGION_COUNTY;
}

int
gs_region_parent(const char *code, size_t len, char out[7])
{
    size_t keep;

    switch (gs_region_level(code, len)) {
    case GS_REGION_COUNTY:
        keep = 4;
        break;
    case GS_REGION_CITY:
        keep = 2;
        break;
    case GS_REGION_PROVINCE:
    case GS_REGION_INVALID:
    default:
        return -1;
    }

    memcpy(out, code, keep);
    memset(out + keep, '0', GS_REGION_CODE_LEN - keep);
    out[GS_REGION_CODE_LEN] = '\0';

    return 0;
}

/* Level of a NUL-terminated code; never reads past its terminator. */
static gs_region_level_e
gs_region_level_cstr(const char *code)
{
    size_t len = 0;

    if (code == NULL) {
        return GS_REGION_INVALID;
    }

    while (len <= GS_REGION_CODE_LEN && code[len] != '\0') {
        len++;
    }

    return gs_region_level(code, len);
}

int
gs_region_within(const char *ancestor, const char *code)
{
    gs_region_level_e outer = gs_region_level_cstr(ancestor);
    gs_region_level_e inner = gs_region_level_cstr(code);
    size_t prefix;

    if (outer == GS_REGION_INVALID || inner == GS_REGION_INVALID
        || inner < outer)
    {
        return 0;
    }

    /* The digits that name the ancestor must name the code's ancestor. */
    prefix = outer == GS_REGION_PROVINCE ? 2
           : outer == GS_REGION_CITY ? 4 : 6;

    return memcmp(ancestor, code, prefix) == 0;
}
