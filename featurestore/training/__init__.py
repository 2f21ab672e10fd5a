"""Point-in-time training sets: building and rebuilding them, incremental extension and staleness."""
