/* gs_utf8: text is valid UTF-8 without NUL; every prefix that ends on a
 * character boundary of valid text is valid too */

#include "gs_utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int  valid, text;

    valid = gs_utf8_valid(data, size);
    text = gs_utf8_valid_text(data, size);

    if (text && !valid) {
        abort();
    }

    if (valid && !text && memchr(data, 0, size) == NULL) {
        abort();
    }

    if (text && size > 0 && (data[size - 1] & 0x80) == 0
        && !gs_utf8_valid_text(data, size - 1))
    {
        abort();
    }

    return 0;
}
