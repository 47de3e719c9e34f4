/*
 * gs_deadline: levels at their boundaries, a holiday week, a frozen clock,
 * step limits, moving the due date when a special procedure ends, and
 * every rejected input.  The calendar is the 2026 table of test_calendar.c
 * (Spring Festival, National Day, 调休) plus New Year's Day 2027.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "gs_deadline.h"
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

static gs_calendar_t
calendar_2026(void)
{
    static const char *holidays[] = {
        "2026-02-15", "2026-02-16", "2026-02-17", "2026-02-18",
        "2026-02-19", "2026-02-20", "2026-02-21", "2026-02-22",
        "2026-02-23",
        "2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04",
        "2026-10-05", "2026-10-06", "2026-10-07",
        "2027-01-01",
    };
    static const char *workdays[] = {
        "2026-02-14", "2026-02-28", "2026-09-20", "2026-10-10",
    };
    static gs_day_t days[21];
    gs_calendar_t cal;
    size_t i, n = 0;

    for (i = 0; i < sizeof(holidays) / sizeof(holidays[0]); i++) {
        days[n].date = D(holidays[i]);
        days[n++].kind = GS_DAY_HOLIDAY;
    }
    for (i = 0; i < sizeof(workdays) / sizeof(workdays[0]); i++) {
        days[n].date = D(workdays[i]);
        days[n++].kind = GS_DAY_WORKDAY;
    }
    if (gs_calendar_init(&cal, days, n) != 0) {
        printf("# bad test calendar\n");
    }
    return cal;
}

/* No suspension, no step limit. */
static gs_deadline_in_t
plain(const char *due, const char *today, int yellow_days)
{
    gs_deadline_in_t in;

    memset(&in, 0, sizeof(in));
    in.due = D(due);
    in.paused_since = GS_DATE_INVALID;
    in.step_started = GS_DATE_INVALID;
    in.today = D(today);
    in.yellow_days = yellow_days;
    return in;
}

/* Compute, and on failure leave a result no assertion would accept. */
static gs_deadline_t
run(const gs_calendar_t *cal, const gs_deadline_in_t *in)
{
    gs_deadline_t out;

    memset(&out, 0x5a, sizeof(out));
    if (gs_deadline_compute(cal, in, &out) != 0) {
        printf("# gs_deadline_compute failed for due %s today %s\n",
               S(in->due), S(in->today));
    }
    return out;
}

/* due, remaining and level of one case on `today`. */
#define LEVEL(cal, due_, today_, yellow, want_rem, want_level)            \
    do {                                                                  \
        gs_deadline_in_t in_ = plain(due_, today_, yellow);               \
        gs_deadline_t out_ = run(cal, &in_);                              \
                                                                          \
        ok(out_.remaining == (want_rem) && out_.level == (want_level)     \
           && out_.due == in_.due && out_.paused == 0                     \
           && out_.step_overdue == 0,                                     \
           "due %s, today %s, yellow %d: %d %s (got %d %s)", due_,        \
           today_, yellow, want_rem, gs_level_name(want_level),           \
           out_.remaining, gs_level_name(out_.level));                    \
    } while (0)

