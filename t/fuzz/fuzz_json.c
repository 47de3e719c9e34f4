/* gs_json_scan on any bytes: whatever it lets through is valid UTF-8 and
 * nested no deeper than asked */

#include "gs_json.h"
#include "gs_utf8.h"

#include <stdint.h>
#include <stdlib.h>


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned        depth;
    gs_json_scan_e  rc;

    depth = size ? data[0] % 40 : 0;
    rc = gs_json_scan(data, size, depth);

    if (rc != GS_JSON_BAD_UTF8 && !gs_utf8_valid(data, size)) {
        abort();
    }

    /* a looser limit never refuses what a stricter one let through */
    if (rc == GS_JSON_OK && gs_json_scan(data, size, depth + 1) != GS_JSON_OK)
    {
        abort();
    }

    return 0;
}
