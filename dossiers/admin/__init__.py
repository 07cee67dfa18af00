"""Administration: the procedures catalog, units, staff and tokens, calendars, and the reports."""