static void
test_levels(void)
{
    gs_calendar_t none = { NULL, 0 };

    /* Due Friday 2026-11-27, a week with no exceptions. */
    LEVEL(&none, "2026-11-27", "2026-11-20", 3, 5, GS_LEVEL_NORMAL);
    LEVEL(&none, "2026-11-27", "2026-11-23", 3, 4, GS_LEVEL_NORMAL);
    LEVEL(&none, "2026-11-27", "2026-11-24", 3, 3, GS_LEVEL_YELLOW);
    LEVEL(&none, "2026-11-27", "2026-11-26", 3, 1, GS_LEVEL_YELLOW);
    LEVEL(&none, "2026-11-27", "2026-11-27", 3, 0, GS_LEVEL_YELLOW);
    LEVEL(&none, "2026-11-27", "2026-11-28", 3, 0, GS_LEVEL_RED);
    LEVEL(&none, "2026-11-27", "2026-11-29", 3, 0, GS_LEVEL_RED);
    LEVEL(&none, "2026-11-27", "2026-11-30", 3, -1, GS_LEVEL_RED);
    LEVEL(&none, "2026-11-27", "2026-12-01", 3, -2, GS_LEVEL_RED);

    /* A weekend in between counts no days down. */
    LEVEL(&none, "2026-11-24", "2026-11-20", 1, 2, GS_LEVEL_NORMAL);
    LEVEL(&none, "2026-11-24", "2026-11-21", 1, 2, GS_LEVEL_NORMAL);
    LEVEL(&none, "2026-11-24", "2026-11-23", 1, 1, GS_LEVEL_YELLOW);

    /* yellow_days 0: yellow only on the due date itself. */
    LEVEL(&none, "2026-11-27", "2026-11-26", 0, 1, GS_LEVEL_NORMAL);
    LEVEL(&none, "2026-11-27", "2026-11-27", 0, 0, GS_LEVEL_YELLOW);
    LEVEL(&none, "2026-11-27", "2026-11-28", 0, 0, GS_LEVEL_RED);

    /* A wide yellow band: yellow from the first day, red still by date. */
    LEVEL(&none, "2026-11-27", "2026-10-01", 1000, 41, GS_LEVEL_YELLOW);
    LEVEL(&none, "2026-11-27", "2026-11-30", 1000, -1, GS_LEVEL_RED);

    /* Due on a Saturday: no working day is left from Friday on. */
    LEVEL(&none, "2026-11-28", "2026-11-26", 0, 1, GS_LEVEL_NORMAL);
    LEVEL(&none, "2026-11-28", "2026-11-27", 0, 0, GS_LEVEL_YELLOW);
    LEVEL(&none, "2026-11-28", "2026-11-28", 0, 0, GS_LEVEL_YELLOW);
    LEVEL(&none, "2026-11-28", "2026-11-29", 0, 0, GS_LEVEL_RED);
    LEVEL(&none, "2026-11-28", "2026-11-30", 0, -1, GS_LEVEL_RED);

    /* The whole accepted range, both ways. */
    LEVEL(&none, "9999-12-31", "1900-01-01", 0, 2113189, GS_LEVEL_NORMAL);
    LEVEL(&none, "1900-01-01", "9999-12-31", 0, -2113189, GS_LEVEL_RED);
}

