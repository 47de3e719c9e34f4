/*
 * Every figure is taken on one day, the clock date: today, or the day a
 * running special procedure started, so that a suspended case shows the
 * same remaining days, level and step state until the procedure ends.
 * Nothing here counts days itself; gs_calendar does, on the caller's
 * calendar.
 */
#include "gs_deadline.h"

static int
gs_date_in_range(gs_date_t d)
{
    return d >= GS_DATE_MIN && d <= GS_DATE_MAX;
}

/* GS_DATE_INVALID stands for "none" here, so it is not an error. */
static int
gs_date_optional(gs_date_t d)
{
    return d == GS_DATE_INVALID || gs_date_in_range(d);
}

static int
gs_deadline_valid(const gs_deadline_in_t *in)
{
    if (!gs_date_in_range(in->due) || !gs_date_in_range(in->today)
        || !gs_date_optional(in->paused_since)
        || !gs_date_optional(in->step_started)
        || in->step_days < 0 || in->step_paused_days < 0
        || in->yellow_days < 0)
    {
        return 0;
    }

    /* A suspension cannot start in the future: the clock would run back. */
    return in->paused_since == GS_DATE_INVALID
           || in->paused_since <= in->today;
}

/* 1 overdue, 0 not (or no limit), -1 if the limit is past the calendar. */
static int
gs_step_overdue(const gs_calendar_t *cal, const gs_deadline_in_t *in,
                gs_date_t clock)
{
    gs_date_t step_due;

    if (in->step_started == GS_DATE_INVALID || in->step_days == 0) {
        return 0;
    }

    /*
     * Each working day takes a day of its own, so a limit longer than the
     * span the calendar searches can never be found; saying so first also
     * keeps the sum below from overflowing.
     */
    if (in->step_paused_days > GS_CALENDAR_MAX_SPAN - in->step_days) {
        return -1;
    }

    step_due = gs_calendar_add_working_days(cal, in->step_started,
                                            in->step_days
                                            + in->step_paused_days);
    if (step_due == GS_DATE_INVALID) {
        return -1;
    }

    return clock > step_due;
}

static gs_level_e
gs_deadline_level(gs_date_t clock, gs_date_t due, int remaining,
                  int yellow_days)
{
    /*
     * By date, not by count: a case due on a Friday is late on Saturday
     * although no working day has passed since and remaining is still 0.
     */
    if (clock > due) {
        return GS_LEVEL_RED;
    }

    return remaining <= yellow_days ? GS_LEVEL_YELLOW : GS_LEVEL_NORMAL;
}

int
gs_deadline_compute(const gs_calendar_t *cal, const gs_deadline_in_t *in,
                    gs_deadline_t *out)
{
    gs_date_t clock;
    int paused, overdue, remaining;

    if (!gs_deadline_valid(in)) {
        return -1;
    }

    paused = in->paused_since != GS_DATE_INVALID;
    clock = paused ? in->paused_since : in->today;

    /* Before anything is written: out stays untouched on -1. */
    overdue = gs_step_overdue(cal, in, clock);
    if (overdue < 0) {
        return -1;
    }

    remaining = gs_calendar_working_days_between(cal, clock, in->due);

    out->due = in->due;
    out->remaining = remaining;
    out->paused = paused;
    out->level = gs_deadline_level(clock, in->due, remaining,
                                   in->yellow_days);
    out->step_overdue = overdue;
    return 0;
}

gs_date_t
gs_deadline_resume(const gs_calendar_t *cal, gs_date_t due,
                   gs_date_t paused_since, gs_date_t resumed, int *taken)
{
    gs_date_t moved;
    int n;

    if (!gs_date_in_range(due) || !gs_date_in_range(paused_since)
        || !gs_date_in_range(resumed) || resumed < paused_since)
    {
        return GS_DATE_INVALID;
    }

    /*
     * The start day itself is not taken: the clock date stood on it, so
     * it was already counted as run.  This keeps remaining the same just
     * before and just after the procedure.
     */
    n = gs_calendar_working_days_between(cal, paused_since, resumed);

    moved = gs_calendar_add_working_days(cal, due, n);
    if (moved == GS_DATE_INVALID) {
        return GS_DATE_INVALID;     /* *taken untouched, as on any error */
    }

    *taken = n;
    return moved;
}

const char *
gs_level_name(gs_level_e level)
{
    switch (level) {
    case GS_LEVEL_NORMAL:
        return "normal";
    case GS_LEVEL_YELLOW:
        return "yellow";
    case GS_LEVEL_RED:
        return "red";
    }

    return NULL;                /* a value outside the enum */
}
