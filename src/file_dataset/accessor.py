"""The ``files`` accessor on pandas DataFrames.

``import file_dataset`` registers it. The accessor is thin: it picks the file
columns, ids and options, and hands row jobs to the pipeline and the engine.
Building it does no I/O and keeps no state on the DataFrame.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.errors

from file_dataset.dataset import FileDataset, URILike, default_dataset
from file_dataset.errors import (
    InvalidNameError,
    InvalidURIError,
    ObjectExistsError,
    ObjectNotFoundError,
    ValidationError,
)
from file_dataset.packing import ShardSink
from file_dataset.pipeline import OnError, RowFn, RowOutcome, RowPipeline, first_failure, row_error
from file_dataset.plan import RowJob, file_columns, plan_rows
from file_dataset.runlog import CONTROL_DIR, completed_rows, write_manifest
from file_dataset.schema import schema
from file_dataset.shards import iter_chunks, parse_size
from file_dataset.transfer import safe_destination
from file_dataset.uri import LocalLocation, Location, TarMember, parse_prefix

__all__ = ["FilesAccessor"]

_CHUNK_ROWS = 256  # rows staged on local disk at once by pack / unpack


@contextlib.contextmanager
def _staging() -> Iterator[Path]:
    stage = Path(tempfile.mkdtemp(prefix="file-dataset-stage-"))
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _row_names(jobs: Sequence[RowJob]) -> list[str]:
    return [f"{job.id}/{name}" for job in jobs for name in job.inputs]


def _staged(
    jobs: Sequence[RowJob], stage: Path, *, local: bool = True
) -> list[tuple[Location, Path]]:
    """(source, staging path) for the rows' files; ``local=False`` leaves local files out."""
    return [
        (src, safe_destination(stage / job.id, name))
        for job in jobs
        for name, src in job.inputs.items()
        if local or not isinstance(src, LocalLocation)
    ]


def _local_or(src: Location, staged: Path) -> Path:
    return src.path if isinstance(src, LocalLocation) else staged


