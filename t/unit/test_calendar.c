/*
 * gs_calendar: dates checked exhaustively over 1900..9999 against a naive
 * day counter, the working-day functions against brute force and against
 * a 2026-style holiday table (Spring Festival, National Day, 调休).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gs_calendar.h"
#include "tap.h"

static gs_date_t
D(const char *s)
{
    gs_date_t d = GS_DATE_INVALID;

    if (gs_date_parse(s, strlen(s), &d) != 0) {
        printf("# bad test date %s\n", s);
    }
    return d;
}

static const char *
S(gs_date_t d)
{
    static char buf[4][11];
    static int next;

    next = (next + 1) % 4;
    gs_date_format(d, buf[next]);
    return buf[next];
}

static int
naive_days_in_month(int y, int m)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

/* Walk every day of 1900..9999 with a y/m/d odometer and compare. */
static void
test_every_date(void)
{
    int y = 1900, m = 1, day = 1, wd = 1;     /* 1900-01-01 was a Monday */
    int gy, gm, gday;
    long bad_to = 0, bad_from = 0, bad_wd = 0, bad_text = 0;
    gs_date_t d, back;
    char want[40], got[11];

    for (d = GS_DATE_MIN; d <= GS_DATE_MAX; d++) {
        gs_date_to_ymd(d, &gy, &gm, &gday);
        bad_to += gy != y || gm != m || gday != day;
        bad_from += gs_date_from_ymd(y, m, day, &back) != 0 || back != d;
        bad_wd += gs_date_weekday(d) != wd;

        snprintf(want, sizeof(want), "%04d-%02d-%02d", y, m, day);
        gs_date_format(d, got);
        bad_text += strcmp(got, want) != 0
                    || gs_date_parse(want, 10, &back) != 0 || back != d;

        wd = wd % 7 + 1;
        if (++day > naive_days_in_month(y, m)) {
            day = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
    }

    is_int(y, 10000, "odometer ended at 10000-01-01");
    is_int(bad_to, 0, "gs_date_to_ymd agrees on every day 1900..9999");
    is_int(bad_from, 0, "gs_date_from_ymd agrees on every day 1900..9999");
    is_int(bad_wd, 0, "gs_date_weekday agrees on every day 1900..9999");
    is_int(bad_text, 0, "format and parse agree on every day 1900..9999");
}

static void
test_from_ymd(void)
{
    gs_date_t d = 12345;

    is_int(gs_date_from_ymd(1970, 1, 1, &d), 0, "epoch");
    is_int(d, 0, "epoch is day 0");
    is_int(gs_date_from_ymd(1969, 12, 31, &d), 0, "day before epoch");
    is_int(d, -1, "1969-12-31 is day -1");
    is_int(gs_date_from_ymd(1900, 1, 1, &d), 0, "first accepted day");
    is_int(d, GS_DATE_MIN, "1900-01-01 is GS_DATE_MIN");
    is_int(gs_date_from_ymd(9999, 12, 31, &d), 0, "last accepted day");
    is_int(d, GS_DATE_MAX, "9999-12-31 is GS_DATE_MAX");
    is_int(gs_date_from_ymd(2026, 11, 28, &d), 0, "2026-11-28");
    is_int(d, 20785, "2026-11-28 is day 20785");
    is_int(gs_date_from_ymd(2000, 2, 29, &d), 0, "2000 is a leap year");
    is_int(gs_date_from_ymd(2024, 2, 29, &d), 0, "2024 is a leap year");

    d = 12345;
    is_int(gs_date_from_ymd(2026, 2, 29, &d), -1, "2026-02-29 invalid");
    is_int(gs_date_from_ymd(1900, 2, 29, &d), -1, "1900 is not leap");
    is_int(gs_date_from_ymd(2100, 2, 29, &d), -1, "2100 is not leap");
    is_int(gs_date_from_ymd(2024, 2, 30, &d), -1, "Feb 30 invalid");
    is_int(gs_date_from_ymd(2026, 4, 31, &d), -1, "April 31 invalid");
    is_int(gs_date_from_ymd(2026, 13, 1, &d), -1, "month 13 invalid");
    is_int(gs_date_from_ymd(2026, 0, 1, &d), -1, "month 0 invalid");
    is_int(gs_date_from_ymd(2026, -1, 1, &d), -1, "month -1 invalid");
    is_int(gs_date_from_ymd(2026, 1, 0, &d), -1, "day 0 invalid");
    is_int(gs_date_from_ymd(2026, 1, 32, &d), -1, "day 32 invalid");
    is_int(gs_date_from_ymd(2026, 1, INT_MIN, &d), -1, "day INT_MIN");
    is_int(gs_date_from_ymd(1899, 12, 31, &d), -1, "year 1899 invalid");
    is_int(gs_date_from_ymd(10000, 1, 1, &d), -1, "year 10000 invalid");
    is_int(gs_date_from_ymd(INT_MAX, 1, 1, &d), -1, "year INT_MAX");
    is_int(gs_date_from_ymd(INT_MIN, 1, 1, &d), -1, "year INT_MIN");
    is_int(d, 12345, "out untouched on error");
}

static void
test_to_ymd_extremes(void)
{
    int y, m, day;

    /* Expected values by 400-year cycles (146097 days) from 1970. */
    gs_date_to_ymd(INT32_MAX, &y, &m, &day);
    ok(y == 5881580 && m == 7 && day == 11, "INT32_MAX is 5881580-07-11 "
       "(got %d-%02d-%02d)", y, m, day);
    gs_date_to_ymd(INT32_MIN, &y, &m, &day);
    ok(y == -5877641 && m == 6 && day == 23, "INT32_MIN is -5877641-06-23 "
       "(got %d-%02d-%02d)", y, m, day);
    gs_date_to_ymd(GS_DATE_MIN - 1, &y, &m, &day);
    ok(y == 1899 && m == 12 && day == 31, "day before GS_DATE_MIN");
    gs_date_to_ymd(-719528, &y, &m, &day);
    ok(y == 0 && m == 1 && day == 1, "0000-01-01 (proleptic)");
    gs_date_to_ymd(-719529, &y, &m, &day);
    ok(y == -1 && m == 12 && day == 31, "-0001-12-31 (proleptic)");
}

static void
test_parse(void)
{
    gs_date_t d = 777;

    is_int(gs_date_parse("2026-10-01", 10, &d), 0, "plain date");
    is_str(S(d), "2026-10-01", "round trip");
    is_int(gs_date_parse("2026-10-01T08:00", 10, &d), 0,
           "len bounds the read");
    is_str(S(d), "2026-10-01", "prefix parsed");

    d = 777;
    is_int(gs_date_parse(NULL, 10, &d), -1, "NULL");
    is_int(gs_date_parse("2026-10-01", 9, &d), -1, "len 9");
    is_int(gs_date_parse("2026-10-011", 11, &d), -1, "len 11");
    is_int(gs_date_parse("", 0, &d), -1, "empty");
    is_int(gs_date_parse("2026-1-01 ", 10, &d), -1, "one-digit month");
    is_int(gs_date_parse("2026/10/01", 10, &d), -1, "slashes");
    is_int(gs_date_parse("2026-10_01", 10, &d), -1, "second separator");
    is_int(gs_date_parse("20261001xx", 10, &d), -1, "no separators");
    is_int(gs_date_parse("+026-10-01", 10, &d), -1, "sign in year");
    is_int(gs_date_parse("2026-+1-01", 10, &d), -1, "sign in month");
    is_int(gs_date_parse("2026-10- 1", 10, &d), -1, "space in day");
    is_int(gs_date_parse("2026-10-0a", 10, &d), -1, "letter in day");
    is_int(gs_date_parse("2O26-10-01", 10, &d), -1, "letter O in year");
    is_int(gs_date_parse("2026-13-01", 10, &d), -1, "month 13");
    is_int(gs_date_parse("2026-00-01", 10, &d), -1, "month 00");
    is_int(gs_date_parse("2026-02-29", 10, &d), -1, "2026-02-29");
    is_int(gs_date_parse("2026-10-00", 10, &d), -1, "day 00");
    is_int(gs_date_parse("0000-01-01", 10, &d), -1, "year 0000");
    is_int(gs_date_parse("1899-12-31", 10, &d), -1, "year 1899");
    is_int(gs_date_parse("2026-10\0" "01", 10, &d), -1, "embedded NUL");
    is_int(d, 777, "out untouched on error");
}

static void
test_format(void)
{
    char out[11];

    is_str(S(0), "1970-01-01", "epoch");
    is_str(S(GS_DATE_MIN), "1900-01-01", "GS_DATE_MIN");
    is_str(S(GS_DATE_MAX), "9999-12-31", "GS_DATE_MAX");
    is_str(S(GS_DATE_MIN - 1), "0000-00-00", "before GS_DATE_MIN");
    is_str(S(GS_DATE_MAX + 1), "0000-00-00", "after GS_DATE_MAX");
    is_str(S(GS_DATE_INVALID), "0000-00-00", "GS_DATE_INVALID");
    is_str(S(INT32_MAX), "0000-00-00", "INT32_MAX");

    memset(out, 'x', sizeof(out));
    gs_date_format(D("2026-02-28"), out);
    ok(memcmp(out, "2026-02-28", 11) == 0, "writes exactly 10 chars + NUL");
}

static void
test_weekday(void)
{
    is_int(gs_date_weekday(D("2026-11-28")), 6, "2026-11-28 is Saturday");
    is_int(gs_date_weekday(D("2026-11-29")), 7, "2026-11-29 is Sunday");
    is_int(gs_date_weekday(D("2026-11-30")), 1, "2026-11-30 is Monday");
    is_int(gs_date_weekday(D("2026-10-01")), 4, "2026-10-01 is Thursday");
    is_int(gs_date_weekday(D("2026-10-07")), 3, "2026-10-07 is Wednesday");
    is_int(gs_date_weekday(D("2026-09-20")), 7, "2026-09-20 is Sunday");
    is_int(gs_date_weekday(D("2026-10-10")), 6, "2026-10-10 is Saturday");
    is_int(gs_date_weekday(D("2026-02-14")), 6, "2026-02-14 is Saturday");
    is_int(gs_date_weekday(0), 4, "1970-01-01 is Thursday");
    is_int(gs_date_weekday(-1), 3, "1969-12-31 is Wednesday");
    is_int(gs_date_weekday(-3), 1, "1969-12-29 is Monday");
    is_int(gs_date_weekday(-4), 7, "1969-12-28 is Sunday");
    is_int(gs_date_weekday(INT32_MAX), 5, "INT32_MAX is a Friday");
    is_int(gs_date_weekday(INT32_MIN), 2, "INT32_MIN is a Tuesday");
}

/* The 2026 arrangement: Spring Festival and National Day with 调休. */
static gs_day_t *
make_2026(size_t *n)
{
    static const char *holidays[] = {
        "2026-02-15", "2026-02-16", "2026-02-17", "2026-02-18",
        "2026-02-19", "2026-02-20", "2026-02-21", "2026-02-22",
        "2026-02-23",
        "2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04",
        "2026-10-05", "2026-10-06", "2026-10-07",
    };
    static const char *workdays[] = {
        "2026-10-10", "2026-02-28", "2026-09-20", "2026-02-14",
    };
    static gs_day_t days[20];
    size_t i, k = 0;

    /* Interleaved and out of order: init must sort. */
    for (i = 0; i < 16; i++) {
        days[k].date = D(holidays[15 - i]);
        days[k++].kind = GS_DAY_HOLIDAY;
        if (i % 4 == 0) {
            days[k].date = D(workdays[i / 4]);
            days[k++].kind = GS_DAY_WORKDAY;
        }
    }
    *n = k;
    return days;
}

static void
test_init(void)
{
    gs_calendar_t cal;
    gs_day_t days[4], *y2026;
    size_t n, i;
    int sorted = 1;

    is_int(gs_calendar_init(&cal, NULL, 0), 0, "NULL, 0 is an empty calendar");
    ok(cal.days == NULL && cal.ndays == 0, "empty calendar fields");
    is_int(gs_calendar_init(&cal, days, 0), 0, "n 0 with an array");
    is_int(cal.ndays, 0, "n 0 gives no exceptions");

    y2026 = make_2026(&n);
    is_int(n, 20, "2026 table has 20 entries");
    is_int(gs_calendar_init(&cal, y2026, n), 0, "2026 table accepted");
    is_int(cal.ndays, 20, "all 20 kept");
    for (i = 1; i < cal.ndays; i++) {
        sorted &= cal.days[i - 1].date < cal.days[i].date;
    }
    ok(sorted, "sorted in place by date");
    ok(cal.days == y2026, "calendar points at the caller's array");
    is_str(S(cal.days[0].date), "2026-02-14", "first is 2026-02-14");
    is_int(cal.days[0].kind, GS_DAY_WORKDAY, "kind travels with its date");

    days[0].date = 5; days[0].kind = GS_DAY_HOLIDAY;
    days[1].date = 3; days[1].kind = GS_DAY_WORKDAY;
    days[2].date = 5; days[2].kind = GS_DAY_WORKDAY;
    is_int(gs_calendar_init(&cal, days, 3), -1, "duplicate date rejected");
    ok(cal.days == NULL && cal.ndays == 0, "empty after duplicate");
    days[2].date = 3; days[2].kind = GS_DAY_HOLIDAY;
    is_int(gs_calendar_init(&cal, days, 3), -1,
           "duplicate after sorting (not adjacent in input) rejected");

    days[0].date = 1; days[0].kind = GS_DAY_HOLIDAY;
    days[1].date = 2; days[1].kind = (gs_day_kind_e) 0;
    is_int(gs_calendar_init(&cal, days, 2), -1, "kind 0 rejected");
    ok(cal.days == NULL && cal.ndays == 0, "empty after bad kind");
    days[1].kind = (gs_day_kind_e) 3;
    is_int(gs_calendar_init(&cal, days, 2), -1, "kind 3 rejected");
    days[1].kind = GS_DAY_WORKDAY;
    is_int(gs_calendar_init(&cal, days, 2), 0, "fixed kinds accepted");

    is_int(gs_calendar_init(&cal, NULL, 1), -1, "NULL days with n 1");

    days[0].date = INT32_MIN; days[0].kind = GS_DAY_HOLIDAY;
    days[1].date = INT32_MAX; days[1].kind = GS_DAY_HOLIDAY;
    days[2].date = 0;         days[2].kind = GS_DAY_HOLIDAY;
    is_int(gs_calendar_init(&cal, days, 3), 0, "extreme dates accepted");
    ok(cal.days[0].date == INT32_MIN && cal.days[2].date == INT32_MAX,
       "comparator does not overflow");
}

static void
test_is_workday(void)
{
    gs_calendar_t cal, none = { NULL, 0 };
    size_t n;
    gs_day_t *y2026 = make_2026(&n);

    is_int(gs_calendar_init(&cal, y2026, n), 0, "2026 table accepted");

    ok(gs_calendar_is_workday(&none, D("2026-11-27")), "Friday works");
    ok(!gs_calendar_is_workday(&none, D("2026-11-28")), "Saturday off");
    ok(!gs_calendar_is_workday(&none, D("2026-11-29")), "Sunday off");
    ok(gs_calendar_is_workday(&none, D("2026-10-01")),
       "no exceptions: 2026-10-01 is a plain Thursday");

    ok(!gs_calendar_is_workday(&cal, D("2026-10-01")), "National Day off");
    ok(!gs_calendar_is_workday(&cal, D("2026-10-07")), "2026-10-07 off");
    ok(gs_calendar_is_workday(&cal, D("2026-10-08")), "2026-10-08 works");
    ok(gs_calendar_is_workday(&cal, D("2026-10-10")), "Saturday 调休 works");
    ok(!gs_calendar_is_workday(&cal, D("2026-10-11")), "Sunday after off");
    ok(gs_calendar_is_workday(&cal, D("2026-09-20")), "Sunday 调休 works");
    ok(!gs_calendar_is_workday(&cal, D("2026-09-19")), "Saturday before off");
    ok(gs_calendar_is_workday(&cal, D("2026-02-14")), "first entry found");
    ok(!gs_calendar_is_workday(&cal, D("2026-10-04")),
       "holiday on a Sunday stays off");
    ok(gs_calendar_is_workday(&cal, D("2026-02-13")), "before first entry");
    ok(gs_calendar_is_workday(&cal, D("2026-10-12")), "after last entry");
}

static void
test_add_2026(void)
{
    gs_calendar_t cal;
    size_t n;
    gs_day_t *y2026 = make_2026(&n);

    is_int(gs_calendar_init(&cal, y2026, n), 0, "2026 table accepted");

#define ADD(from, k, want) \
    is_str(S(gs_calendar_add_working_days(&cal, D(from), k)), want, \
           "%s + %d working days = %s", from, k, want)

    ADD("2026-09-30", 0, "2026-09-30");
    ADD("2026-10-03", 0, "2026-10-03");     /* even from a holiday */
    ADD("2026-09-30", 1, "2026-10-08");
    ADD("2026-09-30", 2, "2026-10-09");
    ADD("2026-09-30", 3, "2026-10-10");
    ADD("2026-09-30", 4, "2026-10-12");
    ADD("2026-09-18", 1, "2026-09-20");
    ADD("2026-09-25", 7, "2026-10-12");
    ADD("2026-09-25", 15, "2026-10-22");
    ADD("2026-10-03", 1, "2026-10-08");
    ADD("2026-02-13", 1, "2026-02-14");
    ADD("2026-02-13", 2, "2026-02-24");
    ADD("2026-02-13", 7, "2026-03-02");
    ADD("2026-02-12", 20, "2026-03-18");
    ADD("2026-01-01", 250, "2026-12-28");
    ADD("2026-12-31", 1, "2027-01-01");
    ADD("2027-12-30", 2, "2028-01-03");
#undef ADD
}

static gs_date_t
brute_add(const gs_calendar_t *cal, gs_date_t from, int n)
{
    gs_date_t d = from;

    while (n > 0) {
        d++;
        n -= gs_calendar_is_workday(cal, d);
    }
    return d;
}

static int
brute_between(const gs_calendar_t *cal, gs_date_t a, gs_date_t b)
{
    int sign = 1, n = 0;
    gs_date_t t, d;

    if (b < a) {
        t = a; a = b; b = t;
        sign = -1;
    }
    for (d = a + 1; d <= b; d++) {
        n += gs_calendar_is_workday(cal, d);
    }
    return sign * n;
}

/* A dense random calendar around 2025..2027, including no-op entries. */
static void
test_against_brute_force(void)
{
    static gs_day_t days[400];
    gs_calendar_t cal;
    gs_date_t base = D("2025-01-01"), a, b;
    size_t n = 0;
    int i, k, bad_add = 0, bad_between = 0, bad_sum = 0;

    srand(2260);
    for (i = 0; i < 1100 && n < 400; i++) {
        if (rand() % 3 == 0) {
            days[n].date = base + i;
            days[n++].kind = rand() % 2 ? GS_DAY_HOLIDAY : GS_DAY_WORKDAY;
        }
    }
    is_int(gs_calendar_init(&cal, days, n), 0, "random calendar of %zu", n);

    for (i = 0; i < 3000; i++) {
        a = base - 30 + rand() % 1200;
        b = base - 30 + rand() % 1200;
        k = rand() % 300;
        bad_add += gs_calendar_add_working_days(&cal, a, k)
                   != brute_add(&cal, a, k);
        bad_between += gs_calendar_working_days_between(&cal, a, b)
                       != brute_between(&cal, a, b);
        /* Counting the days just added gives back k. */
        bad_sum += gs_calendar_working_days_between(&cal, a,
                       gs_calendar_add_working_days(&cal, a, k)) != k;
    }
    is_int(bad_add, 0, "add_working_days matches brute force");
    is_int(bad_between, 0, "working_days_between matches brute force");
    is_int(bad_sum, 0, "between(a, add(a, k)) == k");

    a = D("2026-03-10");
    is_int(gs_calendar_add_working_days(&cal, a, 1000),
           brute_add(&cal, a, 1000), "n = 1000 matches brute force");
}

static void
test_add_limits(void)
{
    gs_calendar_t cal, none = { NULL, 0 };
    gs_day_t *days;
    gs_date_t from = D("2026-01-01"), d;
    size_t n = GS_CALENDAR_MAX_SPAN + 1, i;

    is_int(gs_calendar_add_working_days(&none, from, -1), GS_DATE_INVALID,
           "n < 0 is GS_DATE_INVALID");
    is_int(gs_calendar_add_working_days(&none, from, INT_MIN),
           GS_DATE_INVALID, "n INT_MIN is GS_DATE_INVALID");
    is_int(gs_calendar_add_working_days(&none, from, INT_MAX),
           GS_DATE_INVALID, "n INT_MAX stops at the span");
    is_int(gs_calendar_add_working_days(&none, GS_DATE_INVALID, 1),
           GS_DATE_INVALID, "from GS_DATE_INVALID");
    is_int(gs_calendar_add_working_days(&none, GS_DATE_INVALID, 0),
           GS_DATE_INVALID, "from GS_DATE_INVALID, n 0");
    is_int(gs_calendar_add_working_days(&none, GS_DATE_MIN - 1, 1),
           GS_DATE_INVALID, "from before GS_DATE_MIN");
    is_int(gs_calendar_add_working_days(&none, GS_DATE_MAX + 1, 0),
           GS_DATE_INVALID, "from after GS_DATE_MAX");
    is_int(gs_calendar_add_working_days(&none, INT32_MAX, 5),
           GS_DATE_INVALID, "from INT32_MAX");
    is_int(gs_calendar_add_working_days(&none, GS_DATE_MAX, 0), GS_DATE_MAX,
           "from GS_DATE_MAX, n 0");
    is_int(gs_calendar_add_working_days(&none, GS_DATE_MAX, 1),
           GS_DATE_INVALID, "nothing after GS_DATE_MAX");
    is_str(S(gs_calendar_add_working_days(&none, D("9999-12-30"), 1)),
           "9999-12-31", "9999-12-30 (Thu) + 1 = 9999-12-31 (Fri)");
    is_str(S(gs_calendar_add_working_days(&none, GS_DATE_MIN, 1)),
           "1900-01-02", "from GS_DATE_MIN");
    is_int(gs_calendar_add_working_days(&none, from, 2610),
           brute_add(&none, from, 2610), "2610 plain working days fit");
    is_int(gs_calendar_add_working_days(&none, from, 2700),
           GS_DATE_INVALID, "2700 working days exceed the span");

    days = malloc(n * sizeof(*days));
    if (!ok(days != NULL, "allocate a ten-year holiday")) {
        return;
    }

    /* Every day off up to the last day of the span, which is worked. */
    for (i = 0; i < n - 1; i++) {
        days[i].date = from + 1 + (gs_date_t) i;
        days[i].kind = i == n - 2 ? GS_DAY_WORKDAY : GS_DAY_HOLIDAY;
    }
    is_int(gs_calendar_init(&cal, days, n - 1), 0, "ten years off");
    is_str(S(cal.days[n - 2].date), S(from + GS_CALENDAR_MAX_SPAN),
           "and the last day of the span worked");
    is_int(gs_calendar_add_working_days(&cal, from, 1),
           from + GS_CALENDAR_MAX_SPAN, "last day of the span is reached");
    is_int(gs_calendar_add_working_days(&cal, from, 2), GS_DATE_INVALID,
           "one more is beyond the span");

    /* The same, but the only working day is just past the span. */
    for (i = 0; i < n; i++) {
        days[i].date = from + 1 + (gs_date_t) i;
        days[i].kind = i == n - 1 ? GS_DAY_WORKDAY : GS_DAY_HOLIDAY;
    }
    is_int(gs_calendar_init(&cal, days, n), 0, "ten years and a day off");
    d = gs_calendar_add_working_days(&cal, from, 1);
    is_int(d, GS_DATE_INVALID, "a working day past the span is not found");
    is_int(gs_calendar_working_days_between(&cal, from, from + 3661), 1,
           "but it is counted by working_days_between");

    /* A whole year of holidays is skipped, not looped on. */
    for (i = 0; i < 365; i++) {
        days[i].date = D("2027-01-01") + (gs_date_t) i;
        days[i].kind = GS_DAY_HOLIDAY;
    }
    is_int(gs_calendar_init(&cal, days, 365), 0, "2027 all holidays");
    is_str(S(gs_calendar_add_working_days(&cal, D("2026-12-31"), 1)),
           "2028-01-03", "a closed 2027 is skipped to Monday 2028-01-03");
    is_int(gs_calendar_working_days_between(&cal, D("2026-12-31"),
                                            D("2027-12-31")), 0,
           "no working day in a closed 2027");
    free(days);
}

static void
test_between(void)
{
    gs_calendar_t cal, none = { NULL, 0 };
    size_t n;
    gs_day_t *y2026 = make_2026(&n);

    is_int(gs_calendar_init(&cal, y2026, n), 0, "2026 table accepted");

#define BETWEEN(c, a, b, want) \
    is_int(gs_calendar_working_days_between(c, D(a), D(b)), want, \
           "working days in (%s, %s] = %d", a, b, want)

    BETWEEN(&cal, "2026-10-12", "2026-10-12", 0);
    BETWEEN(&cal, "2026-09-30", "2026-10-12", 4);
    BETWEEN(&cal, "2026-10-12", "2026-09-30", -4);
    BETWEEN(&cal, "2026-09-30", "2026-10-07", 0);
    BETWEEN(&cal, "2026-09-30", "2026-10-08", 1);
    BETWEEN(&cal, "2026-10-08", "2026-09-30", -1);
    BETWEEN(&cal, "2026-09-19", "2026-09-20", 1);
    BETWEEN(&cal, "2026-02-13", "2026-03-02", 7);
    BETWEEN(&cal, "2026-01-01", "2026-12-31", 253);
    BETWEEN(&cal, "2025-12-31", "2026-12-31", 254);
    BETWEEN(&none, "2025-12-31", "2026-12-31", 261);
    BETWEEN(&none, "2026-11-27", "2026-11-30", 1);   /* Fri -> Mon */
    BETWEEN(&none, "2026-11-28", "2026-11-29", 0);   /* Sat -> Sun */
    BETWEEN(&none, "1969-12-25", "1970-01-05", 7);   /* across day 0 */
    BETWEEN(&none, "1900-01-01", "9999-12-31", 2113189);
#undef BETWEEN

    /* "Days overdue": due yesterday, counted from today is -1. */
    is_int(gs_calendar_working_days_between(&cal, D("2026-10-09"),
                                            D("2026-10-08")), -1,
           "overdue by one working day");

    is_int(gs_calendar_working_days_between(&none, INT32_MIN, INT32_MAX),
           INT_MAX, "whole int32 range saturates at INT_MAX");
    is_int(gs_calendar_working_days_between(&none, INT32_MAX, INT32_MIN),
           -INT_MAX, "and at -INT_MAX the other way");
    is_int(gs_calendar_working_days_between(&none, INT32_MAX - 7, INT32_MAX),
           5, "a week at the top of the range");
    is_int(gs_calendar_working_days_between(&none, INT32_MIN, INT32_MIN + 7),
           5, "a week at the bottom of the range");
}

int
main(void)
{
    test_every_date();
    test_from_ymd();
    test_to_ymd_extremes();
    test_parse();
    test_format();
    test_weekday();
    test_init();
    test_is_workday();
    test_add_2026();
    test_against_brute_force();
    test_add_limits();
    test_between();
    return done_testing();
}
