"""What a `map` run leaves behind so that it can be resumed and audited.

Under ``<into_path>/.file-dataset/``:

* ``rows/<id>.json``: a row's completion marker, written only after every one
  of its outputs is uploaded: ``{"version": 1, "id": ..., "outputs": {name:
  {"uri": ..., "size": ..., "md5": ...}}}``. A crash between two uploads
  leaves no marker, so the row is redone by ``map(..., resume=True)``.
* ``manifests/<UTC time>-<run>.parquet``: each run's result DataFrame;
  `read_manifest` returns the completed rows of all runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from file_dataset.transfer import TransferEngine
from file_dataset.uri import Location, StoreLocation, parse_prefix, parse_uri

if TYPE_CHECKING:
    from file_dataset.dataset import FileDataset, URILike

__all__ = [
    "CONTROL_DIR",
    "completed_rows",
    "marker_location",
    "read_manifest",
    "write_manifest",
    "write_marker",
]

CONTROL_DIR = ".file-dataset"


def marker_location(into: StoreLocation, row_id: str) -> StoreLocation:
    """Where row ``row_id``'s completion marker lives."""
    return into.child(CONTROL_DIR, "rows", f"{row_id}.json")


def _md5(path: Path) -> str:
    digest = hashlib.md5()  # noqa: S324 - a content fingerprint, not security
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_marker(
    engine: TransferEngine,
    into: StoreLocation,
    row_id: str,
    files: Mapping[str, Path],
    outputs: Mapping[str, Location],
    work: Path,
) -> None:
    """Record that row ``row_id`` is complete; call only after all its outputs are uploaded."""
    body = {
        "version": 1,
        "id": row_id,
        "outputs": {
            name: {"uri": str(outputs[name]), "size": path.stat().st_size, "md5": _md5(path)}
            for name, path in files.items()
        },
    }
    local = work / "marker.json"
    local.write_text(json.dumps(body, sort_keys=True))
    engine.upload([(local, marker_location(into, row_id))], overwrite=True)


def completed_rows(engine: TransferEngine, into: StoreLocation) -> dict[str, dict[str, Location]]:
    """``{row id: {output name: location}}`` for every row with a completion marker."""
    rows = into.child(CONTROL_DIR, "rows")
    names = [n for n in engine.list_keys(rows) if n.endswith(".json") and "/" not in n]
    markers = engine.run([_reader(engine, rows.child(n)) for n in names])
    done = {}
    for data in markers:
        body = json.loads(data)
        done[str(body["id"])] = {
            name: parse_uri(entry["uri"]) for name, entry in body["outputs"].items()
        }
    return done


def _reader(engine: TransferEngine, loc: StoreLocation) -> Any:
    return lambda: engine.read_bytes(loc)


def write_manifest(
    engine: TransferEngine, into: StoreLocation, result: pd.DataFrame, work: Path
) -> None:
    """Store a run's result DataFrame as Parquet under ``.file-dataset/manifests/``."""
    table = result.map(lambda v: str(v) if isinstance(v, Path) else v)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    local = work / "manifest.parquet"
    table.to_parquet(local)
    name = f"{stamp}-{uuid.uuid4().hex[:8]}.parquet"
    engine.upload([(local, into.child(CONTROL_DIR, "manifests", name))])


def read_manifest(
    into_path: URILike, *, id_column: str = "id", dataset: FileDataset | None = None
) -> pd.DataFrame:
    """The completed rows of every `map` run into ``into_path`` (the latest run wins per id).

    Examples:
        >>> done = file_dataset.read_manifest("s3://bucket/resampled/")  # doctest: +SKIP
    """
    from file_dataset.dataset import default_dataset

    engine = (dataset or default_dataset()).engine
    into = parse_prefix(into_path)
    folder = into.child(CONTROL_DIR, "manifests")
    names = sorted(n for n in engine.list_keys(folder) if n.endswith(".parquet"))
    tables = [pd.read_parquet(io.BytesIO(engine.read_bytes(folder.child(n)))) for n in names]
    if not tables:
        return pd.DataFrame({id_column: pd.Series([], dtype=object)})
    frame = pd.concat(tables)
    if "error" in frame.columns:
        frame = frame[frame["error"].isna()].drop(columns="error")
    if id_column in frame.columns:
        frame = frame.drop_duplicates(subset=id_column, keep="last")
    return frame
