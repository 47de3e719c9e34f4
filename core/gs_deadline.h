/*
 * gs_deadline: a case's time limit in working days (行政许可法 Art.42, 45).
 *
 * The case keeps one stored due date: the promised date, moved by an
 * extension and by every special procedure that has ended.  A running
 * special procedure stops the clock: while it runs, every figure is taken
 * on the day it started ("the clock date"), so nothing moves until it
 * ends, and gs_deadline_resume() then moves the due date by the working
 * days it took.
 *
 * remaining is the working days in (clock date, due], or minus those in
 * (due, clock date] once the due date has passed.  The level is red once
 * the clock date is after the due date, yellow while at most yellow_days
 * working days remain (the due date itself included), normal before.
 *
 * A step has its own limit: it is overdue once the clock date is after
 * step_days + step_paused_days working days from the day it started
 * (step_paused_days: working days of special procedures that ran and
 * ended during the step).  step_days 0 means the step has no limit.
 *
 * Everything is computed on the caller's calendar; nothing allocates.
 */
#ifndef GS_DEADLINE_H
#define GS_DEADLINE_H

#include "gs_calendar.h"

typedef enum {
    GS_LEVEL_NORMAL = 0,
    GS_LEVEL_YELLOW,
    GS_LEVEL_RED
} gs_level_e;

typedef struct {
    gs_date_t   due;              /* stored due date */
    gs_date_t   paused_since;     /* GS_DATE_INVALID unless suspended */
    gs_date_t   step_started;     /* GS_DATE_INVALID: no step limit */
    int         step_days;        /* >= 0; 0: no step limit */
    int         step_paused_days; /* >= 0 */
    gs_date_t   today;
    int         yellow_days;      /* >= 0 */
} gs_deadline_in_t;

typedef struct {
    gs_date_t   due;
    int         remaining;
    int         paused;           /* 0 or 1 */
    gs_level_e  level;
    int         step_overdue;     /* 0 or 1 */
} gs_deadline_t;

/*
 * 0 and *out set, or -1 (out untouched) when a date is invalid or out of
 * GS_DATE_MIN..GS_DATE_MAX, paused_since is after today, a count is
 * negative, or the step's limit cannot be computed on the calendar.
 */
int gs_deadline_compute(const gs_calendar_t *cal, const gs_deadline_in_t *in,
                        gs_deadline_t *out);

/*
 * The due date once a special procedure that started on paused_since
 * ends on resumed (>= paused_since): due moved by the working days in
 * (paused_since, resumed], which *taken (not NULL) receives.
 * GS_DATE_INVALID (and *taken untouched) for invalid dates, resumed <
 * paused_since, or a moved date beyond the calendar's span.
 */
gs_date_t gs_deadline_resume(const gs_calendar_t *cal, gs_date_t due,
                             gs_date_t paused_since, gs_date_t resumed,
                             int *taken);

/* "normal", "yellow", "red"; NULL for anything else */
const char *gs_level_name(gs_level_e level);

#endif
