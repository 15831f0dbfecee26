"""Reliability: retries through injected faults, integrity, no silent overwrite, resumable runs."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from botocore.credentials import ReadOnlyCredentials

import file_dataset
from conftest import ACCESS_KEY, BUCKET, SECRET_KEY
from faults import FaultProxy
from file_dataset import (
    FileDataset,
    FileDatasetError,
    IntegrityError,
    ObjectExistsError,
    TransferError,
)
from file_dataset.uri import S3Location

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="session")
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    p = FaultProxy(int(moto_endpoint.rsplit(":", 1)[1])).start()
    yield p
    p.stop()


@pytest.fixture
def through_proxy(
    proxy: FaultProxy, s3_client: object, engine: str
) -> Iterator[Callable[[int], FileDataset]]:
    """Makes FileDatasets that talk to moto through the fault proxy (faults off until set)."""
    proxy.set(0.0)
    made: list[FileDataset] = []

    def make(retries: int = 10) -> FileDataset:
        ds = FileDataset(
            credentials=ReadOnlyCredentials(ACCESS_KEY, SECRET_KEY, None),
            endpoint_url=proxy.endpoint,
            region_name="us-east-1",
            retries=retries,
            engine=engine,  # type: ignore[arg-type]
        )
        made.append(ds)
        return ds

    yield make
    proxy.set(0.0)
    for ds in made:
        ds.close()


@pytest.fixture
def faulty(through_proxy: Callable[[int], FileDataset]) -> FileDataset:
    return through_proxy(10)


def put_many(client: object, n: int, prefix: str = "src") -> dict[str, bytes]:
    data = {f"{prefix}/{i:03d}.bin": os.urandom(1000 + i) for i in range(n)}
    for key, body in data.items():
        client.put_object(Bucket=BUCKET, Key=key, Body=body)  # type: ignore[attr-defined]
    return data


def read(client: object, key: str) -> bytes:
    return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()  # type: ignore[attr-defined,no-any-return]


def test_200_downloads_survive_20_percent_faults(
    faulty: FileDataset, proxy: FaultProxy, s3_client: object, tmp_path: Path
) -> None:
    data = put_many(s3_client, 200)
    proxy.set(0.2)  # cut, 503, reset, flip
    got = faulty.downloader({k: f"s3://{BUCKET}/{k}" for k in data}).into_dir(tmp_path)
    assert all(got[k].read_bytes() == body for k, body in data.items())
    assert sum(proxy.counts[m] for m in ("cut", "503", "reset", "flip")) >= 20
    assert not list(tmp_path.rglob("*.part"))


def test_200_uploads_survive_20_percent_faults(
    faulty: FileDataset, proxy: FaultProxy, s3_client: object, tmp_path: Path
) -> None:
    files = {}
    for i in range(200):
        files[f"f{i:03d}.bin"] = tmp_path / f"{i}.bin"
        files[f"f{i:03d}.bin"].write_bytes(os.urandom(500 + i))
    proxy.set(0.2, ("cut", "503", "reset"))
    out = faulty.upload_files(files, f"s3://{BUCKET}/up", id="run")
    faults = sum(proxy.counts[m] for m in ("cut", "503", "reset"))
    proxy.set(0.0)
    for name, uri in out.items():
        assert read(s3_client, str(uri).removeprefix(f"s3://{BUCKET}/")) == files[name].read_bytes()
    assert faults >= 20


def copy_fn(input_dir: Path, output_dir: Path) -> dict[str, Path]:
    (output_dir / "out.bin").write_bytes((input_dir / "in.bin").read_bytes())
    return {"out.bin": output_dir / "out.bin"}


def test_100_row_map_survives_20_percent_faults(
    faulty: FileDataset, proxy: FaultProxy, s3_client: object
) -> None:
    data = put_many(s3_client, 100)
    df = pd.DataFrame({"in.bin": [f"s3://{BUCKET}/{k}" for k in data], "id": range(100)})
    proxy.set(0.2, ("cut", "503", "reset"))
    out = df.files.map(copy_fn, f"s3://{BUCKET}/mapped", dataset=faulty, progress=False)
    assert sum(proxy.counts[m] for m in ("cut", "503", "reset")) >= 20
    proxy.set(0.0)
    for (key, body), uri in zip(data.items(), out["out.bin"], strict=True):
        assert read(s3_client, uri.removeprefix(f"s3://{BUCKET}/")) == body, key
    markers = s3_client.list_objects_v2(  # type: ignore[attr-defined]
        Bucket=BUCKET, Prefix="mapped/.file-dataset/rows/"
    )
    assert markers["KeyCount"] == 100


def test_every_attempt_faulted_download_is_a_clear_error_and_leaves_no_file(
    through_proxy: Callable[[int], FileDataset],
    proxy: FaultProxy,
    s3_client: object,
    tmp_path: Path,
) -> None:
    data = put_many(s3_client, 3)
    faulty = through_proxy(2)
    proxy.set(1.0, ("cut", "503", "reset"))
    with pytest.raises(FileDatasetError) as info:
        faulty.downloader({k: f"s3://{BUCKET}/{k}" for k in data}).into_dir(tmp_path / "d")
    assert isinstance(info.value, TransferError | IntegrityError)
    assert BUCKET in str(info.value)
    assert not [p for p in (tmp_path / "d").rglob("*") if p.is_file()]


def test_every_part_faulted_upload_leaves_no_object_and_no_open_upload(
    faulty: FileDataset, proxy: FaultProxy, s3_client: object, tmp_path: Path, engine: str
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * 1024 * 1024))
    # Only the part uploads fail: create and abort get through, as they would.
    proxy.set(1.0, ("503", "reset"), only=b"partNumber=")
    with pytest.raises(FileDatasetError):
        faulty.upload_files({"big.bin": big}, f"s3://{BUCKET}/big", id="x")
    proxy.set(0.0)
    uploads = s3_client.list_multipart_uploads(Bucket=BUCKET)  # type: ignore[attr-defined]
    assert uploads.get("Uploads", []) == []
    listed = s3_client.list_objects_v2(Bucket=BUCKET, Prefix="big/")  # type: ignore[attr-defined]
    assert listed["KeyCount"] == 0


def test_every_attempt_faulted_upload_leaves_no_partial_object(
    through_proxy: Callable[[int], FileDataset],
    proxy: FaultProxy,
    s3_client: object,
    tmp_path: Path,
) -> None:
    src = tmp_path / "a.bin"
    src.write_bytes(os.urandom(4096))
    faulty = through_proxy(2)
    proxy.set(1.0, ("503", "reset"), only=b"PUT ")
    with pytest.raises(FileDatasetError):
        faulty.upload_files({"a.bin": src}, f"s3://{BUCKET}/none", id="x")
    proxy.set(0.0)
    assert s3_client.list_objects_v2(Bucket=BUCKET, Prefix="none/")["KeyCount"] == 0  # type: ignore[attr-defined]


def test_corrupted_body_is_retried_then_reported(
    through_proxy: Callable[[int], FileDataset],
    proxy: FaultProxy,
    s3_client: object,
    tmp_path: Path,
) -> None:
    data = put_many(s3_client, 1)
    key = next(iter(data))
    proxy.set(1.0, ("flip",), only=b"GET ")
    faulty = through_proxy(3)
    with pytest.raises(IntegrityError, match="MD5"):
        faulty.downloader({"x": f"s3://{BUCKET}/{key}"}).into_dir(tmp_path / "c")
    assert proxy.counts["flip"] >= 3  # detected and retried each time
    assert not (tmp_path / "c" / "x").exists()
    proxy.set(0.5, ("flip",), only=b"GET ")
    got = through_proxy(20).downloader({"x": f"s3://{BUCKET}/{key}"}).into_dir(tmp_path / "ok")
    assert got["x"].read_bytes() == data[key]


def test_retried_put_whose_reply_was_lost_succeeds(
    faulty: FileDataset, proxy: FaultProxy, s3_client: object, tmp_path: Path
) -> None:
    src = tmp_path / "a.bin"
    src.write_bytes(os.urandom(3000))
    proxy.set(1.0, ("cut",), only=b"PUT ", budget=1)  # the PUT lands; its reply is cut
    out = faulty.upload_files({"a.bin": src}, f"s3://{BUCKET}/lost", id="x")
    assert proxy.counts["cut"] == 1
    assert read(s3_client, str(out["a.bin"]).removeprefix(f"s3://{BUCKET}/")) == src.read_bytes()


def test_object_changed_mid_download_is_a_clear_error(
    dataset: FileDataset, s3_client: object, tmp_path: Path
) -> None:
    s3_client.put_object(Bucket=BUCKET, Key="k", Body=b"v1" * 100)  # type: ignore[attr-defined]
    old_etag = s3_client.head_object(Bucket=BUCKET, Key="k")["ETag"]  # type: ignore[attr-defined]
    s3_client.put_object(Bucket=BUCKET, Key="k", Body=b"v2" * 100)  # type: ignore[attr-defined]
    store = FileDataset(endpoint_url=dataset.endpoint_url, engine="boto3")._rt().s3
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(IntegrityError, match="changed while it was being downloaded"):
            store._get_range(S3Location(BUCKET, "k"), fd, 0, 200, old_etag)
    finally:
        os.close(fd)


def test_uploads_send_a_checksum_the_server_verifies(
    moto_endpoint: str, s3_client: object, tmp_path: Path
) -> None:
    ds = FileDataset(endpoint_url=moto_endpoint, engine="boto3")
    seen: list[dict[str, str]] = []
    ds.client.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: seen.append(dict(request.headers))
    )
    src = tmp_path / "a"
    src.write_bytes(b"hello")
    ds.upload_files({"a": src}, f"s3://{BUCKET}/sum", id="x")
    assert seen
    md5 = seen[0]["Content-MD5"]
    assert (md5.decode() if isinstance(md5, bytes) else md5) == "XUFAKrxLKna5cZ2REBfFkg=="


# -- no silent overwrite ------------------------------------------------------


def test_upload_refuses_to_overwrite(
    dataset: FileDataset, s3_client: object, tmp_path: Path
) -> None:
    src = tmp_path / "a"
    src.write_bytes(b"first")
    dataset.upload_files({"a": src}, f"s3://{BUCKET}/o", id="x")
    src.write_bytes(b"second")
    with pytest.raises(FileExistsError) as info:
        dataset.upload_files({"a": src}, f"s3://{BUCKET}/o", id="x")
    assert isinstance(info.value, ObjectExistsError)
    assert read(s3_client, "o/x/a") == b"first"
    dataset.upload_files({"a": src}, f"s3://{BUCKET}/o", id="x", overwrite=True)
    assert read(s3_client, "o/x/a") == b"second"


def test_conditional_put_guards_even_without_the_listing(
    dataset: FileDataset, s3_client: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_client.put_object(Bucket=BUCKET, Key="race/x/a", Body=b"theirs")  # type: ignore[attr-defined]
    monkeypatch.setattr(type(dataset.engine), "refuse_existing", lambda *a, **k: None)
    src = tmp_path / "a"
    src.write_bytes(b"ours")
    with pytest.raises(ObjectExistsError):
        dataset.upload_files({"a": src}, f"s3://{BUCKET}/race", id="x")
    assert read(s3_client, "race/x/a") == b"theirs"


def test_map_refuses_to_overwrite_before_any_transfer(
    dataset: FileDataset, s3_client: object
) -> None:
    data = put_many(s3_client, 3)
    df = pd.DataFrame({"in.bin": [f"s3://{BUCKET}/{k}" for k in data], "id": [1, 2, 3]})
    df.files.map(copy_fn, f"s3://{BUCKET}/m", dataset=dataset, progress=False)
    calls: list[int] = []
    with pytest.raises(ObjectExistsError, match="resume=True"):
        df.files.map(lambda i, o: calls.append(1), f"s3://{BUCKET}/m", dataset=dataset)
    assert calls == []


def test_local_upload_refuses_to_overwrite(dataset: FileDataset, tmp_path: Path) -> None:
    src = tmp_path / "a"
    src.write_bytes(b"one")
    dataset.upload_files({"a": src}, tmp_path / "out", id="x")
    src.write_bytes(b"two")
    with pytest.raises(ObjectExistsError):
        dataset.upload_files({"a": src}, tmp_path / "out", id="x")
    assert (tmp_path / "out" / "x" / "a").read_bytes() == b"one"


# -- resumable, idempotent map -------------------------------------------------

WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import pandas as pd
    from botocore.credentials import ReadOnlyCredentials
    import file_dataset

    def slow_copy(input_dir, output_dir):
        time.sleep(0.05)
        (output_dir / "a.bin").write_bytes((input_dir / "in.bin").read_bytes())
        (output_dir / "b.bin").write_bytes((input_dir / "in.bin").read_bytes()[::-1])
        return None

    endpoint, into = sys.argv[1], sys.argv[2]
    ds = file_dataset.FileDataset(ReadOnlyCredentials("{ak}", "{sk}", None),
                                  endpoint_url=endpoint, region_name="us-east-1", engine="boto3")
    df = pd.DataFrame({{"in.bin": [f"s3://{bucket}/src/{{i:03d}}.bin" for i in range(40)],
                       "id": [f"row{{i}}" for i in range(40)]}})
    df.files.map(slow_copy, into, dataset=ds, progress=False, resume=True)
    """
).format(ak=ACCESS_KEY, sk=SECRET_KEY, bucket=BUCKET)


