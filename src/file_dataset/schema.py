"""pandera schemas for DataFrames whose columns hold file URIs.

`schema` is public so that users can compose it with their own schemas:

    checked = file_dataset.schema(["image.mha"]).validate(df, lazy=True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd
import pandera.pandas as pa

from file_dataset.errors import FileDatasetError
from file_dataset.plan import is_null
from file_dataset.uri import Location, check_id, check_name, parse_uri

if TYPE_CHECKING:
    from file_dataset.dataset import FileDataset

__all__ = ["schema"]


def _parse_or_none(value: object) -> Location | None:
    try:
        return parse_uri(value)  # type: ignore[arg-type] # any cell may be given
    except (ValueError, TypeError):
        return None


def _is_uri(value: object) -> bool:
    return _parse_or_none(value) is not None


def _is_id(value: object) -> bool:
    try:
        check_id(value)
    except ValueError:
        return False
    return True


def _exists_check(dataset: FileDataset) -> pa.Check:
    def exists(series: pd.Series) -> pd.Series:
        # Null and malformed cells pass here: the URI check reports them once.
        locs = [None if is_null(v) else _parse_or_none(v) for v in series.tolist()]
        found = iter(dataset.engine.exists([loc for loc in locs if loc is not None]))
        flags = [True if loc is None else next(found) for loc in locs]
        return pd.Series(flags, index=series.index, dtype=bool)

    return pa.Check(exists, name="object_exists", error="object exists")


def _safe_column(name: str) -> pa.Check:
    def safe(_: pd.Series) -> bool:
        try:
            check_name(name)
        except FileDatasetError:
            return False
        return True

    return pa.Check(safe, name="safe_file_name", error=f"column name {name!r} is a safe file name")


def schema(
    columns: Sequence[str],
    *,
    id_column: str | None = "id",
    exists: bool = False,
    dataset: FileDataset | None = None,
) -> pa.DataFrameSchema:
    """A pandera schema for the file columns ``columns`` of a DataFrame.

    Checks: every cell of a file column is a well-formed ``s3://``, ``file://``
    or local-path URI, or null; the column name is a safe file name; the id
    column, when ``id_column`` is given, is unique, non-null and a valid id;
    with ``exists=True``, every object exists (checked concurrently through
    ``dataset``). Other columns are left alone (``strict=False``), so the schema
    composes with yours.

    Examples:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"a.txt": ["s3://bucket/a", None], "id": [1, 2]})
        >>> len(schema(["a.txt"]).validate(df, lazy=True))
        2
    """
    checks = [pa.Check(_is_uri, element_wise=True, name="uri", error="well-formed URI")]
    if exists:
        if dataset is None:
            from file_dataset.dataset import default_dataset

            dataset = default_dataset()
        checks.append(_exists_check(dataset))
    spec: dict[str, pa.Column] = {
        name: pa.Column(checks=[*checks, _safe_column(name)], nullable=True, name=name)
        for name in columns
    }
    if id_column is not None:
        spec[id_column] = pa.Column(
            checks=pa.Check(_is_id, element_wise=True, name="valid_id", error="valid id"),
            nullable=False,
            unique=True,
            required=False,
            name=id_column,
        )
    return pa.DataFrameSchema(spec, strict=False, name="file_dataset")
