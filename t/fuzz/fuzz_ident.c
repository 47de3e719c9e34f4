/* ID card numbers, credit codes and phones from any bytes: never a crash,
 * and what is accepted has its fixed length */

#include "gs_ident.h"

#include <stdint.h>
#include <stdlib.h>


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char  *s = (const char *) data;

    if (gs_ident_id_card(s, size) == 1 && size != 18) {
        abort();
    }

    if (gs_ident_uscc(s, size) == 1 && size != 18) {
        abort();
    }

    (void) gs_ident_phone(s, size);

    return 0;
}