/* National Day 2026: 10-01..10-07 off, Saturday 10-10 worked. */
static void
test_holiday_week(void)
{
    gs_calendar_t cal = calendar_2026(), none = { NULL, 0 };

    /* Due Monday 10-12; from 09-30 only 10-08, 09, 10 and 12 remain. */
    LEVEL(&cal, "2026-10-12", "2026-09-29", 4, 5, GS_LEVEL_NORMAL);
    LEVEL(&cal, "2026-10-12", "2026-09-30", 4, 4, GS_LEVEL_YELLOW);
    LEVEL(&cal, "2026-10-12", "2026-09-30", 3, 4, GS_LEVEL_NORMAL);
    LEVEL(&none, "2026-10-12", "2026-09-30", 3, 8, GS_LEVEL_NORMAL);

    /* The holiday counts nothing down. */
    LEVEL(&cal, "2026-10-12", "2026-10-01", 3, 4, GS_LEVEL_NORMAL);
    LEVEL(&cal, "2026-10-12", "2026-10-04", 3, 4, GS_LEVEL_NORMAL);
    LEVEL(&cal, "2026-10-12", "2026-10-07", 3, 4, GS_LEVEL_NORMAL);
    LEVEL(&cal, "2026-10-12", "2026-10-08", 3, 3, GS_LEVEL_YELLOW);
    LEVEL(&cal, "2026-10-12", "2026-10-09", 3, 2, GS_LEVEL_YELLOW);

    /* The 调休 Saturday counts; the Sunday after does not. */
    LEVEL(&cal, "2026-10-12", "2026-10-10", 3, 1, GS_LEVEL_YELLOW);
    LEVEL(&cal, "2026-10-12", "2026-10-11", 3, 1, GS_LEVEL_YELLOW);
    LEVEL(&cal, "2026-10-12", "2026-10-12", 3, 0, GS_LEVEL_YELLOW);
    LEVEL(&cal, "2026-10-12", "2026-10-13", 3, -1, GS_LEVEL_RED);
    LEVEL(&none, "2026-10-12", "2026-10-10", 3, 1, GS_LEVEL_YELLOW);

    /* Due just before the holiday: late all week, by 0 working days. */
    LEVEL(&cal, "2026-09-30", "2026-10-01", 3, 0, GS_LEVEL_RED);
    LEVEL(&cal, "2026-09-30", "2026-10-07", 3, 0, GS_LEVEL_RED);
    LEVEL(&cal, "2026-09-30", "2026-10-08", 3, -1, GS_LEVEL_RED);
    LEVEL(&cal, "2026-09-30", "2026-10-10", 3, -3, GS_LEVEL_RED);
    LEVEL(&none, "2026-09-30", "2026-10-07", 3, -5, GS_LEVEL_RED);

    /* Due on a holiday: the last working day before it is the last. */
    LEVEL(&cal, "2026-10-05", "2026-09-30", 0, 0, GS_LEVEL_YELLOW);
    LEVEL(&cal, "2026-10-05", "2026-10-05", 0, 0, GS_LEVEL_YELLOW);
    LEVEL(&cal, "2026-10-05", "2026-10-06", 0, 0, GS_LEVEL_RED);
}

#undef LEVEL

static int
same(const gs_deadline_t *a, const gs_deadline_t *b)
{
    return a->due == b->due && a->remaining == b->remaining
           && a->paused == b->paused && a->level == b->level
           && a->step_overdue == b->step_overdue;
}

static void
test_paused(void)
{
    gs_calendar_t cal = calendar_2026();
    gs_deadline_in_t in = plain("2026-10-12", "2026-09-30", 3);
    gs_deadline_t out, first, unpaused;
    gs_date_t today;
    int changed = 0;

    /* Suspended on 09-30: every figure as on 09-30, whatever today is. */
    in.paused_since = D("2026-09-30");
    first = run(&cal, &in);
    is_int(first.paused, 1, "paused is 1 while suspended");
    is_int(first.remaining, 4, "remaining as on the day it started");
    is_int(first.level, GS_LEVEL_NORMAL, "level as on the day it started");
    is_str(S(first.due), "2026-10-12", "due is the stored due date");

    for (today = D("2026-09-30"); today <= D("2027-12-31"); today++) {
        in.today = today;
        out = run(&cal, &in);
        changed += !same(&out, &first);
    }
    is_int(changed, 0, "same figures for every today up to 2027-12-31");

    /* Those figures are not today's: unsuspended, the case is red. */
    in.paused_since = GS_DATE_INVALID;
    in.today = D("2026-10-20");
    unpaused = run(&cal, &in);
    ok(unpaused.level == GS_LEVEL_RED && unpaused.remaining == -6
       && unpaused.paused == 0, "without the suspension: red, -6");

    /* Suspended once late: frozen at red. */
    in.paused_since = D("2026-10-14");
    in.today = D("2027-06-01");
    out = run(&cal, &in);
    ok(out.level == GS_LEVEL_RED && out.remaining == -2 && out.paused == 1,
       "suspended two working days late: red, -2, paused");

    /* Suspended on a Saturday after a Friday due date: red by date. */
    in = plain("2026-11-27", "2026-12-15", 3);
    in.paused_since = D("2026-11-28");
    out = run(&cal, &in);
    ok(out.level == GS_LEVEL_RED && out.remaining == 0,
       "suspended the day after due: red with remaining 0");

    /* Suspended on the same day is allowed. */
    in = plain("2026-11-27", "2026-11-24", 3);
    in.paused_since = D("2026-11-24");
    out = run(&cal, &in);
    ok(out.level == GS_LEVEL_YELLOW && out.remaining == 3 && out.paused == 1,
       "suspended today: yellow, 3, paused");
}

