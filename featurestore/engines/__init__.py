"""Point-in-time join engines: Spark and DuckDB."""