def _objects(client: object, prefix: str) -> dict[str, str]:
    """Relative key -> ETag; markers (which name their run's prefix) count by name only."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)  # type: ignore[attr-defined]
    return {
        o["Key"][len(prefix) :]: "marker" if "/rows/" in o["Key"] else o["ETag"]
        for p in pages
        for o in p.get("Contents", [])
        if "/manifests/" not in o["Key"]
    }


def test_map_resumes_after_the_process_is_killed(
    moto_endpoint: str, s3_client: object, tmp_path: Path
) -> None:
    put_many(s3_client, 40)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    run = [sys.executable, str(script), moto_endpoint]
    subprocess.run([*run, f"s3://{BUCKET}/clean"], check=True, timeout=120)
    proc = subprocess.Popen([*run, f"s3://{BUCKET}/killed"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = s3_client.list_objects_v2(Bucket=BUCKET, Prefix="killed/.file-dataset/rows/")  # type: ignore[attr-defined]
        if done["KeyCount"] >= 8:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _objects(s3_client, "killed/")
    assert 0 < len([k for k in partial if "/rows/" in k]) < 40  # really interrupted
    subprocess.run([*run, f"s3://{BUCKET}/killed"], check=True, timeout=120)
    assert _objects(s3_client, "killed/") == _objects(s3_client, "clean/")
    done = file_dataset.read_manifest(
        f"s3://{BUCKET}/killed", dataset=FileDataset(endpoint_url=moto_endpoint)
    )
    assert sorted(done["id"]) == sorted(f"row{i}" for i in range(40))
    assert done.set_index("id").loc["row7", "b.bin"] == f"s3://{BUCKET}/killed/row7/b.bin"


def test_resume_skips_completed_rows(dataset: FileDataset, s3_client: object) -> None:
    data = put_many(s3_client, 6)
    df = pd.DataFrame({"in.bin": [f"s3://{BUCKET}/{k}" for k in data], "id": range(6)})
    first = df.head(3).files.map(copy_fn, f"s3://{BUCKET}/r", dataset=dataset, progress=False)
    calls: list[str] = []

    def counting(input_dir: Path, output_dir: Path) -> dict[str, Path]:
        calls.append((input_dir / "in.bin").read_bytes()[:4].hex())
        return copy_fn(input_dir, output_dir)

    full = df.files.map(counting, f"s3://{BUCKET}/r", resume=True, dataset=dataset, progress=False)
    assert len(calls) == 3
    assert full.head(3)["out.bin"].tolist() == first["out.bin"].tolist()
    assert full["out.bin"].tolist() == [f"s3://{BUCKET}/r/{i}/out.bin" for i in range(6)]
    manifest = file_dataset.read_manifest(f"s3://{BUCKET}/r", dataset=dataset)
    assert sorted(manifest["id"].tolist()) == list(range(6))


def test_resume_needs_an_id_column(dataset: FileDataset) -> None:
    df = pd.DataFrame({"in.bin": [f"s3://{BUCKET}/x"]})
    with pytest.raises(ValueError, match="id column"):
        df.files.map(copy_fn, f"s3://{BUCKET}/r", resume=True, dataset=dataset)


def test_md5_helper_matches_server_etag(s3_client: object, tmp_path: Path) -> None:
    body = os.urandom(777)
    s3_client.put_object(Bucket=BUCKET, Key="e", Body=body)  # type: ignore[attr-defined]
    etag = s3_client.head_object(Bucket=BUCKET, Key="e")["ETag"].strip('"')  # type: ignore[attr-defined]
    assert etag == hashlib.md5(body).hexdigest()