/* step_overdue of a step started on `started`, on `today`. */
static int
step(const gs_calendar_t *cal, const char *started, int days,
     int paused_days, const char *today)
{
    gs_deadline_in_t in = plain("2027-06-30", today, 3);
    gs_deadline_t out;

    in.step_started = D(started);
    in.step_days = days;
    in.step_paused_days = paused_days;
    out = run(cal, &in);
    return out.step_overdue;
}

static void
test_step(void)
{
    gs_calendar_t cal = calendar_2026(), none = { NULL, 0 };
    gs_deadline_in_t in;
    gs_deadline_t out;

#define STEP(c, started, days, paused, today, want) \
    is_int(step(c, started, days, paused, today), want, \
           "step from %s, %d + %d days, on %s: %s", started, days, paused, \
           today, want ? "overdue" : "in time")

    /* Monday + 3 working days: the limit is Thursday, included. */
    STEP(&none, "2026-11-23", 3, 0, "2026-11-23", 0);
    STEP(&none, "2026-11-23", 3, 0, "2026-11-26", 0);
    STEP(&none, "2026-11-23", 3, 0, "2026-11-27", 1);
    STEP(&none, "2026-11-23", 3, 0, "2027-03-01", 1);

    /* Two working days of ended procedures: the limit is next Monday. */
    STEP(&none, "2026-11-23", 3, 2, "2026-11-27", 0);
    STEP(&none, "2026-11-23", 3, 2, "2026-11-29", 0);
    STEP(&none, "2026-11-23", 3, 2, "2026-11-30", 0);
    STEP(&none, "2026-11-23", 3, 2, "2026-12-01", 1);

    /* Across National Day: 09-30, 10-08, 10-09, 10-10, 10-12. */
    STEP(&cal, "2026-09-29", 5, 0, "2026-10-12", 0);
    STEP(&cal, "2026-09-29", 5, 0, "2026-10-13", 1);
    STEP(&none, "2026-09-29", 5, 0, "2026-10-07", 1);
    STEP(&cal, "2026-09-29", 5, 1, "2026-10-13", 0);
    STEP(&cal, "2026-09-29", 5, 1, "2026-10-14", 1);

    /* Started on a Saturday: the first day counted is Monday. */
    STEP(&none, "2026-11-21", 1, 0, "2026-11-23", 0);
    STEP(&none, "2026-11-21", 1, 0, "2026-11-24", 1);

    /* step_days 0 is no limit, even with paused days. */
    STEP(&none, "2026-11-23", 0, 0, "2027-06-01", 0);
    STEP(&none, "2026-11-23", 0, 5, "2027-06-01", 0);

    /* The longest limit the calendar can find, and the first it cannot. */
    STEP(&none, "2026-01-01", 2600, 10, "2036-01-03", 0);
    STEP(&none, "2026-01-01", 2600, 10, "2036-01-04", 1);
#undef STEP

    in = plain("2027-06-30", "2035-12-31", 3);
    in.step_started = D("2026-01-01");
    in.step_days = 2600;
    in.step_paused_days = 100;
    memset(&out, 0x5a, sizeof(out));
    is_int(gs_deadline_compute(&none, &in, &out), -1,
           "2600 + 100 working days are past the calendar's span: -1");

    /* No step: nothing is overdue whatever step_days says. */
    in = plain("2027-06-30", "2027-06-01", 3);
    in.step_days = 5;
    in.step_paused_days = 5;
    out = run(&none, &in);
    is_int(out.step_overdue, 0, "step_started GS_DATE_INVALID: no limit");

    /* The step has its own limit: overdue while the case is in time. */
    in = plain("2026-12-31", "2026-12-01", 3);
    in.step_started = D("2026-11-23");
    in.step_days = 3;
    out = run(&none, &in);
    ok(out.step_overdue == 1 && out.level == GS_LEVEL_NORMAL,
       "step overdue, case normal");

    /* A suspension freezes the step too. */
    in.paused_since = D("2026-11-25");
    in.today = D("2027-03-01");
    out = run(&none, &in);
    ok(out.step_overdue == 0 && out.paused == 1,
       "suspended before the step's limit: not overdue while suspended");
    in.paused_since = D("2026-11-27");
    out = run(&none, &in);
    is_int(out.step_overdue, 1, "suspended after the step's limit: overdue");
}

