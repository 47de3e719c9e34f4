/* dates and the calendar from any bytes: a parsed date formats back to
 * the same text, and adding working days never goes backwards */

#include "gs_calendar.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int            n;
    char           text[11];
    gs_date_t      d, later;
    gs_calendar_t  cal;

    if (gs_date_parse((const char *) data, size, &d) != 0) {
        return 0;
    }

    gs_date_format(d, text);

    if (size != 10 || memcmp(text, data, 10) != 0) {
        abort();
    }

    memset(&cal, 0, sizeof(cal));
    n = data[9] % 60;
    later = gs_calendar_add_working_days(&cal, d, n);

    if (later != GS_DATE_INVALID
        && (later < d
            || gs_calendar_working_days_between(&cal, d, later) != n))
    {
        abort();
    }

    return 0;
}
