"""Streaming ingestion into feature groups."""