@pd.api.extensions.register_dataframe_accessor("files")
class FilesAccessor:
    """``df.files``: move a DataFrame's files between S3 and local directories.

    File columns are, by default, the columns whose non-null values are all
    ``s3://`` URIs, ``file://`` URIs or `pathlib.Path` objects; every method
    takes ``columns=[...]`` to name them (then plain strings are local paths).
    A column's name is the file's name in the row's directory.

    Examples:
        >>> import pandas as pd, file_dataset
        >>> df = pd.DataFrame({"image.mha": ["s3://bucket/1.mha"], "id": [1]})
        >>> df.files.columns()
        ['image.mha']
    """

    def __init__(self, df: pd.DataFrame) -> None:
        self._df = df

    def columns(self, columns: Sequence[str] | None = None, *, id_column: str = "id") -> list[str]:
        """The file columns: ``columns`` if given (checked), else the detected ones.

        Examples:
            >>> pd.DataFrame({"a": ["s3://b/k"], "n": [1]}).files.columns()
            ['a']
        """
        return file_columns(self._df, columns, exclude=[id_column])

    def validate(
        self,
        *,
        columns: Sequence[str] | None = None,
        id_column: str = "id",
        exists: bool = False,
        dataset: FileDataset | None = None,
    ) -> pd.DataFrame:
        """Validate the file columns with `file_dataset.schema`; return the DataFrame.

        All failures are collected (pandera lazy validation) and raised at once
        as `ValidationError` (a ``ValueError``), whose ``failure_cases`` name
        each row (``index``), column and check.

        Args:
            columns: the file columns (default: detected).
            id_column: checked for uniqueness and validity when present.
            exists: also check, concurrently, that every object exists.
            dataset: the FileDataset for ``exists`` (default: from the environment).

        Examples:
            >>> df = pd.DataFrame({"a.txt": ["s3://bucket/a"], "id": [1]})
            >>> df.files.validate() is df
            True
        """
        cols = (
            list(columns)
            if columns is not None
            else file_columns(self._df, None, exclude=[id_column], check=False)
        )
        has_id = id_column in self._df.columns
        checker = schema(
            cols, id_column=id_column if has_id else None, exists=exists, dataset=dataset
        )
        try:
            checker.validate(self._df, lazy=True)
        except pandera.errors.SchemaErrors as err:
            raise ValidationError(err.failure_cases) from err
        return self._df

    def map(
        self,
        fn: RowFn,
        into_path: URILike,
        *,
        id_column: str = "id",
        columns: Sequence[str] | None = None,
        on_error: OnError = "raise",
        progress: bool = True,
        max_workers: int | None = None,
        executor: Executor | None = None,
        pack: bool = False,
        shard_size: int | str = "256MB",
        resume: bool = False,
        overwrite: bool = False,
        dataset: FileDataset | None = None,
    ) -> pd.DataFrame:
        """Run ``fn(input_dir, output_dir)`` on every row; return a DataFrame of output URIs.

        For each row the row's files are downloaded into a fresh private
        ``input_dir``, ``fn`` runs, every file it returns (or, if it returns
        None, every file under ``output_dir``) is uploaded to
        ``<into_path>/<id>/<name>``, and both directories are removed. Transfers
        of other rows overlap ``fn``; results keep the row order.

        Args:
            fn: a plain function of two directories returning ``{name: path}`` or None.
            into_path: ``s3://bucket/prefix/`` or a local directory.
            id_column: the column holding row ids; without it, ids are generated.
            columns: the file columns (default: detected).
            on_error: ``"raise"``: the first failing row raises `RowError`
                (``.partial`` holds the finished rows); ``"record"``: failing
                rows get NA outputs and a message in an ``error`` column.
            progress: show a progress bar (tqdm).
            max_workers: rows whose ``fn`` runs at once (default 1, or the
                executor's size).
            executor: runs ``fn`` (e.g. a ``ProcessPoolExecutor`` for CPU-bound work).
            pack: write outputs into tar shards ``<into_path>/shard-NNNNNN.tar``
                (members ``<id>/<name>``) instead of one object per file; the
                result holds member URIs, returned only once their shard is uploaded.
            shard_size: with ``pack=True``, the size at which a shard is closed.
            resume: skip the rows that an earlier run into ``into_path`` completed
                (their completion markers exist) and redo the others; needs an
                id column, so that ids are the same from run to run.
            overwrite: replace existing outputs. Without it (and without
                ``resume``), rows whose ``<into_path>/<id>/`` already holds objects
                are an `ObjectExistsError` before any transfer.
            dataset: the FileDataset to transfer with (default: from the environment).

        Returns:
            A new DataFrame with the same index, ``id_column``, and one column per
            output name (str URIs for S3, `Path` for a local ``into_path``). The
            input file columns are not carried over, so maps chain.

        Examples:
            >>> def shout(input_dir, output_dir):  # doctest: +SKIP
            ...     text = (input_dir / "a.txt").read_text()
            ...     (output_dir / "b.txt").write_text(text.upper())
            ...     return {"b.txt": output_dir / "b.txt"}
            >>> out = df.files.map(shout, "s3://bucket/shouted/")  # doctest: +SKIP
        """
        _, jobs = plan_rows(self._df, id_column=id_column, columns=columns)
        into = parse_prefix(into_path)
        size = parse_size(shard_size)
        ds = dataset or default_dataset()
        engine = ds.engine
        if any(job.id == CONTROL_DIR for job in jobs):
            raise InvalidNameError(f"the id {CONTROL_DIR!r} is reserved for file-dataset's records")
        if resume and (pack or id_column not in self._df.columns):
            raise ValueError(
                "resume=True needs an id column (generated ids differ between runs) "
                "and does not combine with pack=True"
            )
        done = completed_rows(engine, into) if resume and jobs else {}
        todo = [job for job in jobs if job.id not in done]
        if not (resume or overwrite or pack) and jobs:
            taken = {key.split("/", 1)[0] for key in engine.list_keys(into)}
            clash = [job.id for job in jobs if job.id in taken]
            if clash:
                raise ObjectExistsError(
                    f"{len(clash)} row(s) already have outputs under {into} (ids "
                    f"{', '.join(map(repr, clash[:5]))}); pass resume=True to skip completed "
                    "rows, or overwrite=True"
                )
        sink = ShardSink(engine, into, size) if pack and jobs else None
        workers = max_workers or int(getattr(executor, "_max_workers", 1))
        pipeline = RowPipeline(
            engine,
            fn,
            into,
            max_workers=workers,
            executor=executor,
            # Rows in flight bound temp disk; 16 hides ~20 ms of latency per request
            # without making 64 threads contend for the GIL on a fast network.
            in_flight=max(2 * workers, min(ds.max_concurrency, 16)),
            on_error=on_error,
            progress=progress,
            sink=sink,
            overwrite=overwrite or resume,
        )
        try:
            outcomes = pipeline.run(todo) if todo else []
        except BaseException:
            if sink is not None:
                sink.abort()
            raise
        if sink is not None:
            sink.close()  # the last shard: every returned member URI is now readable
        outcomes += [RowOutcome(job, outputs=done[job.id]) for job in jobs if job.id in done]
        outcomes.sort(key=lambda outcome: outcome.job.position)
        failure = first_failure(outcomes)
        raising = failure is not None and on_error == "raise"
        finished = [o for o in outcomes if o.ok] if raising else outcomes
        result = self._results(finished, id_column, record=on_error == "record")
        if jobs and not pack:
            with _staging() as work:
                write_manifest(engine, into, result, work)
        if raising:
            assert failure is not None
            err = row_error(failure)
            err.partial = result
            raise err
        return result

    def _results(
        self, outcomes: Sequence[RowOutcome], id_column: str, *, record: bool
    ) -> pd.DataFrame:
        positions = [o.job.position for o in outcomes]
        index = self._df.index[positions]
        if id_column in self._df.columns:
            ids: Any = self._df[id_column].iloc[positions].to_numpy()
        else:
            ids = [o.job.id for o in outcomes]
        data: dict[str, Any] = {id_column: ids}
        names = list(dict.fromkeys(name for o in outcomes for name in o.outputs))
        for name in names:
            data[name] = pd.Series(
                [o.outputs[name].output() if name in o.outputs else None for o in outcomes],
                index=index,
                dtype=object,
            )
        if record:
            data["error"] = pd.Series(
                [None if o.ok else o.message() for o in outcomes], index=index, dtype=object
            )
        return pd.DataFrame(data, index=index)

    @contextlib.contextmanager
    def download_row(
        self,
        i: Any,
        *,
        columns: Sequence[str] | None = None,
        id_column: str = "id",
        dataset: FileDataset | None = None,
    ) -> Iterator[Path]:
        """Download row ``i``'s files into a private temp dir; remove it on exit.

        Args:
            i: the row's index label (as in ``df.loc[i]``).
            columns: the file columns (default: detected).
            id_column: the id column.
            dataset: the FileDataset (default: from the environment).

        Examples:
            >>> with df.files.download_row(0) as tmp:  # doctest: +SKIP
            ...     print(sorted(p.name for p in tmp.iterdir()))
            ['image.mha']
        """
        row = self._df.loc[[i]]
        if len(row) != 1:
            raise KeyError(f"index label {i!r} names {len(row)} rows, not one")
        _, (job,) = plan_rows(row, id_column=id_column, columns=columns)
        ds = dataset or default_dataset()
        with ds.downloader(job.inputs).into_temp_dir() as tmp:
            yield tmp

    def download(
        self,
        into_dir: str | os.PathLike[str],
        *,
        columns: Sequence[str] | None = None,
        id_column: str = "id",
        dataset: FileDataset | None = None,
    ) -> pd.DataFrame:
        """Download every row to ``<into_dir>/<id>/<name>`` concurrently.

        Returns:
            A copy of the DataFrame with each file cell replaced by its local `Path`
            (and ``id_column`` added when it was missing).

        Examples:
            >>> local = df.files.download("data/")  # doctest: +SKIP
        """
        cols, jobs = plan_rows(self._df, id_column=id_column, columns=columns)
        root = Path(into_dir)
        transfers = [
            (src, safe_destination(root / job.id, name))
            for job in jobs
            for name, src in job.inputs.items()
        ]
        (dataset or default_dataset()).engine.download(transfers)
        return self._replaced(cols, jobs, id_column, lambda job, name: root / job.id / name)

    def upload(
        self,
        into_path: URILike,
        *,
        columns: Sequence[str] | None = None,
        id_column: str = "id",
        overwrite: bool = False,
        dataset: FileDataset | None = None,
    ) -> pd.DataFrame:
        """Upload every row's local files to ``<into_path>/<id>/<name>`` concurrently.

        Returns:
            A copy of the DataFrame with each file cell replaced by its new URI.

        Examples:
            >>> remote = local.files.upload("s3://bucket/data/")  # doctest: +SKIP
        """
        cols, jobs = plan_rows(self._df, id_column=id_column, columns=columns)
        into = parse_prefix(into_path)
        transfers = []
        for job in jobs:
            for name, src in job.inputs.items():
                if not isinstance(src, LocalLocation):
                    raise InvalidURIError(f"row {job.label!r}, column {name!r}: {src} is not local")
                transfers.append((src.path, into.child(job.id, name)))
        for path, _ in transfers:
            if not path.is_file():
                raise ObjectNotFoundError(f"no such file: {path}")
        engine = (dataset or default_dataset()).engine
        if not overwrite:
            engine.refuse_existing(into, _row_names(jobs))
        engine.upload(transfers, overwrite=overwrite)
        return self._replaced(
            cols, jobs, id_column, lambda job, name: into.child(job.id, name).output()
        )

    def pack(
        self,
        into_path: URILike,
        *,
        columns: Sequence[str] | None = None,
        id_column: str = "id",
        shard_size: int | str = "256MB",
        dataset: FileDataset | None = None,
    ) -> pd.DataFrame:
        """Fuse every row's files into tar shards; return the DataFrame with member URIs.

        Shards are ``<into_path>/shard-000000.tar``, ... (pax tar, rows in order,
        a row's files adjacent, members ``<id>/<column>``), each with an index
        ``shard-NNNNNN.tar.index.json``. Every file cell becomes a member URI
        ``tar://<id>/<column>::<shard URI>``, readable everywhere a URI is.

        Args:
            into_path: ``s3://bucket/prefix/`` or a local directory, holding no shards yet.
            columns: the file columns (default: detected).
            id_column: the id column; without it ids are generated (and added).
            shard_size: close a shard once it reaches this size (``"256MB"``, ``"1GiB"``, bytes).
            dataset: the FileDataset (default: from the environment).

        Examples:
            >>> packed = df.files.pack("s3://bucket/packed/")  # doctest: +SKIP
            >>> packed.loc[0, "image.mha"]  # doctest: +SKIP
            'tar://1/image.mha::s3://bucket/packed/shard-000000.tar'
        """
        cols, jobs = plan_rows(self._df, id_column=id_column, columns=columns)
        into = parse_prefix(into_path)
        size = parse_size(shard_size)
        engine = (dataset or default_dataset()).engine
        sink = ShardSink(engine, into, size)
        members: dict[int, dict[str, TarMember]] = {}
        try:
            for chunk in iter_chunks(jobs, _CHUNK_ROWS):
                with _staging() as stage:
                    engine.download(_staged(chunk, stage, local=False))
                    for job in chunk:
                        files = [(name, _local_or(src, stage / job.id / name))
                                 for name, src in job.inputs.items()]  # fmt: skip
                        members[job.position] = sink.add_row(job.id, files)
        except BaseException:
            sink.abort()
            raise
        sink.close()
        return self._replaced(
            cols, jobs, id_column, lambda job, name: members[job.position][name].output()
        )

    def unpack(
        self,
        into_path: URILike,
        *,
        columns: Sequence[str] | None = None,
        id_column: str = "id",
        overwrite: bool = False,
        dataset: FileDataset | None = None,
    ) -> pd.DataFrame:
        """Copy every file (e.g. shard members) out to objects ``<into_path>/<id>/<name>``.

        The way back from `pack`: no lock-in.

        Examples:
            >>> loose = packed.files.unpack("s3://bucket/loose/")  # doctest: +SKIP
        """
        cols, jobs = plan_rows(self._df, id_column=id_column, columns=columns)
        into = parse_prefix(into_path)
        engine = (dataset or default_dataset()).engine
        if not overwrite:
            engine.refuse_existing(into, _row_names(jobs))
        for chunk in iter_chunks(jobs, _CHUNK_ROWS):
            with _staging() as stage:
                engine.download(_staged(chunk, stage))
                engine.upload(
                    [
                        (stage / job.id / name, into.child(job.id, name))
                        for job in chunk
                        for name in job.inputs
                    ],
                    overwrite=overwrite,
                )
        return self._replaced(
            cols, jobs, id_column, lambda job, name: into.child(job.id, name).output()
        )

    def _replaced(
        self, cols: list[str], jobs: list[RowJob], id_column: str, value: Any
    ) -> pd.DataFrame:
        out = self._df.copy()
        for col in cols:
            out[col] = pd.Series(
                [value(job, col) if col in job.inputs else None for job in jobs],
                index=out.index,
                dtype=object,
            )
        if id_column not in out.columns:
            out[id_column] = [job.id for job in jobs]
        return out
