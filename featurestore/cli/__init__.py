"""The `featurestore` command line."""

from featurestore.cli.commands import main

__all__ = ["main"]
