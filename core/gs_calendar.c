/*
 * Date arithmetic follows Howard Hinnant's days_from_civil and
 * civil_from_days: shift the year to start in March so the leap day is
 * last, then count 400-year eras of 146097 days.  Intermediate values are
 * int64_t so that every int32_t input stays free of overflow.
 */
#include <limits.h>
#include <stdlib.h>

#include "gs_calendar.h"

static int64_t
gs_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int
gs_is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
gs_days_in_month(int y, int m)
{
    static const unsigned char days[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    return (m == 2 && gs_is_leap(y)) ? 29 : days[m - 1];
}

static int
gs_date_in_range(int64_t d)
{
    return d >= GS_DATE_MIN && d <= GS_DATE_MAX;
}

int
gs_date_from_ymd(int y, int m, int d, gs_date_t *out)
{
    int64_t era, yoe, doy, doe;

    if (y < 1900 || y > 9999 || m < 1 || m > 12
        || d < 1 || d > gs_days_in_month(y, m))
    {
        return -1;
    }

    y -= m <= 2;
    era = y / 400;              /* y >= 1899: no floor needed */
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    *out = (gs_date_t) (era * 146097 + doe - 719468);
    return 0;
}

void
gs_date_to_ymd(gs_date_t d, int *y, int *m, int *day)
{
    int64_t z, era, doe, yoe, doy, mp;

    z = (int64_t) d + 719468;   /* days since 0000-03-01 */
    era = gs_floor_div(z, 146097);
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;

    *day = (int) (doy - (153 * mp + 2) / 5 + 1);
    *m = (int) (mp < 10 ? mp + 3 : mp - 9);
    *y = (int) (yoe + era * 400 + (*m <= 2));
}

/* Value of n ASCII digits, or -1 if any byte is not a digit. */
static int
gs_parse_digits(const char *s, int n)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }

    return v;
}

int
gs_date_parse(const char *s, size_t len, gs_date_t *out)
{
    int y, m, d;

    if (s == NULL || len != 10 || s[4] != '-' || s[7] != '-') {
        return -1;
    }

    y = gs_parse_digits(s, 4);
    m = gs_parse_digits(s + 5, 2);
    d = gs_parse_digits(s + 8, 2);

    if (y < 0 || m < 0 || d < 0) {
        return -1;
    }

    return gs_date_from_ymd(y, m, d, out);
}

static void
gs_format_digits(char *p, int v, int n)
{
    while (n-- > 0) {
        p[n] = (char) ('0' + v % 10);
        v /= 10;
    }
}

void
gs_date_format(gs_date_t d, char out[11])
{
    int y = 0, m = 0, day = 0;

    /* Out of range years would not fit four digits. */
    if (gs_date_in_range(d)) {
        gs_date_to_ymd(d, &y, &m, &day);
    }

    gs_format_digits(out, y, 4);
    out[4] = '-';
    gs_format_digits(out + 5, m, 2);
    out[7] = '-';
    gs_format_digits(out + 8, day, 2);
    out[10] = '\0';
}

int
gs_date_weekday(gs_date_t d)
{
    /* 1970-01-01 was a Thursday: day 0 maps to 4. */
    return (int) ((int64_t) d + 3 - gs_floor_div((int64_t) d + 3, 7) * 7)
           + 1;
}

static int
gs_day_compare(const void *a, const void *b)
{
    gs_date_t x = ((const gs_day_t *) a)->date;
    gs_date_t y = ((const gs_day_t *) b)->date;

    return (x > y) - (x < y);
}

int
gs_calendar_init(gs_calendar_t *cal, gs_day_t *days, size_t n)
{
    size_t i;

    cal->days = NULL;
    cal->ndays = 0;

    if (n == 0) {
        return 0;
    }

    if (days == NULL) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (days[i].kind != GS_DAY_HOLIDAY && days[i].kind != GS_DAY_WORKDAY) {
            return -1;
        }
    }

    qsort(days, n, sizeof(gs_day_t), gs_day_compare);

    for (i = 1; i < n; i++) {
        if (days[i].date == days[i - 1].date) {
            return -1;
        }
    }

    cal->days = days;
    cal->ndays = n;
    return 0;
}

/* Index of the first exception dated d or later (ndays if none). */
static size_t
gs_calendar_lower_bound(const gs_calendar_t *cal, int64_t d)
{
    size_t lo = 0, hi = cal->ndays, mid;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (cal->days[mid].date < d) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }

    return lo;
}

static int
gs_is_weekday(gs_date_t d)
{
    return gs_date_weekday(d) <= 5;
}

int
gs_calendar_is_workday(const gs_calendar_t *cal, gs_date_t d)
{
    size_t i = gs_calendar_lower_bound(cal, d);

    if (i < cal->ndays && cal->days[i].date == d) {
        return cal->days[i].kind == GS_DAY_WORKDAY;
    }

    return gs_is_weekday(d);
}

gs_date_t
gs_calendar_add_working_days(const gs_calendar_t *cal, gs_date_t from, int n)
{
    gs_date_t d, last;
    size_t next;
    int work;

    if (n < 0 || !gs_date_in_range(from)) {
        return GS_DATE_INVALID;
    }

    if (n == 0) {
        return from;
    }

    last = from + GS_CALENDAR_MAX_SPAN;     /* no overflow: from <= MAX */
    if (last > GS_DATE_MAX) {
        last = GS_DATE_MAX;
    }

    /* Walk days and exceptions together instead of searching per day. */
    next = gs_calendar_lower_bound(cal, (int64_t) from + 1);

    for (d = from + 1; d <= last; d++) {
        if (next < cal->ndays && cal->days[next].date == d) {
            work = cal->days[next].kind == GS_DAY_WORKDAY;
            next++;
        } else {
            work = gs_is_weekday(d);
        }

        if (work && --n == 0) {
            return d;
        }
    }

    return GS_DATE_INVALID;
}

/*
 * Monday-to-Friday days from an arbitrary Monday origin up to, but not
 * including, day d.  Only differences of this function mean anything.
 */
static int64_t
gs_weekdays_before(int64_t d)
{
    int64_t t = d + 3;          /* days since Monday 1969-12-29 */
    int64_t weeks = gs_floor_div(t, 7);
    int64_t rest = t - weeks * 7;

    return weeks * 5 + (rest < 5 ? rest : 5);
}

/* Working days in (lo, hi], lo <= hi. */
static int64_t
gs_calendar_count(const gs_calendar_t *cal, gs_date_t lo, gs_date_t hi)
{
    int64_t n;
    size_t i;

    n = gs_weekdays_before((int64_t) hi + 1)
        - gs_weekdays_before((int64_t) lo + 1);

    /* Only exceptions that flip the weekday rule change the count. */
    for (i = gs_calendar_lower_bound(cal, (int64_t) lo + 1);
         i < cal->ndays && cal->days[i].date <= hi;
         i++)
    {
        int weekday = gs_is_weekday(cal->days[i].date);

        if (cal->days[i].kind == GS_DAY_HOLIDAY && weekday) {
            n--;
        } else if (cal->days[i].kind == GS_DAY_WORKDAY && !weekday) {
            n++;
        }
    }

    return n;
}

int
gs_calendar_working_days_between(const gs_calendar_t *cal,
                                 gs_date_t a, gs_date_t b)
{
    int64_t n;

    n = (b >= a) ? gs_calendar_count(cal, a, b)
                 : -gs_calendar_count(cal, b, a);

    if (n > INT_MAX) {
        return INT_MAX;
    }

    return n < -INT_MAX ? -INT_MAX : (int) n;
}
