"""One large-object transfer in a fresh process, reporting time and peak RSS growth.

Run by benchmarks/run.py: python -m benchmarks.large MODE ENDPOINT ARGS... -> JSON on stdout.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import uuid
from pathlib import Path

from botocore.credentials import ReadOnlyCredentials

from benchmarks.peers import boto3_client
from benchmarks.servers import ACCESS_KEY, SECRET_KEY
from file_dataset import FileDataset


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    mode, endpoint, engine, prefix, local = sys.argv[1:6]
    names = [f"big-{i}.bin" for i in range(int(sys.argv[6]))]
    ds = FileDataset(
        ReadOnlyCredentials(ACCESS_KEY, SECRET_KEY, None),
        endpoint_url=endpoint,
        engine=engine,  # type: ignore[arg-type]
    )
    client = boto3_client(endpoint)
    _ = ds.client  # build clients before the baseline
    bucket, _, key = prefix.removeprefix("s3://").partition("/")
    base = rss_mb()
    start = time.perf_counter()
    if mode == "ours-down":
        ds.downloader({n: f"{prefix}/{n}" for n in names}).into_dir(local)
    elif mode == "ours-up":
        ds.upload_files({n: Path(local) / n for n in names}, prefix + "-up", id=uuid.uuid4().hex)
    elif mode == "boto3-down":
        for n in names:
            body = client.get_object(Bucket=bucket, Key=f"{key}/{n}")["Body"]
            with (Path(local) / n).open("wb") as out:
                for chunk in body.iter_chunks(8 * 1024 * 1024):
                    out.write(chunk)
    elif mode == "boto3-up":
        for n in names:
            with (Path(local) / n).open("rb") as f:
                client.put_object(Bucket=bucket, Key=f"{key}-boto3up/{n}", Body=f)
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rss_growth_mb": rss_mb() - base}))


if __name__ == "__main__":
    main()
