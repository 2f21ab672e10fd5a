"""Where each table lives under a storage root (the same layout OfflineStore writes), with no engine."""

from __future__ import annotations


def join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def history_path(root: str, group: str) -> str:
    return join(root, "features", group, "history")


def latest_path(root: str, group: str) -> str:
    return join(root, "features", group, "latest")


def source_path(root: str, source: str) -> str:
    return join(root, "sources", source)


def training_set_path(root: str, name: str) -> str:
    return join(root, "training_sets", name)
