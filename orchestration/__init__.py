"""Dagster around the core: resources, factories turning specs into assets and checks, Definitions."""
