"""System column names: the one place that spells them."""

EVENT_TIME = "event_time"
WRITE_TIME = "write_time"
IS_DELETED = "is_deleted"
EVENT_DATE = "event_date"  # partition column of history tables, derived from event_time (UTC)

SYSTEM_COLUMNS = (EVENT_TIME, WRITE_TIME, IS_DELETED, EVENT_DATE)
