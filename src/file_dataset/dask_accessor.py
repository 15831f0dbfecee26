"""The ``files`` accessor on dask DataFrames (extra ``file-dataset[dask]``).

``ddf.files.map`` runs the pandas `FilesAccessor.map` on every partition, on
the workers, and returns a lazy dask DataFrame. The FileDataset travels inside
the tasks (frozen credentials or environment-based, never a live client); each
worker process builds one client and reuses it for every partition.

Examples:
    >>> import dask.dataframe as dd, pandas as pd, file_dataset
    >>> ddf = dd.from_pandas(pd.DataFrame({"a.txt": ["s3://bkt/a"], "id": [1]}), npartitions=1)
    >>> out = ddf.files.map(print, "s3://bkt/out/", outputs=["b.txt"])
    >>> list(out.columns)
    ['id', 'b.txt']
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any, cast

import dask.dataframe as dd
import pandas as pd
from dask.dataframe.extensions import register_dataframe_accessor

from file_dataset.accessor import FilesAccessor
from file_dataset.dataset import FileDataset, URILike, default_dataset
from file_dataset.errors import ValidationError
from file_dataset.pipeline import OnError, RowFn
from file_dataset.uri import check_names, parse_prefix

__all__ = ["DaskFilesAccessor"]


def _map_partition(
    part: pd.DataFrame,
    fn: RowFn,
    into_path: URILike,
    columns_out: list[str],
    options: dict[str, Any],
) -> pd.DataFrame:
    result = FilesAccessor(part).map(fn, into_path, progress=False, **options)
    undeclared = sorted(set(result.columns) - set(columns_out))
    if undeclared:
        raise ValueError(
            f"fn returned outputs {undeclared} that are not in outputs=; declare every output "
            "name so that the dask DataFrame's columns are known before it runs"
        )
    return result.reindex(columns=columns_out)


def _validate_partition(part: pd.DataFrame, options: dict[str, Any]) -> pd.DataFrame:
    try:
        return FilesAccessor(part).validate(**options)
    except ValidationError as err:
        cases = err.failure_cases
    # Raised outside the handler: pandera's SchemaErrors (cause and context)
    # does not unpickle on the client; the failure cases do.
    raise ValidationError(cases)


@register_dataframe_accessor("files")  # type: ignore[no-untyped-call]
class DaskFilesAccessor:
    """``ddf.files``: the pandas accessor, run partition by partition on a dask cluster.

    Examples:
        >>> import dask.dataframe as dd, pandas as pd
        >>> ddf = dd.from_pandas(pd.DataFrame({"a.txt": ["s3://bkt/a"]}), npartitions=1)
        >>> ddf.files.validate().compute().shape
        (1, 1)
    """

    def __init__(self, ddf: dd.DataFrame) -> None:
        self._ddf = ddf

    def map(
        self,
        fn: RowFn,
        into_path: URILike,
        *,
        outputs: Sequence[str],
        id_column: str = "id",
        columns: Sequence[str] | None = None,
        on_error: OnError = "raise",
        max_workers: int | None = None,
        executor: Executor | None = None,
        dataset: FileDataset | None = None,
    ) -> dd.DataFrame:
        """Lazily map ``fn`` over every row, on the workers; see `FilesAccessor.map`.

        Args:
            fn: ``fn(input_dir, output_dir) -> {name: path}``; it must pickle.
            into_path: ``s3://bucket/prefix/`` (a local path only works if every
                worker shares that file system).
            outputs: every output name ``fn`` may return: the result's columns
                must be known before anything runs. An undeclared output fails
                the partition.
            id_column: the id column. Ids must be unique across the whole frame;
                each partition checks its own rows.
            columns: the file columns (default: detected in each partition).
            on_error: ``"raise"``: the first failing row's `RowError` reaches
                ``compute()``; ``"record"``: an ``error`` column.
            max_workers: rows whose fn runs at once inside one partition.
            executor: runs fn inside each partition (rarely useful on dask).
            dataset: the FileDataset, pickled into every task (default: from the environment).

        Returns:
            A lazy dask DataFrame: the id column, one column per output, and
            ``error`` with ``on_error="record"``.

        Examples:
            >>> out = ddf.files.map(fn, "s3://bkt/out/", outputs=["out.mha"])  # doctest: +SKIP
            >>> out.compute()  # doctest: +SKIP
        """
        parse_prefix(into_path)  # a bad destination fails now, not on a worker
        names = list(outputs)
        check_names(names)
        meta_in = self._ddf._meta
        id_dtype = meta_in[id_column].dtype if id_column in meta_in.columns else object
        columns_out = [id_column, *names] + (["error"] if on_error == "record" else [])
        meta = pd.DataFrame(
            {
                name: pd.Series(dtype=id_dtype if name == id_column else object)
                for name in columns_out
            },
            index=meta_in.index,
        )
        options = {
            "id_column": id_column,
            "columns": columns,
            "on_error": on_error,
            "max_workers": max_workers,
            "executor": executor,
            "dataset": dataset or default_dataset(),
        }
        result = self._ddf.map_partitions(  # type: ignore[no-untyped-call]
            _map_partition, fn, into_path, columns_out, options, meta=meta, align_dataframes=False
        )
        return cast("dd.DataFrame", result)

    def validate(
        self,
        *,
        columns: Sequence[str] | None = None,
        id_column: str = "id",
        exists: bool = False,
        dataset: FileDataset | None = None,
    ) -> dd.DataFrame:
        """Lazily validate every partition with `file_dataset.schema`; see `FilesAccessor.validate`.

        Raises `ValidationError` at ``compute()`` time.

        Examples:
            >>> checked = ddf.files.validate(exists=True).persist()  # doctest: +SKIP
        """
        options = {
            "columns": columns,
            "id_column": id_column,
            "exists": exists,
            "dataset": dataset or (default_dataset() if exists else None),
        }
        result = self._ddf.map_partitions(  # type: ignore[no-untyped-call]
            _validate_partition, options, meta=self._ddf._meta
        )
        return cast("dd.DataFrame", result)
