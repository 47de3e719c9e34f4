int gs_calendar_dummy;
