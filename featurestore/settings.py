"""The feature store's settings, resolved in one place.

Precedence, highest first: explicit arguments (`Settings.resolve(root=...)`, CLI flags), environment
variables, a `featurestore.yaml` at the project root (or the file named by `FEATURESTORE_CONFIG`), defaults.

| setting | variable | yaml key | default |
|---|---|---|---|
| root | FEATURESTORE_ROOT | root | <project>/data/store |
| engine | FEATURESTORE_ENGINE | engine | auto: duckdb for a local root, spark otherwise |
| spark_master | FEATURESTORE_SPARK_MASTER | spark_master | local[*] |
| spark_conf | FEATURESTORE_SPARK_CONF (JSON object) | spark_conf (mapping) | {} |
| groups_package | FEATURESTORE_GROUPS_PACKAGE | groups_package | feature_groups |
| online_path | FEATURESTORE_ONLINE_PATH | online_path | <root>/online.sqlite (local roots) |
| jars_dir | FEATURESTORE_JARS_DIR | jars_dir | <project>/.jars |
| storage | FEATURESTORE_S3_ENDPOINT, ..._S3_ACCESS_KEY, ..._S3_SECRET_KEY, ..._S3_REGION | storage (mapping) | none |

Nothing is read at import time. Secrets (storage credentials) never appear in `repr` or logs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from featurestore.errors import SpecError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = "featurestore.yaml"
ENGINES = ("duckdb", "spark")
Engine = Literal["auto", "duckdb", "spark"]

ENV = {
    "root": "FEATURESTORE_ROOT",
    "engine": "FEATURESTORE_ENGINE",
    "spark_master": "FEATURESTORE_SPARK_MASTER",
    "spark_conf": "FEATURESTORE_SPARK_CONF",
    "groups_package": "FEATURESTORE_GROUPS_PACKAGE",
    "online_path": "FEATURESTORE_ONLINE_PATH",
    "jars_dir": "FEATURESTORE_JARS_DIR",
}
STORAGE_ENV = {"endpoint": "FEATURESTORE_S3_ENDPOINT", "access_key": "FEATURESTORE_S3_ACCESS_KEY",
               "secret_key": "FEATURESTORE_S3_SECRET_KEY", "region": "FEATURESTORE_S3_REGION"}


def is_remote_root(root: str) -> bool:
    """True for object storage or a cluster file system (s3a://, abfss://, gs://, hdfs://...); False for a
    local folder, given as a path or a file: URI. The one rule that tells local from remote roots."""
    scheme, sep, _ = str(root).partition("://")
    return bool(sep) and scheme.lower() != "file"


def local_path(root: str) -> Path:
    """The folder of a local root (a path or a file: URI), absolute."""
    text = str(root)
    if text.startswith("file://"):
        text = text[len("file://"):]
    elif text.startswith("file:"):
        text = text[len("file:"):]
    return Path(text).expanduser().resolve()


@dataclass(frozen=True)
class StorageSettings:
    """Object-storage access (S3-compatible); credentials are hidden from repr."""

    endpoint: str | None = None
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    region: str | None = None

    @property
    def configured(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


@dataclass(frozen=True)
class Settings:
    """Typed settings of one feature-store project (see the module docstring for sources and defaults)."""

    root: str = str(PROJECT_ROOT / "data" / "store")
    engine: Engine = "auto"
    spark_master: str = "local[*]"
    spark_conf: Mapping[str, str] = field(default_factory=dict)
    groups_package: str = "feature_groups"
    online_path: str | None = None
    jars_dir: str | None = None
    storage: StorageSettings = field(default_factory=StorageSettings)
    source: str = "defaults"  # where the values came from, for messages

    def __post_init__(self) -> None:
        if self.engine not in ("auto", *ENGINES):
            raise SpecError(f"settings: engine must be one of {['auto', *ENGINES]}, not {self.engine!r}")
        if not isinstance(self.spark_conf, Mapping):
            raise SpecError(f"settings: spark_conf must be a mapping, not {type(self.spark_conf).__name__}")
        root = str(self.root)
        object.__setattr__(self, "root", root if is_remote_root(root) else str(local_path(root)))
        object.__setattr__(self, "spark_conf", {str(k): str(v) for k, v in self.spark_conf.items()})

    @property
    def is_remote(self) -> bool:
        return is_remote_root(self.root)

    @property
    def resolved_engine(self) -> str:
        """The engine reads use: as configured, or by the rule 'duckdb for a local root and a local Spark
        master, spark for a remote root or a cluster master' (measured: BENCHMARKS.md)."""
        if self.engine != "auto":
            return self.engine
        local_master = self.spark_master.startswith("local")
        return "duckdb" if not self.is_remote and local_master else "spark"

    @classmethod
    def resolve(cls, *, env: Mapping[str, str] | None = None, config_file: str | os.PathLike | None = None,
                **overrides: Any) -> Settings:
        """Settings from defaults < featurestore.yaml < environment < `overrides` (None values are ignored)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        sources = []
        path = Path(config_file or env.get("FEATURESTORE_CONFIG") or PROJECT_ROOT / CONFIG_FILE)
        if path.is_file():
            values.update(_read_yaml(path))
            sources.append(str(path))
        from_env = {name: env[var] for name, var in ENV.items() if env.get(var)}
        if "spark_conf" in from_env:
            from_env["spark_conf"] = _json_object(from_env["spark_conf"], ENV["spark_conf"])
        storage_env = {name: env[var] for name, var in STORAGE_ENV.items() if env.get(var)}
        if from_env or storage_env:
            sources.append("environment")
        values.update(from_env)
        storage = {**dict(values.pop("storage", None) or {}), **storage_env}
        given = {k: v for k, v in overrides.items() if v is not None}
        if given:
            sources.append("arguments")
        given_storage = given.pop("storage", None)
        values.update(given)
        unknown = sorted(set(values) - {f.name for f in fields(cls)} - {"source"})
        if unknown:
            raise SpecError(f"settings: unknown setting(s) {unknown}; known: {sorted(ENV) + ['storage']}")
        if isinstance(given_storage, StorageSettings):
            values["storage"] = given_storage
        else:
            storage.update(given_storage or {})
            bad = sorted(set(storage) - set(STORAGE_ENV))
            if bad:
                raise SpecError(f"settings: unknown storage setting(s) {bad}; known: {sorted(STORAGE_ENV)}")
            values["storage"] = StorageSettings(**storage)
        return cls(**values, source=" < ".join(["defaults", *sources]))

    def with_(self, **changes: Any) -> Settings:
        """A copy with some settings changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def online_file(self) -> str | None:
        """The SQLite online store's path: configured, or <root>/online.sqlite for a local root."""
        if self.online_path:
            return str(Path(self.online_path).expanduser().resolve())
        return None if self.is_remote else str(local_path(self.root) / "online.sqlite")


def _json_object(text: str, what: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise SpecError(f"settings: {what} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise SpecError(f"settings: {what} must be a JSON object, not {type(value).__name__}")
    return value


def _read_yaml(path: Path) -> dict:
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise SpecError(f"settings: {path} is not valid YAML: {error}") from None
    if not isinstance(loaded, dict):
        raise SpecError(f"settings: {path} must hold a mapping of settings, not {type(loaded).__name__}")
    root = loaded.get("root")
    if isinstance(root, str) and not is_remote_root(root) and not Path(root).expanduser().is_absolute():
        loaded["root"] = str(path.parent / root)  # relative to the file, not the working directory
    return loaded
