"""Asset jobs, schedules and sensors, built from the specs."""
