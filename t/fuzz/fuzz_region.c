/* region codes from any bytes: a parent is one level up and contains its
 * child */

#include "gs_region.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char               code[7], parent[7];
    gs_region_level_e  level;

    level = gs_region_level((const char *) data, size);

    if (level == GS_REGION_INVALID) {
        return 0;
    }

    if (size != 6) {
        abort();
    }

    memcpy(code, data, 6);
    code[6] = '\0';

    if (gs_region_parent(code, 6, parent) == 0
        && (gs_region_level(parent, 6) != level - 1
            || !gs_region_within(parent, code)
            || gs_region_within(code, parent)))
    {
        abort();
    }

    return 0;
}
