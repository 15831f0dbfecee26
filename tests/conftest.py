"""Fixtures: a real S3 server over HTTP (moto's server mode) and one conformance
suite that runs every transfer test against both S3 and a local directory."""

from __future__ import annotations

import os
import socket
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials
from moto.server import ThreadedMotoServer

from file_dataset import FileDataset

BUCKET = "test-bucket"
ACCESS_KEY = "AKIDTESTINGTESTING00"
SECRET_KEY = "sentinel-secret-key-do-not-leak"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port, for the whole session."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(key, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_client(moto_endpoint: str):  # type: ignore[no-untyped-def]
    """A plain boto3 client on a freshly reset server holding one empty bucket."""
    req = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(req).close()
    client = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(params=["boto3", "obstore"])
def engine(request: pytest.FixtureRequest) -> str:
    """The conformance axis over transfer engines."""
    return str(request.param)


@pytest.fixture
def dataset(moto_endpoint: str, s3_client: object, engine: str) -> Iterator[FileDataset]:
    """A FileDataset with explicit frozen credentials, pointed at the moto server."""
    ds = FileDataset(
        credentials=ReadOnlyCredentials(ACCESS_KEY, SECRET_KEY, None),
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        engine=engine,  # type: ignore[arg-type]
    )
    yield ds
    ds.close()


@dataclass
class Remote:
    """One place objects live, seen through plain tools (not through file_dataset)."""

    kind: str
    root: str  # the URI prefix: "s3://test-bucket/data" or "/tmp/.../data"
    client: object | None = None

    def uri(self, key: str) -> str:
        return f"{self.root}/{key}"

    def _key(self, uri: str) -> str:
        return uri.removeprefix(f"s3://{BUCKET}/")

    def put(self, key: str, data: bytes) -> str:
        uri = self.uri(key)
        if self.kind == "s3":
            self.client.put_object(Bucket=BUCKET, Key=self._key(uri), Body=data)  # type: ignore[attr-defined]
        else:
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
            Path(uri).write_bytes(data)
        return uri

    def read(self, uri: str | Path) -> bytes:
        if self.kind == "s3":
            resp = self.client.get_object(Bucket=BUCKET, Key=self._key(str(uri)))  # type: ignore[attr-defined]
            return resp["Body"].read()  # type: ignore[no-any-return]
        return Path(uri).read_bytes()

    def listing(self, *, records: bool = True) -> list[str]:
        """Every object, or (``records=False``) all but file-dataset's run records."""
        if self.kind == "s3":
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)  # type: ignore[attr-defined]
            keys = sorted(f"s3://{BUCKET}/{o['Key']}" for p in pages for o in p.get("Contents", []))
        else:
            keys = sorted(str(p) for p in Path(self.root).rglob("*") if p.is_file())
        return [k for k in keys if records or "/.file-dataset/" not in k]


@pytest.fixture(params=["local", "s3"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Remote:
    """The conformance axis: every test using it runs once per store."""
    if request.param == "s3":
        client = request.getfixturevalue("s3_client")
        return Remote("s3", f"s3://{BUCKET}/data", client)
    root = tmp_path / "remote"
    root.mkdir()
    return Remote("local", str(root))
