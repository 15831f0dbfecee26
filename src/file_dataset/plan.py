"""From a DataFrame to checked row jobs: file columns, ids, per-row inputs.

Everything a user gave is checked here, before the first byte moves.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from file_dataset.errors import InvalidNameError, NoFileColumnsError
from file_dataset.uri import Location, check_id, check_names, parse_uri

__all__ = ["RowJob", "file_columns", "is_null", "is_uri_cell", "plan_rows", "row_ids"]

_URI_PREFIXES = ("s3://", "file://", "tar://")


def is_uri_cell(value: object) -> bool:
    """Whether a cell looks like a file reference for column auto-detection.

    Examples:
        >>> from pathlib import Path
        >>> is_uri_cell("s3://b/k"), is_uri_cell(Path("x")), is_uri_cell("plain text")
        (True, True, False)
    """
    if isinstance(value, os.PathLike):
        return True
    return isinstance(value, str) and value.startswith(_URI_PREFIXES)


def is_null(value: object) -> bool:
    """Whether a cell is null (None, NaN, NA); a Path never is.

    Examples:
        >>> is_null(None), is_null(float("nan")), is_null("s3://b/k")
        (True, True, False)
    """
    return value is None or (not isinstance(value, os.PathLike) and bool(pd.isna(value)))  # type: ignore[call-overload]


def file_columns(
    df: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    exclude: Sequence[str] = (),
    check: bool = True,
) -> list[str]:
    """The columns that hold files: ``columns`` if given, else detected.

    A column is detected when it has at least one non-null value and all of its
    non-null values are ``s3://``, ``file://`` or ``tar://`` (shard member) URIs or
    `pathlib.Path` objects.

    Examples:
        >>> df = pd.DataFrame({"a.txt": ["s3://b/k"], "label": ["cat"], "id": [1]})
        >>> file_columns(df)
        ['a.txt']
    """
    repeated = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    if repeated:
        raise InvalidNameError(
            f"two columns are named {repeated[0]!r}: each file column names one file of a row"
        )
    if columns is not None:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise KeyError(f"no such column(s): {missing}")
        chosen = list(columns)
    else:
        chosen = []
        for name in df.columns:
            if name in exclude:
                continue
            values = [v for v in df[name].tolist() if not is_null(v)]
            if values and all(is_uri_cell(v) for v in values):
                chosen.append(name)
    if not check:
        return chosen
    bad = [c for c in chosen if not isinstance(c, str)]
    if bad:
        raise InvalidNameError(f"file column names must be strings, got {bad!r}")
    check_names(chosen)
    return chosen


def row_ids(df: pd.DataFrame, id_column: str) -> list[str]:
    r"""Each row's id as a path segment: from ``id_column`` if present, else new uuid4s.

    Raises:
        InvalidNameError: an id is null, empty, ``.``/``..`` or has ``/``, ``\``, ``?``, ``#``;
            or two rows share an id. The message names the rows.

    Examples:
        >>> row_ids(pd.DataFrame({"id": [1, 2]}), "id")
        ['1', '2']
    """
    if id_column not in df.columns:
        return [uuid.uuid4().hex for _ in range(len(df))]
    ids: list[str] = []
    seen: dict[str, Hashable] = {}
    for label, value in zip(df.index, df[id_column].tolist(), strict=True):
        try:
            text = check_id(value)
        except InvalidNameError as err:
            raise InvalidNameError(f"row {label!r}: {err}") from None
        if text in seen:
            raise InvalidNameError(
                f"duplicate id {text!r} in rows {seen[text]!r} and {label!r}: ids name output "
                "directories and must be unique"
            )
        seen[text] = label
        ids.append(text)
    return ids


@dataclass(frozen=True)
class RowJob:
    """One row's work: its label, id and ``{file name: location}`` inputs."""

    position: int
    label: Any
    id: str
    inputs: dict[str, Location]


def plan_rows(
    df: pd.DataFrame,
    *,
    id_column: str,
    columns: Sequence[str] | None,
) -> tuple[list[str], list[RowJob]]:
    """Check the whole DataFrame and return its file columns and one `RowJob` per row.

    Raises:
        NoFileColumnsError: the DataFrame has rows but no file columns.
        InvalidNameError, InvalidURIError: naming the row and column.

    Examples:
        >>> df = pd.DataFrame({"a.txt": ["s3://bkt/k", None], "id": ["x", "y"]})
        >>> cols, jobs = plan_rows(df, id_column="id", columns=None)
        >>> cols, jobs[0].inputs, jobs[1].inputs
        (['a.txt'], {'a.txt': S3Location(bucket='bkt', key='k')}, {})
    """
    cols = file_columns(df, columns, exclude=[id_column])
    if not cols and len(df):
        raise NoFileColumnsError(
            "the DataFrame has no file columns (columns whose values are all s3:// or "
            "file:// URIs or Paths); name them with columns=[...]"
        )
    ids = row_ids(df, id_column)
    jobs = []
    values = [df[c].tolist() for c in cols]
    for pos, (label, row_id) in enumerate(zip(df.index, ids, strict=True)):
        inputs: dict[str, Location] = {}
        for col, col_values in zip(cols, values, strict=True):
            cell = col_values[pos]
            if is_null(cell):
                continue
            try:
                inputs[col] = parse_uri(cell if isinstance(cell, os.PathLike) else str(cell))
            except ValueError as err:
                raise type(err)(f"row {label!r}, column {col!r}: {err}") from None
        jobs.append(RowJob(pos, label, row_id, inputs))
    return cols, jobs