/* -1 and out left exactly as it was. */
static void
rejected(const gs_calendar_t *cal, const gs_deadline_in_t *in,
         const char *why)
{
    gs_deadline_t out, before;

    memset(&out, 0x5a, sizeof(out));
    memcpy(&before, &out, sizeof(out));
    ok(gs_deadline_compute(cal, in, &out) == -1
       && memcmp(&out, &before, sizeof(out)) == 0,
       "-1, out untouched: %s", why);
}

static void
test_compute_rejects(void)
{
    gs_calendar_t cal = calendar_2026();
    gs_deadline_in_t good = plain("2026-11-27", "2026-11-20", 3), in;
    gs_deadline_t out;

    good.paused_since = D("2026-11-19");
    good.step_started = D("2026-11-16");
    good.step_days = 5;
    good.step_paused_days = 1;
    memset(&out, 0x5a, sizeof(out));
    is_int(gs_deadline_compute(&cal, &good, &out), 0,
           "the input every case below breaks is accepted");
    ok(out.paused == 1 && out.step_overdue == 0 && out.remaining == 6,
       "and computed");

#define BREAK(field, value, why) \
    do { in = good; in.field = (value); rejected(&cal, &in, why); } while (0)

    BREAK(due, GS_DATE_INVALID, "due GS_DATE_INVALID");
    BREAK(due, GS_DATE_MIN - 1, "due before 1900");
    BREAK(due, GS_DATE_MAX + 1, "due after 9999");
    BREAK(due, INT32_MAX, "due INT32_MAX");
    BREAK(today, GS_DATE_INVALID, "today GS_DATE_INVALID");
    BREAK(today, GS_DATE_MIN - 1, "today before 1900");
    BREAK(today, GS_DATE_MAX + 1, "today after 9999");
    BREAK(paused_since, GS_DATE_MIN - 1, "paused_since before 1900");
    BREAK(paused_since, GS_DATE_MAX + 1, "paused_since after 9999");
    BREAK(paused_since, INT32_MIN + 1, "paused_since INT32_MIN + 1");
    BREAK(paused_since, D("2026-11-21"), "paused_since after today");
    BREAK(step_started, GS_DATE_MIN - 1, "step_started before 1900");
    BREAK(step_started, GS_DATE_MAX + 1, "step_started after 9999");
    BREAK(step_days, -1, "step_days -1");
    BREAK(step_days, INT_MIN, "step_days INT_MIN");
    BREAK(step_paused_days, -1, "step_paused_days -1");
    BREAK(yellow_days, -1, "yellow_days -1");
    BREAK(yellow_days, INT_MIN, "yellow_days INT_MIN");

    /* Limits the calendar cannot compute. */
    BREAK(step_days, GS_CALENDAR_MAX_SPAN + 1, "step_days past the span");
    BREAK(step_days, INT_MAX, "step_days INT_MAX");
    BREAK(step_paused_days, INT_MAX, "step_paused_days INT_MAX");
    BREAK(step_started, GS_DATE_MAX, "no working day after 9999-12-31");
#undef BREAK

    /* The sum overflows int unless checked first (UBSan would see it). */
    in = good;
    in.step_days = INT_MAX;
    in.step_paused_days = INT_MAX;
    rejected(&cal, &in, "step_days and step_paused_days INT_MAX");

    /* Counts are checked even when there is no step. */
    in = good;
    in.step_started = GS_DATE_INVALID;
    in.step_days = -1;
    rejected(&cal, &in, "step_days -1 without a step");
    in.step_days = 0;
    in.step_paused_days = -1;
    rejected(&cal, &in, "step_paused_days -1 without a limit");

    /* And step_started's range even when it sets no limit. */
    in = good;
    in.step_days = 0;
    in.step_started = GS_DATE_MIN - 1;
    rejected(&cal, &in, "step_started before 1900 with step_days 0");
    in.step_started = GS_DATE_MAX + 1;
    rejected(&cal, &in, "step_started after 9999 with step_days 0");

    /* The range's own ends are accepted. */
    in = plain("1900-01-01", "1900-01-01", 0);
    in.paused_since = GS_DATE_MIN;
    in.step_started = GS_DATE_MIN;
    in.step_days = 1;
    memset(&out, 0x5a, sizeof(out));
    is_int(gs_deadline_compute(&cal, &in, &out), 0, "all dates GS_DATE_MIN");
    in = plain("9999-12-31", "9999-12-31", 0);
    in.paused_since = GS_DATE_MAX;
    is_int(gs_deadline_compute(&cal, &in, &out), 0, "all dates GS_DATE_MAX");
    ok(out.level == GS_LEVEL_YELLOW && out.remaining == 0,
       "due today at GS_DATE_MAX: yellow, 0");
}

