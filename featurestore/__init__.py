"""A point-in-time feature store: `from featurestore import FeatureStore` (see featurestore.feature_store)."""

from typing import Any

__all__ = ["FeatureStore", "Settings"]


def __getattr__(name: str) -> Any:
    """`FeatureStore` and `Settings`, imported on first use (importing the package stays cheap)."""
    if name == "FeatureStore":
        from featurestore.feature_store import FeatureStore

        return FeatureStore
    if name == "Settings":
        from featurestore.settings import Settings

        return Settings
    raise AttributeError(f"module 'featurestore' has no attribute {name!r}")
