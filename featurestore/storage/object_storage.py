"""S3 object storage settings, read once from the environment, for both engines.

One source of truth for an S3 (or S3-compatible: MinIO, SeaweedFS, Ceph) store root:

- `S3Settings.from_env()` reads `FEATURESTORE_S3_*` (all optional: without them Spark and delta-rs use AWS's
  default credential chain and endpoint);
- `spark_conf()` is the Spark/Hadoop s3a configuration for a new session (`spark.hadoop.fs.s3a.*`);
- `session_conf(bucket)` is the same as per-bucket Hadoop keys a running session accepts through
  `spark.conf.set` (Spark copies session settings into the Hadoop configuration of each read and write);
- `storage_options()` is the delta-rs (`deltalake`) / object_store equivalent;
- `delta_rs_uri(path)` maps Hadoop's `s3a://` to the `s3://` delta-rs reads;
- `s3a_jars()` are the hadoop-aws and AWS SDK jars `make setup` fetches.

Secrets never appear in a repr, an error or a log line.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from featurestore.errors import FeatureStoreError

ENDPOINT_ENV = "FEATURESTORE_S3_ENDPOINT"
ACCESS_KEY_ENV = "FEATURESTORE_S3_ACCESS_KEY"
SECRET_KEY_ENV = "FEATURESTORE_S3_SECRET_KEY"
SESSION_TOKEN_ENV = "FEATURESTORE_S3_SESSION_TOKEN"
REGION_ENV = "FEATURESTORE_S3_REGION"
PATH_STYLE_ENV = "FEATURESTORE_S3_PATH_STYLE"
ROOT_ENV = "FEATURESTORE_ROOT"
S3A_JARS = ("hadoop-aws-*.jar", "bundle-*.jar")  # org.apache.hadoop:hadoop-aws, software.amazon.awssdk:bundle
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _flag(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise FeatureStoreError(f"${name} must be true or false, got {value!r}")


@dataclass(frozen=True)
class S3Settings:
    """Where S3 is and how to sign requests; `None` fields fall back to the AWS defaults."""

    endpoint: str | None = None
    region: str | None = None
    path_style: bool = False
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (self.access_key is None) != (self.secret_key is None):
            raise FeatureStoreError(f"set both ${ACCESS_KEY_ENV} and ${SECRET_KEY_ENV}, or neither (then the AWS "
                                    "default credential chain is used)")
        if self.endpoint is not None and urlparse(self.endpoint).scheme not in ("http", "https"):
            raise FeatureStoreError(f"${ENDPOINT_ENV} must be an http:// or https:// URL, got {self.endpoint!r}")

    def __repr__(self) -> str:
        shown = "***" if self.access_key else None
        return (f"S3Settings(endpoint={self.endpoint!r}, region={self.region!r}, path_style={self.path_style}, "
                f"access_key={shown!r}, secret_key={'***' if self.secret_key else None!r})")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> S3Settings:
        env = os.environ if environ is None else environ
        return cls(endpoint=env.get(ENDPOINT_ENV) or None, region=env.get(REGION_ENV) or None,
                   path_style=_flag(PATH_STYLE_ENV, env.get(PATH_STYLE_ENV, "")),
                   access_key=env.get(ACCESS_KEY_ENV) or None, secret_key=env.get(SECRET_KEY_ENV) or None,
                   session_token=env.get(SESSION_TOKEN_ENV) or None)

    @property
    def configured(self) -> bool:
        """True when any setting was given (else the AWS defaults apply unchanged)."""
        return any((self.endpoint, self.region, self.path_style, self.access_key))

    @property
    def insecure(self) -> bool:
        return bool(self.endpoint and self.endpoint.startswith("http://"))

    def _hadoop(self) -> dict[str, str]:
        """The s3a settings without prefix (`endpoint`, `access.key`, ...)."""
        conf: dict[str, str] = {}
        if self.endpoint:
            conf["endpoint"] = self.endpoint
            conf["connection.ssl.enabled"] = str(not self.insecure).lower()
        if self.region:
            conf["endpoint.region"] = self.region
        if self.path_style:
            conf["path.style.access"] = "true"
        if self.access_key:
            conf["access.key"] = self.access_key
            conf["secret.key"] = self.secret_key or ""
            if self.session_token:
                conf["session.token"] = self.session_token
                conf["aws.credentials.provider"] = "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
            else:
                conf["aws.credentials.provider"] = "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        return conf

    def spark_conf(self) -> dict[str, str]:
        """`spark.hadoop.fs.s3a.*` settings for a session about to be created (all buckets)."""
        return {f"spark.hadoop.fs.s3a.{key}": value for key, value in self._hadoop().items()}

    def session_conf(self, bucket: str) -> dict[str, str]:
        """Per-bucket Hadoop keys (`fs.s3a.bucket.<bucket>.*`) to `spark.conf.set` on a running session.

        They apply to the first filesystem instance of that bucket in the JVM (Hadoop caches instances), and work
        through Spark Connect too (`spark.conf.set` is a session setting there as well).
        """
        return {f"fs.s3a.bucket.{bucket}.{key}": value for key, value in self._hadoop().items()}

    def storage_options(self) -> dict[str, str]:
        """delta-rs `storage_options` (object_store's AWS keys) for the same store."""
        options: dict[str, str] = {}
        if self.endpoint:
            options["AWS_ENDPOINT_URL"] = self.endpoint
            if self.insecure:
                options["AWS_ALLOW_HTTP"] = "true"
        if self.region:
            options["AWS_REGION"] = self.region
        if self.path_style:
            options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false"
        if self.access_key:
            options["AWS_ACCESS_KEY_ID"] = self.access_key
            options["AWS_SECRET_ACCESS_KEY"] = self.secret_key or ""
            if self.session_token:
                options["AWS_SESSION_TOKEN"] = self.session_token
        return options


def is_s3(path: str) -> bool:
    return path.startswith(("s3a://", "s3://", "s3n://"))


def bucket_of(path: str) -> str:
    if not is_s3(path):
        raise FeatureStoreError(f"not an S3 path: {path!r}")
    return urlparse(path).netloc


def delta_rs_uri(path: str) -> str:
    """`s3a://bucket/key` (Hadoop's scheme) as `s3://bucket/key` (delta-rs / object_store's); others unchanged."""
    for scheme in ("s3a://", "s3n://"):
        if path.startswith(scheme):
            return "s3://" + path[len(scheme):]
    return path


def s3a_jars(jars_dir: str | os.PathLike) -> list[str]:
    """hadoop-aws and the AWS SDK bundle from the jars folder; a clear error if setup did not fetch them."""
    found = [sorted(glob.glob(str(Path(jars_dir) / pattern))) for pattern in S3A_JARS]
    if not all(found):
        raise FeatureStoreError(f"s3a jars (hadoop-aws, AWS SDK bundle) not found in {jars_dir}: run `make setup`")
    return [matches[-1] for matches in found]


def spark_settings(jars_dir: str | os.PathLike, root: str | None = None,
                   environ: Mapping[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The extra jars and conf a new session needs for the store root (`root` or $FEATURESTORE_ROOT): nothing
    unless the root is on S3 or `FEATURESTORE_S3_*` is set."""
    env = os.environ if environ is None else environ
    settings = S3Settings.from_env(env)
    root = root if root is not None else env.get(ROOT_ENV)
    if not (settings.configured or (root and is_s3(root))):
        return [], {}
    return s3a_jars(jars_dir), settings.spark_conf()