static void
test_resume(void)
{
    gs_calendar_t cal = calendar_2026(), none = { NULL, 0 };
    int taken;

#define RESUME(c, due, since, resumed, want, want_taken) \
    do { \
        taken = -12345; \
        is_str(S(gs_deadline_resume(c, D(due), D(since), D(resumed), \
                                    &taken)), want, \
               "due %s, suspended %s..%s: due %s", due, since, resumed, \
               want); \
        is_int(taken, want_taken, "  %d working days taken", want_taken); \
    } while (0)

    /* Monday to Wednesday: Tuesday and Wednesday were taken. */
    RESUME(&none, "2026-11-27", "2026-11-23", "2026-11-25", "2026-12-01", 2);
    RESUME(&none, "2026-11-27", "2026-11-23", "2026-11-23", "2026-11-27", 0);
    RESUME(&none, "2026-11-27", "2026-11-27", "2026-11-29", "2026-11-27", 0);
    RESUME(&none, "2026-11-27", "2026-11-27", "2026-11-30", "2026-11-30", 1);

    /* Across National Day: only 09-30, 10-08 and 10-09 were taken. */
    RESUME(&cal, "2026-10-12", "2026-09-29", "2026-10-09", "2026-10-15", 3);
    RESUME(&none, "2026-10-12", "2026-09-29", "2026-10-09", "2026-10-22", 8);
    RESUME(&cal, "2026-10-12", "2026-10-02", "2026-10-06", "2026-10-12", 0);
    /* The moved due date can land on the 调休 Saturday. */
    RESUME(&cal, "2026-09-30", "2026-09-28", "2026-10-08", "2026-10-10", 3);
    /* A due date inside the holiday moves from where it stands. */
    RESUME(&cal, "2026-10-05", "2026-09-29", "2026-09-30", "2026-10-08", 1);

    /* Across the year boundary, New Year's Day 2027 off. */
    RESUME(&cal, "2027-01-15", "2026-12-28", "2027-01-05", "2027-01-22", 5);
    RESUME(&none, "2027-01-15", "2026-12-28", "2027-01-05", "2027-01-25", 6);
    RESUME(&cal, "2026-12-31", "2026-12-30", "2026-12-31", "2027-01-04", 1);

    /* Suspended after the due date had passed. */
    RESUME(&none, "2026-11-27", "2026-12-02", "2026-12-04", "2026-12-01", 2);

    /* The ends of the range. */
    RESUME(&none, "1900-01-01", "1900-01-01", "1900-01-01", "1900-01-01", 0);
    RESUME(&none, "9999-12-31", "9999-12-31", "9999-12-31", "9999-12-31", 0);
#undef RESUME
}

