"""The online store: latest feature values for low-latency lookups (SQLite or Delta)."""
