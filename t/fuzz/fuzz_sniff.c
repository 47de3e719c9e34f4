/* upload sniffing from any leading bytes: a type once known stays the
 * same as more bytes arrive, and MIME names round-trip */

#include "gs_sniff.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          n;
    const char     *mime;
    gs_file_type_t  t, whole;

    whole = gs_file_sniff(data, size);

    for (n = 0; n <= size; n++) {
        t = gs_file_sniff(data, n);

        if (t != GS_FILE_MORE && t != whole) {
            abort();
        }
    }

    mime = gs_file_type_mime(whole);
    if (mime && gs_file_type_of_mime(mime, strlen(mime)) != whole) {
        abort();
    }

    (void) gs_file_type_of_mime((const char *) data, size);

    return 0;
}
