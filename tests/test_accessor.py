"""The df.files accessor against the moto server (and local paths)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import file_dataset
from conftest import BUCKET, Remote
from file_dataset import FileDataset, InvalidNameError, NoFileColumnsError, RowError


def copy_upper(input_dir: Path, output_dir: Path) -> dict[str, Path]:
    out = output_dir / "upper.txt"
    out.write_text((input_dir / "in.txt").read_text().upper())
    return {"upper.txt": out}


def add_suffix(input_dir: Path, output_dir: Path) -> dict[str, Path]:
    out = output_dir / "final.txt"
    out.write_text((input_dir / "upper.txt").read_text() + "!")
    return {"final.txt": out}


def make_df(remote: Remote, n: int = 5) -> pd.DataFrame:
    uris = [remote.put(f"in/{i}.txt", f"row {i}".encode()) for i in range(n)]
    if remote.kind == "local":
        uris = [Path(u) for u in uris]  # local paths are detected as Path objects
    return pd.DataFrame({"in.txt": uris, "id": [f"r{i}" for i in range(n)]})


def test_accessor_is_registered_and_cheap() -> None:
    df = pd.DataFrame({"in.txt": ["s3://b-x/k"], "id": [1]})
    assert isinstance(df.files, file_dataset.FilesAccessor)
    assert "files" not in df.__dict__


def test_file_columns_are_detected() -> None:
    df = pd.DataFrame(
        {
            "a.mha": ["s3://bkt/a", None],
            "b.txt": [Path("/x"), "file:///y"],
            "label": ["cat", "dog"],
            "mixed": ["s3://bkt/a", "plain"],
            "id": [1, 2],
        }
    )
    assert df.files.columns() == ["a.mha", "b.txt"]


def test_seed_usage_3_map_batch_verbatim(dataset: FileDataset, s3_client: object) -> None:
    for i in (1, 2, 3):
        s3_client.put_object(Bucket=BUCKET, Key=f"image{i}.mha", Body=f"img{i}".encode())  # type: ignore[attr-defined]

    def resample_local_image_file(input_dir: Path, output_dir: Path) -> dict[str, Path]:
        output_file = output_dir / "output.mha"
        output_file.write_bytes((input_dir / "image.mha").read_bytes() * 2)
        return {"output.mha": output_file}

    file_dataset = dataset
    file_dataframe = pd.DataFrame(
        {
            "image.mha": [
                f"s3://{BUCKET}/image1.mha",
                f"s3://{BUCKET}/image2.mha",
                f"s3://{BUCKET}/image3.mha",
            ],
            "id": [1, 2, 3],
        }
    )
    result = file_dataset.map_batch(
        file_dataframe,
        fn=resample_local_image_file,
        upload_options={"into_path": f"s3://{BUCKET}/resampled/"},
    )
    assert list(result.columns) == ["id", "output.mha"]
    assert result["id"].tolist() == [1, 2, 3]
    assert result["output.mha"].tolist() == [
        f"s3://{BUCKET}/resampled/{i}/output.mha" for i in (1, 2, 3)
    ]
    body = s3_client.get_object(Bucket=BUCKET, Key="resampled/2/output.mha")["Body"].read()  # type: ignore[attr-defined]
    assert body == b"img2img2"
    same = file_dataframe.files.map(
        resample_local_image_file, f"s3://{BUCKET}/resampled-again/", dataset=dataset
    )
    assert same["id"].tolist() == result["id"].tolist()


def test_map_chains_two_steps(dataset: FileDataset, remote: Remote) -> None:
    df = make_df(remote)
    out = df.files.map(
        copy_upper, remote.root + "/step1", dataset=dataset, progress=False
    ).files.map(add_suffix, remote.root + "/step2", dataset=dataset, progress=False)
    assert list(out.columns) == ["id", "final.txt"]
    assert out.index.equals(df.index)
    for i, uri in enumerate(out["final.txt"]):
        assert str(uri) == f"{remote.root}/step2/r{i}/final.txt"
        assert remote.read(uri) == f"ROW {i}!".encode()
    if remote.kind == "local":
        assert all(isinstance(v, Path) for v in out["final.txt"])
    else:
        assert all(isinstance(v, str) for v in out["final.txt"])


def test_map_with_local_paths_only(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    paths = []
    for i in range(3):
        (src / f"{i}.txt").write_text(f"local {i}")
        paths.append(str(src / f"{i}.txt"))
    df = pd.DataFrame({"in.txt": paths}, index=["a", "b", "c"])
    out = df.files.map(copy_upper, tmp_path / "out", columns=["in.txt"], progress=False)
    assert out.index.tolist() == ["a", "b", "c"]
    ids = out["id"].tolist()
    assert len(set(ids)) == 3  # generated
    for i, path in enumerate(out["upper.txt"]):
        assert path == tmp_path / "out" / ids[i] / "upper.txt"
        assert path.read_text() == f"LOCAL {i}"


def test_map_on_empty_dataframe_returns_empty_result_with_id(dataset: FileDataset) -> None:
    df = pd.DataFrame({"in.txt": pd.Series([], dtype=object), "id": pd.Series([], dtype=object)})
    out = df.files.map(copy_upper, f"s3://{BUCKET}/o", dataset=dataset, progress=False)
    assert len(out) == 0
    assert list(out.columns) == ["id"]


def test_duplicate_ids_rejected_before_any_transfer(dataset: FileDataset, remote: Remote) -> None:
    df = make_df(remote, 3)
    df["id"] = ["x", "y", "x"]
    calls: list[Path] = []
    with pytest.raises(InvalidNameError, match="duplicate id 'x'"):
        df.files.map(lambda i, o: calls.append(i), remote.root + "/out", dataset=dataset)
    assert calls == []
    assert not any("/out/" in k for k in remote.listing(records=False))


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a\\b", None])
def test_invalid_id_names_its_row(dataset: FileDataset, remote: Remote, bad: object) -> None:
    df = make_df(remote, 3)
    df["id"] = ["ok1", bad, "ok3"]
    with pytest.raises(InvalidNameError, match="row 1"):
        df.files.map(copy_upper, remote.root + "/out", dataset=dataset)
    assert not any("/out/" in k for k in remote.listing(records=False))


def test_no_file_columns_is_a_clear_error(dataset: FileDataset) -> None:
    df = pd.DataFrame({"label": ["a", "b"], "id": [1, 2]})
    with pytest.raises(NoFileColumnsError, match="no file columns"):
        df.files.map(copy_upper, f"s3://{BUCKET}/o", dataset=dataset)


def test_null_cells_mean_the_file_is_absent(dataset: FileDataset, remote: Remote) -> None:
    df = make_df(remote, 3)
    df["extra.txt"] = [remote.put("extra", b"E"), None, None]
    if remote.kind == "local":
        df["extra.txt"] = [Path(df["extra.txt"][0]), None, None]
    seen: dict[str, list[str]] = {}

    def list_inputs(input_dir: Path, output_dir: Path) -> dict[str, Path]:
        names = sorted(p.name for p in input_dir.iterdir())
        seen[(input_dir / "in.txt").read_text()] = names
        out = output_dir / "n.txt"
        out.write_text(",".join(names))
        return {"n.txt": out}

    df.files.map(list_inputs, remote.root + "/out", dataset=dataset, progress=False)
    assert seen == {
        "row 0": ["extra.txt", "in.txt"],
        "row 1": ["in.txt"],
        "row 2": ["in.txt"],
    }


def test_rows_may_return_different_outputs(dataset: FileDataset, remote: Remote) -> None:
    df = make_df(remote, 3)

    def some(input_dir: Path, output_dir: Path) -> dict[str, Path]:
        n = int((input_dir / "in.txt").read_text().split()[1])
        out = {}
        for name in ("even.txt",) if n % 2 == 0 else ("odd.txt", "sub/extra.txt"):
            (output_dir / name).parent.mkdir(exist_ok=True)
            (output_dir / name).write_text(name)
            out[name] = output_dir / name
        return out

    res = df.files.map(some, remote.root + "/out", dataset=dataset, progress=False)
    assert list(res.columns) == ["id", "even.txt", "odd.txt", "sub/extra.txt"]
    assert res["odd.txt"].isna().tolist() == [True, False, True]
    assert res["even.txt"].isna().tolist() == [False, True, False]
    assert remote.read(res["sub/extra.txt"][1]) == b"sub/extra.txt"


def test_fn_returning_none_uploads_everything_in_output_dir(
    dataset: FileDataset, remote: Remote
) -> None:
    df = make_df(remote, 2)

    def write_two(input_dir: Path, output_dir: Path) -> None:
        (output_dir / "a.txt").write_text("a")
        (output_dir / "d").mkdir()
        (output_dir / "d" / "b.txt").write_text("b")

    res = df.files.map(write_two, remote.root + "/out", dataset=dataset, progress=False)
    assert list(res.columns) == ["id", "a.txt", "d/b.txt"]
    assert remote.read(res["d/b.txt"][0]) == b"b"


def _failing_on(row_text: str):  # type: ignore[no-untyped-def]
    def fn(input_dir: Path, output_dir: Path) -> dict[str, Path]:
        text = (input_dir / "in.txt").read_text()
        if text == row_text:
            raise RuntimeError(f"cannot process {text}")
        return copy_upper(input_dir, output_dir)

    return fn


def test_on_error_raise_carries_partial_results(dataset: FileDataset, remote: Remote) -> None:
    df = make_df(remote, 6)
    with pytest.raises(RowError) as info:
        df.files.map(_failing_on("row 3"), remote.root + "/out", dataset=dataset, progress=False)
    err = info.value
    assert err.row == 3
    assert err.id == "r3"
    assert err.stage == "fn"
    assert isinstance(err.__cause__, RuntimeError)
    assert "row 3" in str(err)
    assert isinstance(err, file_dataset.FileDatasetError)
    partial = err.partial
    assert partial is not None
    assert 3 not in partial.index
    assert {0, 1, 2} <= set(partial.index)  # in-order rows before the failure finished
    for label, uri in partial["upper.txt"].items():
        assert remote.read(uri) == f"ROW {label}".encode()


def test_on_error_record_keeps_going(dataset: FileDataset, remote: Remote) -> None:
    df = make_df(remote, 5)
    res = df.files.map(
        _failing_on("row 1"),
        remote.root + "/out",
        on_error="record",
        dataset=dataset,
        progress=False,
    )
    assert list(res.columns) == ["id", "upper.txt", "error"]
    assert res["upper.txt"].isna().tolist() == [False, True, False, False, False]
    assert "fn: RuntimeError: cannot process row 1" in res["error"][1]
    assert res["error"].isna().tolist() == [True, False, True, True, True]


def test_download_failure_is_reported_with_stage(dataset: FileDataset, remote: Remote) -> None:
    df = make_df(remote, 3)
    df.loc[2, "in.txt"] = (
        remote.uri("missing") if remote.kind == "s3" else Path(remote.uri("missing"))
    )
    res = df.files.map(
        copy_upper, remote.root + "/out", on_error="record", dataset=dataset, progress=False
    )
    assert res["error"][2].startswith("download: ObjectNotFoundError")
    with pytest.raises(RowError) as info:
        df.files.map(copy_upper, remote.root + "/out2", dataset=dataset, progress=False)
    assert info.value.stage == "download"
    assert isinstance(info.value.__cause__, FileNotFoundError)


@pytest.mark.parametrize("kind", ["missing", "directory", "outside", "symlink"])
def test_bad_fn_outputs_are_row_errors(
    dataset: FileDataset, remote: Remote, tmp_path: Path, kind: str
) -> None:
    df = make_df(remote, 1)
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")

    def bad(input_dir: Path, output_dir: Path) -> dict[str, Path]:
        target = output_dir / "x"
        if kind == "directory":
            target.mkdir()
        elif kind == "outside":
            target = outside
        elif kind == "symlink":
            target.symlink_to(outside)
        return {"x": target}

    with pytest.raises(RowError) as info:
        df.files.map(bad, remote.root + "/out", dataset=dataset, progress=False)
    assert info.value.stage == "fn"
    assert not any("/out/" in k for k in remote.listing(records=False))


def test_temp_dirs_are_removed_after_map(dataset: FileDataset, remote: Remote) -> None:
    df = make_df(remote, 4)
    dirs: list[Path] = []

    def record_dirs(input_dir: Path, output_dir: Path) -> dict[str, Path]:
        dirs.extend([input_dir, output_dir])
        assert oct(input_dir.parent.stat().st_mode & 0o777) == "0o700"
        return copy_upper(input_dir, output_dir)

    df.files.map(record_dirs, remote.root + "/out", dataset=dataset, progress=False)
    assert len(dirs) == 8
    assert not any(d.exists() for d in dirs)


def test_map_max_workers_runs_fn_concurrently(dataset: FileDataset, remote: Remote) -> None:
    import threading

    df = make_df(remote, 6)
    barrier = threading.Barrier(3, timeout=10)

    def meet(input_dir: Path, output_dir: Path) -> dict[str, Path]:
        barrier.wait()  # deadlocks (times out) unless 3 fns run at once
        return copy_upper(input_dir, output_dir)

    res = df.files.map(meet, remote.root + "/out", max_workers=3, dataset=dataset, progress=False)
    assert res["id"].tolist() == [f"r{i}" for i in range(6)]


def test_validate_returns_df_for_chaining(dataset: FileDataset, remote: Remote) -> None:
    df = make_df(remote, 3)
    assert df.files.validate(exists=True, dataset=dataset) is df


def test_validate_reports_every_bad_cell(dataset: FileDataset) -> None:
    df = pd.DataFrame(
        {
            "a.txt": ["s3://bucket-a/k", "http://x/y", "s3://Bad_Bucket/k", None],
            "b.txt": ["s3:/b/k", "s3://bucket-a/k", "s3://bucket-a/k", "s3://b"],
            "id": [1, 1, None, 4],
        }
    )
    with pytest.raises(file_dataset.ValidationError) as info:
        df.files.validate(columns=["a.txt", "b.txt"], dataset=dataset)
    cases = info.value.failure_cases
    uri_failures = cases[cases["check"] == "well-formed URI"]
    got = sorted(zip(uri_failures["column"], uri_failures["index"], strict=True))
    assert got == [("a.txt", 1), ("a.txt", 2), ("b.txt", 0), ("b.txt", 3)]
    id_failures = cases[cases["column"] == "id"]
    assert set(id_failures["check"]) >= {"field_uniqueness", "not_nullable"}


def test_validate_rejects_unsafe_column_names(dataset: FileDataset) -> None:
    df = pd.DataFrame({"../evil": ["s3://bucket-a/k"], "id": [1]})
    with pytest.raises(file_dataset.ValidationError) as info:
        df.files.validate()
    assert any("safe file name" in c for c in info.value.failure_cases["check"])


def test_validate_exists_names_missing_objects(dataset: FileDataset, remote: Remote) -> None:
    df = make_df(remote, 3)
    missing = remote.uri("gone")
    df.loc[1, "in.txt"] = missing if remote.kind == "s3" else Path(missing)
    with pytest.raises(file_dataset.ValidationError) as info:
        df.files.validate(exists=True, dataset=dataset)
    cases = info.value.failure_cases
    assert cases[["column", "index", "check"]].values.tolist() == [["in.txt", 1, "object exists"]]


def test_schema_composes_with_user_schemas() -> None:
    import pandera.pandas as pa

    df = pd.DataFrame({"a.txt": ["s3://bucket-a/k"], "score": [0.5], "id": [1]})
    user = pa.DataFrameSchema({"score": pa.Column(float, pa.Check.in_range(0, 1))})
    combined = file_dataset.schema(["a.txt"]).add_columns(user.columns)
    assert combined.validate(df) is not None


def test_download_row_yields_files_and_cleans_up(dataset: FileDataset, remote: Remote) -> None:
    df = make_df(remote, 3)
    df.index = ["x", "y", "z"]
    with df.files.download_row("y", dataset=dataset) as tmp:
        assert (tmp / "in.txt").read_text() == "row 1"
    assert not tmp.exists()
    with (
        pytest.raises(ValueError, match="boom"),
        df.files.download_row("z", dataset=dataset) as tmp2,
    ):
        raise ValueError("boom")
    assert not tmp2.exists()
    with pytest.raises(KeyError):
        df.files.download_row("nope", dataset=dataset).__enter__()


def test_download_and_upload_whole_frame(
    dataset: FileDataset, remote: Remote, tmp_path: Path
) -> None:
    df = make_df(remote, 4)
    local = df.files.download(tmp_path / "local", dataset=dataset)
    assert local["in.txt"].tolist() == [tmp_path / "local" / f"r{i}" / "in.txt" for i in range(4)]
    assert local["in.txt"][2].read_text() == "row 2"
    back = local.files.upload(remote.root + "/copy", dataset=dataset)
    for i, uri in enumerate(back["in.txt"]):
        assert str(uri) == f"{remote.root}/copy/r{i}/in.txt"
        assert remote.read(uri) == f"row {i}".encode()
