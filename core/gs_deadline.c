/*
 * gs_deadline: a case's time limit in working days; see gs_deadline.h.
 */

#include "gs_deadline.h"


static int
gs_date_ok(gs_date_t d)
{
    return d >= GS_DATE_MIN && d <= GS_DATE_MAX;
}


int
gs_deadline_compute(const gs_calendar_t *cal, const gs_deadline_in_t *in,
                    gs_deadline_t *out)
{
    int        paused, overdue;
    gs_date_t  clock, step_due;

    if (!gs_date_ok(in->due) || !gs_date_ok(in->today)
        || in->step_days < 0 || in->step_paused_days < 0
        || in->yellow_days < 0)
    {
        return -1;
    }

    paused = (in->paused_since != GS_DATE_INVALID);

    if (paused && (!gs_date_ok(in->paused_since)
                   || in->paused_since > in->today))
    {
        return -1;
    }

    if (in->step_started != GS_DATE_INVALID && !gs_date_ok(in->step_started))
    {
        return -1;
    }

    /* a running special procedure holds every figure on its first day */
    clock = paused ? in->paused_since : in->today;

    overdue = 0;

    if (in->step_started != GS_DATE_INVALID && in->step_days > 0) {
        if (in->step_paused_days > GS_CALENDAR_MAX_SPAN - in->step_days) {
            return -1;
        }

        step_due = gs_calendar_add_working_days(cal, in->step_started,
                                                in->step_days
                                                + in->step_paused_days);
        if (step_due == GS_DATE_INVALID) {
            return -1;
        }

        overdue = (clock > step_due);
    }

    out->due = in->due;
    out->remaining = gs_calendar_working_days_between(cal, clock, in->due);
    out->paused = paused;
    out->step_overdue = overdue;

    if (clock > in->due) {
        out->level = GS_LEVEL_RED;

    } else if (out->remaining <= in->yellow_days) {
        out->level = GS_LEVEL_YELLOW;

    } else {
        out->level = GS_LEVEL_NORMAL;
    }

    return 0;
}


gs_date_t
gs_deadline_resume(const gs_calendar_t *cal, gs_date_t due,
                   gs_date_t paused_since, gs_date_t resumed, int *taken)
{
    int        n;
    gs_date_t  moved;

    if (!gs_date_ok(due) || !gs_date_ok(paused_since) || !gs_date_ok(resumed)
        || resumed < paused_since)
    {
        return GS_DATE_INVALID;
    }

    n = gs_calendar_working_days_between(cal, paused_since, resumed);

    moved = gs_calendar_add_working_days(cal, due, n);
    if (moved == GS_DATE_INVALID) {
        return GS_DATE_INVALID;
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

    return NULL;
}