/*
 * Resuming keeps the case where it stood: remaining on the day the
 * procedure ends, against the moved due date, is what it was frozen at.
 */
static void
test_resume_continuity(void)
{
    gs_calendar_t cal = calendar_2026();
    gs_deadline_in_t in;
    gs_deadline_t frozen, after;
    gs_date_t since, resumed, moved, first = D("2026-09-01");
    int taken, bad = 0, bad_taken = 0, runs = 0;

    for (since = first; since < first + 60; since += 3) {
        for (resumed = since; resumed < since + 50; resumed += 2) {
            in = plain("2026-10-12", "2026-10-12", 3);
            in.paused_since = since;
            in.today = resumed;
            frozen = run(&cal, &in);

            taken = -1;
            moved = gs_deadline_resume(&cal, in.due, since, resumed, &taken);
            in = plain("2026-10-12", "2026-10-12", 3);
            in.due = moved;
            in.today = resumed;
            after = run(&cal, &in);

            bad += moved == GS_DATE_INVALID
                   || after.remaining != frozen.remaining;
            bad_taken += taken
                         != gs_calendar_working_days_between(&cal, since,
                                                             resumed);
            runs++;
        }
    }
    is_int(runs, 500, "500 suspensions around National Day");
    is_int(bad, 0, "remaining is the same before and after each");
    is_int(bad_taken, 0, "taken is the working days in (since, resumed]");
}

static void
test_resume_rejects(void)
{
    gs_calendar_t cal = calendar_2026();
    gs_date_t due = D("2026-11-27"), since = D("2026-11-23");
    gs_date_t resumed = D("2026-11-25");
    int taken;

#define REJECT(d, s, r, why) \
    do { \
        taken = 12345; \
        ok(gs_deadline_resume(&cal, d, s, r, &taken) == GS_DATE_INVALID \
           && taken == 12345, "GS_DATE_INVALID, taken untouched: %s", \
           why); \
    } while (0)

    REJECT(GS_DATE_INVALID, since, resumed, "due GS_DATE_INVALID");
    REJECT(GS_DATE_MIN - 1, since, resumed, "due before 1900");
    REJECT(GS_DATE_MAX + 1, since, resumed, "due after 9999");
    REJECT(due, GS_DATE_INVALID, resumed, "paused_since GS_DATE_INVALID");
    REJECT(due, GS_DATE_MIN - 1, resumed, "paused_since before 1900");
    REJECT(due, GS_DATE_MAX + 1, resumed, "paused_since after 9999");
    REJECT(due, since, GS_DATE_INVALID, "resumed GS_DATE_INVALID");
    REJECT(due, since, GS_DATE_MAX + 1, "resumed after 9999");
    REJECT(due, since, INT32_MAX, "resumed INT32_MAX");
    REJECT(due, since, since - 1, "resumed the day before paused_since");
    REJECT(due, resumed, since, "resumed before paused_since");

    /* The moved date cannot be found on the calendar. */
    REJECT(GS_DATE_MAX, since, resumed, "no working day after 9999-12-31");
    REJECT(due, GS_DATE_MIN, GS_DATE_MAX, "8000 years taken");
#undef REJECT
}

static void
test_level_name(void)
{
    is_str(gs_level_name(GS_LEVEL_NORMAL), "normal", "GS_LEVEL_NORMAL");
    is_str(gs_level_name(GS_LEVEL_YELLOW), "yellow", "GS_LEVEL_YELLOW");
    is_str(gs_level_name(GS_LEVEL_RED), "red", "GS_LEVEL_RED");
    is_str(gs_level_name((gs_level_e) 3), NULL, "3 has no name");
    is_str(gs_level_name((gs_level_e) -1), NULL, "-1 has no name");
    is_int(GS_LEVEL_NORMAL, 0, "a zeroed level is normal");
}

int
main(void)
{
    test_levels();
    test_holiday_week();
    test_paused();
    test_step();
    test_compute_rejects();
    test_resume();
    test_resume_continuity();
    test_resume_rejects();
    test_level_name();
    return done_testing();
}
