#include "gs_ident.h"

#include "gs_calendar.h"

#include <string.h>


static const char  gs_uscc_alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";


static int
gs_digits(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }

    return 1;
}


static int
gs_number(const char *s, size_t len)
{
    int     n;
    size_t  i;

    n = 0;

    for (i = 0; i < len; i++) {
        n = n * 10 + (s[i] - '0');
    }

    return n;
}


int
gs_ident_id_card(const char *s, size_t len)
{
    static const int   weights[17] = {
        7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2
    };
    static const char  checks[] = "10X98765432";

    int        sum, province, y, m, d;
    char       last;
    size_t     i;
    gs_date_t  birth;

    if (s == NULL || len != 18 || !gs_digits(s, 17)) {
        return 0;
    }

    province = gs_number(s, 2);
    if (province < 11 || province > 82) {
        return 0;
    }

    y = gs_number(s + 6, 4);
    m = gs_number(s + 10, 2);
    d = gs_number(s + 12, 2);

    if (y < 1900 || y > 2099 || gs_date_from_ymd(y, m, d, &birth) != 0) {
        return 0;
    }

    sum = 0;
    for (i = 0; i < 17; i++) {
        sum += (s[i] - '0') * weights[i];
    }

    last = (s[17] == 'x') ? 'X' : s[17];

    return last == checks[sum % 11];
}


int
gs_ident_uscc(const char *s, size_t len)
{
    static const int  weights[17] = {
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28
    };

    int          sum;
    size_t       i;
    const char  *p;

    if (s == NULL || len != 18 || !gs_digits(s + 2, 6)) {
        return 0;
    }

    sum = 0;

    for (i = 0; i < 18; i++) {
        if (s[i] == '\0') {
            return 0;
        }

        p = strchr(gs_uscc_alphabet, s[i]);
        if (p == NULL) {
            return 0;
        }

        if (i < 17) {
            sum += (int) (p - gs_uscc_alphabet) * weights[i];
        }
    }

    return s[17] == gs_uscc_alphabet[(31 - sum % 31) % 31];
}


/* a subscriber number: 7 or 8 digits, not starting with 0 or 1 */
static int
gs_subscriber(const char *s, size_t len)
{
    return (len == 7 || len == 8) && s[0] >= '2' && gs_digits(s, len);
}


/* an area code with the subscriber number written after it, no '-' */
static int
gs_area_and_subscriber(const char *s, size_t len)
{
    return s[0] == '0' && len >= 10 && len <= 12 && gs_digits(s, len)
           && (gs_subscriber(s + 3, len - 3) || gs_subscriber(s + 4, len - 4));
}


/* 0 and 2 or 3 digits */
static int
gs_area(const char *s, size_t len)
{
    return s[0] == '0' && (len == 3 || len == 4) && gs_digits(s, len);
}


static int
gs_extension(const char *s, size_t len)
{
    return len >= 1 && len <= 6 && gs_digits(s, len);
}


int
gs_ident_phone(const char *s, size_t len)
{
    size_t       n, plen[3];
    const char  *part[3], *dash, *end;

    if (s == NULL || len == 0) {
        return 0;
    }

    if (len == 11 && s[0] == '1' && s[1] >= '3' && s[1] <= '9') {
        return gs_digits(s, 11);
    }

    /* up to three parts between '-': [area-]subscriber[-extension] */
    end = s + len;

    for (n = 0; n < 3; n++) {
        part[n] = s;
        dash = memchr(s, '-', (size_t) (end - s));
        plen[n] = (size_t) ((dash ? dash : end) - s);

        if (plen[n] == 0) {
            return 0;
        }

        if (dash == NULL) {
            break;
        }

        s = dash + 1;
    }

    if (n == 3) {
        return 0;               /* a fourth part */
    }

    switch (n) {

    case 0:
        return gs_subscriber(part[0], plen[0])
               || gs_area_and_subscriber(part[0], plen[0]);

    case 1:
        if (part[0][0] == '0' && gs_area(part[0], plen[0])) {
            return gs_subscriber(part[1], plen[1]);
        }

        return (gs_subscriber(part[0], plen[0])
                || gs_area_and_subscriber(part[0], plen[0]))
               && gs_extension(part[1], plen[1]);

    default: /* 2 */
        return gs_area(part[0], plen[0])
               && gs_subscriber(part[1], plen[1])
               && gs_extension(part[2], plen[2]);
    }
}
