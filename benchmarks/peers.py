"""The peers we measure against, each as a function that does the whole job."""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from benchmarks.servers import ACCESS_KEY, SECRET_KEY


def peer_env() -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def boto3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=32,
        ),
    )


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, env=peer_env(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-500:]}")


def s5cmd_download(endpoint: str, prefix: str, dest: Path) -> None:
    _run(
        [
            shutil.which("s5cmd") or "s5cmd",
            "--endpoint-url",
            endpoint,
            "cp",
            f"{prefix}/*",
            f"{dest}/",
        ]
    )


def s5cmd_upload(endpoint: str, src: Path, prefix: str) -> None:
    _run(
        [
            shutil.which("s5cmd") or "s5cmd",
            "--endpoint-url",
            endpoint,
            "cp",
            f"{src}/*",
            f"{prefix}/",
        ]
    )


def awscli_download(endpoint: str, prefix: str, dest: Path) -> None:
    _run(
        [
            shutil.which("aws") or "aws",
            "--endpoint-url",
            endpoint,
            "s3",
            "cp",
            "--recursive",
            "--only-show-errors",
            f"{prefix}/",
            str(dest),
        ]
    )


def awscli_upload(endpoint: str, src: Path, prefix: str) -> None:
    _run(
        [
            shutil.which("aws") or "aws",
            "--endpoint-url",
            endpoint,
            "s3",
            "cp",
            "--recursive",
            "--only-show-errors",
            str(src),
            f"{prefix}/",
        ]
    )


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def boto3_download_file_loop(client: Any, uris: list[str], dest: Path) -> None:
    for uri in uris:
        bucket, key = _split(uri)
        client.download_file(bucket, key, str(dest / key.rsplit("/", 1)[-1]))


def boto3_get_object_loop(client: Any, uris: list[str], dest: Path) -> None:
    for uri in uris:
        bucket, key = _split(uri)
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        (dest / key.rsplit("/", 1)[-1]).write_bytes(body)


def boto3_upload_file_loop(client: Any, files: list[Path], prefix: str) -> None:
    bucket, key = _split(prefix)
    for path in files:
        client.upload_file(str(path), bucket, f"{key}/{path.name}")


def boto3_threadpool_download(client: Any, uris: list[str], dest: Path, threads: int = 16) -> None:
    def one(uri: str) -> None:
        bucket, key = _split(uri)
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        (dest / key.rsplit("/", 1)[-1]).write_bytes(body)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, uris))


def boto3_map_loop(client: Any, uris: list[str], ids: list[str], into: str, work: Path) -> None:
    """What users write by hand: per row, get -> copy -> put."""
    out_bucket, out_key = _split(into)
    for uri, row_id in zip(uris, ids, strict=True):
        bucket, key = _split(uri)
        src = work / "in.bin"
        src.write_bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        dst = work / "out.bin"
        shutil.copyfile(src, dst)
        with dst.open("rb") as f:
            client.put_object(Bucket=out_bucket, Key=f"{out_key}/{row_id}/out.bin", Body=f)
