/* A request body as the module decodes it: gs_json_scan with the module's
 * depth limit, then cJSON.  What is decoded prints, reparses and prints
 * the same again (a body the module re-sends, such as a sync batch's
 * acknowledgement, means what it meant). */

#include "gs_json.h"

#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* NGX_GOVSVC_JSON_DEPTH of ngx_govsvc.h */
#define FUZZ_JSON_DEPTH  32


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char   *once, *twice;
    cJSON  *json, *again;

    if (gs_json_scan(data, size, FUZZ_JSON_DEPTH) != GS_JSON_OK) {
        return 0;
    }

    json = cJSON_ParseWithLength((const char *) data, size);
    if (json == NULL) {
        return 0;
    }

    once = cJSON_PrintUnformatted(json);
    again = once ? cJSON_Parse(once) : NULL;
    twice = again ? cJSON_PrintUnformatted(again) : NULL;

    if (once == NULL || again == NULL || twice == NULL
        || strcmp(once, twice) != 0)
    {
        abort();
    }

    cJSON_free(once);
    cJSON_free(twice);
    cJSON_Delete(again);
    cJSON_Delete(json);

    return 0;
}
