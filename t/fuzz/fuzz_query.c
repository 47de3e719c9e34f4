/* gs_query_check on any bytes: what it lets through decodes, part by
 * part, to UTF-8 without NUL and never longer than it came; and any bytes
 * escaped whole decode back to themselves */

#include "gs_query.h"
#include "gs_utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char  hex[] = "0123456789abcdef";
    unsigned char     *buf, *enc;
    size_t             i, start;
    long               n;

    buf = malloc(size + 1);
    enc = malloc(3 * size + 1);
    if (buf == NULL || enc == NULL) {
        abort();
    }

    if (gs_query_check(data, size) == GS_QUERY_OK) {
        for (start = 0, i = 0; i <= size; i++) {
            if (i < size && data[i] != '&' && data[i] != '=') {
                continue;
            }

            n = gs_query_decode(data + start, i - start, buf);

            if (n < 0 || (size_t) n > i - start
                || memchr(buf, '\0', (size_t) n) != NULL
                || !gs_utf8_valid(buf, (size_t) n))
            {
                abort();
            }

            start = i + 1;
        }
    }

    for (i = 0; i < size; i++) {
        enc[3 * i] = '%';
        enc[3 * i + 1] = (unsigned char) hex[data[i] >> 4];
        enc[3 * i + 2] = (unsigned char) hex[data[i] & 15];
    }

    n = gs_query_decode(enc, 3 * size, buf);
    if (n != (long) size || (size && memcmp(buf, data, size) != 0)) {
        abort();
    }

    /* escaped whole, '&' and '=' are text: judged as one part */
    if ((gs_query_check(enc, 3 * size) == GS_QUERY_OK)
        != (memchr(data, '\0', size) == NULL && gs_utf8_valid(data, size)))
    {
        abort();
    }

    free(buf);
    free(enc);

    return 0;
}
