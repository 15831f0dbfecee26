"""ddf.files on a real distributed cluster (two worker processes) against moto's server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cloudpickle
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import file_dataset  # noqa: E402
from conftest import BUCKET, Remote  # noqa: E402
from file_dataset import FileDataset, RowError  # noqa: E402

cloudpickle.register_pickle_by_value(__import__(__name__))  # workers cannot import tests/


def shout(input_dir: Path, output_dir: Path) -> dict[str, Path]:
    text = (input_dir / "in.txt").read_text()
    if text == "row 5":
        raise RuntimeError("row 5 is cursed")
    out = output_dir / "out.txt"
    out.write_text(text.upper())
    return {"out.txt": out}


@pytest.fixture(scope="module")
def cluster_client() -> Iterator[object]:
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def frame(remote: Remote, n: int) -> pd.DataFrame:
    uris = [remote.put(f"in/{i}.txt", f"row {i}".encode()) for i in range(n)]
    return pd.DataFrame({"in.txt": uris, "id": [f"r{i}" for i in range(n)]})


@pytest.fixture
def s3_remote(s3_client: object) -> Remote:
    return Remote("s3", f"s3://{BUCKET}/data", s3_client)


def test_dask_map_equals_pandas_map(
    cluster_client: object, dataset: FileDataset, s3_remote: Remote
) -> None:
    df = frame(s3_remote, 12).drop(index=5)
    ddf = dd.from_pandas(df, npartitions=4)
    lazy = ddf.files.map(shout, s3_remote.root + "/dask", outputs=["out.txt"], dataset=dataset)
    assert list(lazy.columns) == ["id", "out.txt"]
    got = lazy.compute()
    expected = df.files.map(
        shout, s3_remote.root + "/dask", dataset=dataset, progress=False, overwrite=True
    )
    pd.testing.assert_frame_equal(got.sort_index(), expected.sort_index(), check_dtype=False)
    assert s3_remote.read(got.loc[7, "out.txt"]) == b"ROW 7"


def test_each_worker_process_builds_one_client(
    cluster_client: object, dataset: FileDataset, s3_remote: Remote
) -> None:
    ddf = dd.from_pandas(frame(s3_remote, 12).drop(index=5), npartitions=6)
    ddf.files.map(shout, s3_remote.root + "/c", outputs=["out.txt"], dataset=dataset).compute()

    engine = dataset.engine_name

    def runtimes() -> int:  # runs on each worker: this configuration's runtimes there
        from file_dataset import dataset as module

        return sum(1 for key in module._RUNTIMES if engine in key)

    counts = cluster_client.run(runtimes)  # type: ignore[attr-defined]
    assert len(counts) == 2
    assert all(count == 1 for count in counts.values()), counts


def test_record_mode_keeps_failures_per_row(
    cluster_client: object, dataset: FileDataset, s3_remote: Remote
) -> None:
    ddf = dd.from_pandas(frame(s3_remote, 8), npartitions=3)
    got = ddf.files.map(
        shout, s3_remote.root + "/rec", outputs=["out.txt"], on_error="record", dataset=dataset
    ).compute()
    assert list(got.columns) == ["id", "out.txt", "error"]
    assert got["error"].notna().tolist() == [i == 5 for i in range(8)]
    assert "row 5 is cursed" in got.loc[5, "error"]
    assert got["out.txt"].notna().sum() == 7


def test_raise_mode_brings_the_row_error_home(
    cluster_client: object, dataset: FileDataset, s3_remote: Remote
) -> None:
    ddf = dd.from_pandas(frame(s3_remote, 8), npartitions=3)
    lazy = ddf.files.map(shout, s3_remote.root + "/raise", outputs=["out.txt"], dataset=dataset)
    with pytest.raises(RowError) as info:
        lazy.compute()
    assert info.value.row == 5
    assert info.value.id == "r5"
    assert info.value.stage == "fn"
    assert isinstance(info.value, file_dataset.FileDatasetError)


def test_undeclared_outputs_fail_loudly(
    cluster_client: object, dataset: FileDataset, s3_remote: Remote
) -> None:
    ddf = dd.from_pandas(frame(s3_remote, 2), npartitions=1)
    lazy = ddf.files.map(shout, s3_remote.root + "/u", outputs=["other.txt"], dataset=dataset)
    with pytest.raises(ValueError, match="not in outputs"):
        lazy.compute()


def test_dask_validate_is_lazy_and_reports_bad_cells(
    cluster_client: object, dataset: FileDataset
) -> None:
    df = pd.DataFrame({"a.txt": ["s3://bucket-a/k", "http://x/y"], "id": [1, 2]})
    lazy = dd.from_pandas(df, npartitions=2).files.validate(columns=["a.txt"])
    with pytest.raises(file_dataset.ValidationError):
        lazy.compute()
