/*
 * gs_calendar: civil dates and the Chinese government working-day calendar.
 *
 * A gs_date_t counts days since 1970-01-01 in the proleptic Gregorian
 * calendar.  Dates built from text are limited to years 1900..9999
 * (GS_DATE_MIN..GS_DATE_MAX); GS_DATE_INVALID is a sentinel outside it.
 *
 * Monday to Friday are working days, except the calendar's exceptions:
 * GS_DAY_HOLIDAY entries (public holidays) are days off and
 * GS_DAY_WORKDAY entries (weekend days made working days, 调休) are
 * worked.  gs_calendar_init() sorts the caller-owned array in place and
 * keeps a pointer to it: the array must outlive the calendar and must not
 * change afterwards.  A zero-filled gs_calendar_t is a valid calendar
 * with no exceptions.  Nothing allocates, nothing keeps global state.
 *
 * gs_calendar_add_working_days() looks at most GS_CALENDAR_MAX_SPAN days
 * past `from`, so a calendar that closes a whole year cannot make it
 * loop; beyond that span, for n < 0, or when from or the answer lies
 * outside GS_DATE_MIN..GS_DATE_MAX it returns GS_DATE_INVALID.
 * gs_calendar_working_days_between() counts working days in (a, b], or
 * minus those in (b, a] when b < a; any gs_date_t is accepted and the
 * result saturates at +-INT_MAX.
 */
#ifndef GS_CALENDAR_H
#define GS_CALENDAR_H

#include <stddef.h>
#include <stdint.h>

typedef int32_t gs_date_t;

#define GS_DATE_INVALID       INT32_MIN
#define GS_DATE_MIN           (-25567)      /* 1900-01-01 */
#define GS_DATE_MAX           2932896       /* 9999-12-31 */
#define GS_CALENDAR_MAX_SPAN  3660          /* about ten years of days */

/* 0 and *out set, or -1 (out untouched) for an impossible date. */
int gs_date_from_ymd(int y, int m, int d, gs_date_t *out);
/* Any gs_date_t, even outside GS_DATE_MIN..GS_DATE_MAX. */
void gs_date_to_ymd(gs_date_t d, int *y, int *m, int *day);
/* Exactly "YYYY-MM-DD" in len bytes (no NUL needed); 0 or -1. */
int gs_date_parse(const char *s, size_t len, gs_date_t *out);
/* "YYYY-MM-DD\0"; "0000-00-00\0" for d outside GS_DATE_MIN..MAX. */
void gs_date_format(gs_date_t d, char out[11]);
/* 1 = Monday ... 7 = Sunday, for any gs_date_t. */
int gs_date_weekday(gs_date_t d);

typedef enum {
    GS_DAY_HOLIDAY = 1,
    GS_DAY_WORKDAY = 2
} gs_day_kind_e;

typedef struct {
    gs_date_t      date;
    gs_day_kind_e  kind;
} gs_day_t;

typedef struct {
    const gs_day_t  *days;      /* sorted by date, no duplicates */
    size_t           ndays;
} gs_calendar_t;

/*
 * 0, or -1 when a date appears twice, a kind is neither HOLIDAY nor
 * WORKDAY, or days is NULL with n > 0; on -1 *cal is an empty calendar
 * (days may have been reordered).
 */
int gs_calendar_init(gs_calendar_t *cal, gs_day_t *days, size_t n);
int gs_calendar_is_workday(const gs_calendar_t *cal, gs_date_t d);
gs_date_t gs_calendar_add_working_days(const gs_calendar_t *cal,
                                       gs_date_t from, int n);
int gs_calendar_working_days_between(const gs_calendar_t *cal,
                                     gs_date_t a, gs_date_t b);

#endif
