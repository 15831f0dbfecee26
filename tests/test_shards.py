"""Tar shards: pack, read back with few requests, map into shards, unpack, and untrusted input."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pandas as pd
import pytest

from conftest import BUCKET, Remote
from file_dataset import (
    FileDataset,
    IntegrityError,
    InvalidURIError,
    ObjectExistsError,
    ValidationError,
)
from file_dataset.shards import ShardWriter, coalesce, index_tar, parse_size
from file_dataset.uri import TarMember, parse_uri


def frame(remote: Remote, n: int, size: int = 100) -> tuple[pd.DataFrame, dict[str, bytes]]:
    payloads = {}
    rows = []
    for i in range(n):
        a, b = os.urandom(size + i), os.urandom(i)
        rows.append({"a.bin": remote.put(f"src/{i}/a", a), "b.bin": remote.put(f"src/{i}/b", b)})
        payloads[f"r{i}/a.bin"], payloads[f"r{i}/b.bin"] = a, b
    df = pd.DataFrame(rows)
    if remote.kind == "local":
        df = df.map(Path)
    df["id"] = [f"r{i}" for i in range(n)]
    return df, payloads


def shard_bytes(remote: Remote, number: int = 0) -> bytes:
    return remote.read(f"{remote.root}/packed/shard-{number:06d}.tar")


def test_pack_then_read_back_byte_identical(
    dataset: FileDataset, remote: Remote, tmp_path: Path
) -> None:
    df, payloads = frame(remote, 30)
    packed = df.files.pack(remote.root + "/packed", shard_size="2KB", dataset=dataset)
    assert packed.index.equals(df.index)
    first = packed.loc[0, "a.bin"]
    assert first == f"tar://r0/a.bin::{remote.root}/packed/shard-000000.tar"
    assert len({m.split("::")[1] for m in packed["a.bin"]}) > 1  # several shards
    local = packed.files.download(tmp_path / "back", dataset=dataset)
    for i in range(30):
        assert local.loc[i, "a.bin"].read_bytes() == payloads[f"r{i}/a.bin"]
        assert local.loc[i, "b.bin"].read_bytes() == payloads[f"r{i}/b.bin"]
    with packed.files.download_row(3, dataset=dataset) as tmp:
        assert (tmp / "a.bin").read_bytes() == payloads["r3/a.bin"]
    got = dataset.downloader({"x": first}).into_dir(tmp_path / "one")
    assert got["x"].read_bytes() == payloads["r0/a.bin"]


def test_shards_are_plain_tars_with_rows_in_order(
    dataset: FileDataset, remote: Remote, tmp_path: Path
) -> None:
    df, payloads = frame(remote, 5)
    df.files.pack(remote.root + "/packed", dataset=dataset)
    data = shard_bytes(remote)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        assert names == [f"r{i}/{c}" for i in range(5) for c in ("a.bin", "b.bin")]
        assert tar.extractfile("r2/a.bin").read() == payloads["r2/a.bin"]  # type: ignore[union-attr]
    (tmp_path / "s.tar").write_bytes(data)
    listing = subprocess.run(
        ["tar", "-tf", str(tmp_path / "s.tar")], capture_output=True, text=True, check=True
    )
    assert listing.stdout.split() == names
    index = json.loads(remote.read(f"{remote.root}/packed/shard-000000.tar.index.json"))
    entry = index["members"]["r4/b.bin"]
    assert data[entry["offset"] : entry["offset"] + entry["size"]] == payloads["r4/b.bin"]


def test_member_uris_survive_csv_and_parquet(
    dataset: FileDataset, remote: Remote, tmp_path: Path
) -> None:
    df, payloads = frame(remote, 4)
    packed = df.files.pack(remote.root + "/packed", dataset=dataset)
    packed.to_csv(tmp_path / "t.csv", index=False)
    packed.to_parquet(tmp_path / "t.parquet")
    for reread in (pd.read_csv(tmp_path / "t.csv"), pd.read_parquet(tmp_path / "t.parquet")):
        assert reread.files.columns() == ["a.bin", "b.bin"]
        reread.files.validate(exists=True, dataset=dataset)
        with reread.files.download_row(1, dataset=dataset) as tmp:
            assert (tmp / "b.bin").read_bytes() == payloads["r1/b.bin"]


def test_reading_1000_members_takes_at_most_5_gets(
    moto_endpoint: str, s3_client: object, tmp_path: Path
) -> None:
    ds = FileDataset(endpoint_url=moto_endpoint, engine="boto3")
    src = tmp_path / "src"
    src.mkdir()
    mapping = {}
    for i in range(1000):
        (src / f"f{i}").write_bytes(os.urandom(64))
        mapping[f"m/{i}.bin"] = src / f"f{i}"
    members = ds.pack(mapping, f"s3://{BUCKET}/one")
    gets: list[str] = []
    ds.client.meta.events.register(
        "before-send.s3.GetObject", lambda request, **_: gets.append(request.url)
    )
    got = ds.downloader(members).into_dir(tmp_path / "out")
    assert len(gets) <= 5, gets
    assert all(got[n].read_bytes() == mapping[n].read_bytes() for n in list(got)[::97])
    gets.clear()
    ds.downloader(dict(list(members.items())[:10])).into_dir(tmp_path / "again")
    assert len(gets) <= 1  # the index (and here the block) is cached


def test_map_with_packed_outputs_then_unpack(dataset: FileDataset, remote: Remote) -> None:
    df, payloads = frame(remote, 12)

    def rev(input_dir: Path, output_dir: Path) -> dict[str, Path]:
        (output_dir / "rev.bin").write_bytes((input_dir / "a.bin").read_bytes()[::-1])
        return {"rev.bin": output_dir / "rev.bin"}

    out = df.files.map(
        rev, remote.root + "/mapped", pack=True, shard_size="1KB", dataset=dataset, progress=False
    )
    assert all(isinstance(parse_uri(u), TarMember) for u in out["rev.bin"])
    shards = {u.split("::")[1] for u in out["rev.bin"]}
    assert len(shards) > 1
    loose = out.files.unpack(remote.root + "/loose", dataset=dataset)
    for i in range(12):
        assert str(loose.loc[i, "rev.bin"]) == f"{remote.root}/loose/r{i}/rev.bin"
        assert remote.read(loose.loc[i, "rev.bin"]) == payloads[f"r{i}/a.bin"][::-1]
    chained = out.files.map(
        rev.__call__ if False else _copy_rev,
        remote.root + "/again",
        dataset=dataset,
        progress=False,
    )
    assert remote.read(chained.loc[0, "out.bin"]) == payloads["r0/a.bin"][::-1]


def _copy_rev(input_dir: Path, output_dir: Path) -> dict[str, Path]:
    (output_dir / "out.bin").write_bytes((input_dir / "rev.bin").read_bytes())
    return {"out.bin": output_dir / "out.bin"}


def test_pack_refuses_to_overwrite_existing_shards(dataset: FileDataset, remote: Remote) -> None:
    df, _ = frame(remote, 2)
    df.files.pack(remote.root + "/packed", dataset=dataset)
    before = remote.read(f"{remote.root}/packed/shard-000000.tar")
    with pytest.raises(ObjectExistsError):
        df.files.pack(remote.root + "/packed", dataset=dataset)
    assert remote.read(f"{remote.root}/packed/shard-000000.tar") == before


def test_corrupted_member_is_detected(dataset: FileDataset, remote: Remote, tmp_path: Path) -> None:
    df, _ = frame(remote, 3)
    packed = df.files.pack(remote.root + "/packed", dataset=dataset)
    index = json.loads(remote.read(f"{remote.root}/packed/shard-000000.tar.index.json"))
    data = bytearray(shard_bytes(remote))
    data[index["members"]["r1/a.bin"]["offset"] + 5] ^= 0xFF
    remote.put("packed/shard-000000.tar", bytes(data))
    with pytest.raises(IntegrityError, match="SHA-256"):
        packed.files.download(
            tmp_path / "bad",
            dataset=FileDataset(endpoint_url=dataset.endpoint_url, engine=dataset.engine_name),
        )  # type: ignore[arg-type]
    assert not (tmp_path / "bad" / "r1" / "a.bin").exists()  # never under its final name


def test_truncated_shard_is_a_clear_error(
    dataset: FileDataset, remote: Remote, tmp_path: Path
) -> None:
    df, _ = frame(remote, 3)
    packed = df.files.pack(remote.root + "/packed", dataset=dataset)
    remote.put("packed/shard-000000.tar", shard_bytes(remote)[:600])
    fresh = FileDataset(endpoint_url=dataset.endpoint_url, engine=dataset.engine_name)  # type: ignore[arg-type]
    with pytest.raises((IntegrityError, Exception)) as info:
        packed.files.download(tmp_path / "t", dataset=fresh)
    assert "shard-000000.tar" in str(info.value)
    assert not list((tmp_path / "t").rglob("*.bin"))


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../x"])
def test_index_with_malicious_member_names_is_rejected(
    dataset: FileDataset, remote: Remote, tmp_path: Path, name: str
) -> None:
    df, _ = frame(remote, 1)
    df.files.pack(remote.root + "/packed", dataset=dataset)
    index = json.loads(remote.read(f"{remote.root}/packed/shard-000000.tar.index.json"))
    index["members"][name] = index["members"]["r0/a.bin"]
    remote.put("packed/shard-000000.tar.index.json", json.dumps(index).encode())
    with pytest.raises(IntegrityError, match="unsafe member"):
        dataset.downloader(
            {"ok": f"tar://r0/a.bin::{remote.root}/packed/shard-000000.tar"}
        ).into_dir(tmp_path / "m")
    assert not (tmp_path / "x").exists()


def test_index_offsets_past_the_end_are_rejected(
    dataset: FileDataset, remote: Remote, tmp_path: Path
) -> None:
    df, _ = frame(remote, 1)
    df.files.pack(remote.root + "/packed", dataset=dataset)
    index = json.loads(remote.read(f"{remote.root}/packed/shard-000000.tar.index.json"))
    index["members"]["r0/a.bin"]["offset"] = index["size"] + 10
    remote.put("packed/shard-000000.tar.index.json", json.dumps(index).encode())
    with pytest.raises(IntegrityError, match="outside the shard"):
        dataset.downloader(
            {"a": f"tar://r0/a.bin::{remote.root}/packed/shard-000000.tar"}
        ).into_dir(tmp_path / "o")


def test_member_uri_parsing_rejects_traversal() -> None:
    for bad in (
        "tar://../x::s3://bkt/s.tar",
        "tar:///abs::s3://bkt/s.tar",
        "tar://a",
        "tar://a::tar://b::s3://bkt/s.tar",
    ):
        with pytest.raises(InvalidURIError):
            parse_uri(bad)


def test_index_tar_refuses_links_devices_and_traversal(tmp_path: Path) -> None:
    for kind in ("symlink", "hardlink", "fifo", "dotdot"):
        path = tmp_path / f"{kind}.tar"
        with tarfile.open(path, "w") as tar:
            info = tarfile.TarInfo("../evil" if kind == "dotdot" else "x")
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, "/etc/passwd"
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            tar.addfile(info, io.BytesIO(b"") if info.isreg() else None)
        with pytest.raises(IntegrityError):
            index_tar(path)
    assert not (tmp_path.parent / "evil").exists()


def test_writer_offsets_match_tarfile_for_long_names(tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"payload")
    writer = ShardWriter(tmp_path / "s.tar")
    long_name = "d" * 120 + "/" + "ü" * 60 + ".bin"
    writer.add(long_name, src)
    writer.add("short", src)
    index = writer.close()
    assert index_tar(tmp_path / "s.tar") == index


def test_coalesce_reads_whole_shard_when_most_is_wanted() -> None:
    from file_dataset.shards import MemberEntry

    entries = [(i, MemberEntry(i * 1000, 500, "")) for i in range(100)]
    ranges = coalesce(entries, shard_size=100_000, max_gap=10)
    assert len(ranges) == 1
    sparse = coalesce(entries[::40], shard_size=10**9, max_gap=10)
    assert len(sparse) == 3


def test_parse_size() -> None:
    assert parse_size("256MB") == 256_000_000
    with pytest.raises(ValueError, match="size"):
        parse_size("lots")


def test_validate_exists_checks_members(dataset: FileDataset, remote: Remote) -> None:
    df, _ = frame(remote, 2)
    packed = df.files.pack(remote.root + "/packed", dataset=dataset)
    packed.loc[1, "a.bin"] = f"tar://r9/a.bin::{remote.root}/packed/shard-000000.tar"
    with pytest.raises(ValidationError) as info:
        packed.files.validate(exists=True, dataset=dataset)
    assert info.value.failure_cases[["column", "index"]].values.tolist() == [["a.bin", 1]]
