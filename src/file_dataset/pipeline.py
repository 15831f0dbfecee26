"""The row pipeline behind `df.files.map`: download -> fn -> upload, pipelined.

Each row runs on a row thread: it downloads its inputs into a fresh private
temp dir, waits for its turn at one of ``max_workers`` fn slots (rows enter
``fn`` in row order), calls ``fn``, uploads the outputs and removes its temp
dir. With more row threads than
fn slots, the next rows' downloads and the finished rows' uploads overlap the
rows being computed, while temp disk stays bounded to the rows in flight.
Results are returned in row order.
"""

from __future__ import annotations

import contextlib
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tqdm.auto import tqdm

from file_dataset.errors import InvalidNameError, RowError
from file_dataset.packing import ShardSink
from file_dataset.plan import RowJob
from file_dataset.runlog import write_marker
from file_dataset.transfer import TransferEngine, safe_destination
from file_dataset.uri import Location, StoreLocation, check_names

__all__ = [
    "OnError",
    "RowFn",
    "RowOutcome",
    "RowPipeline",
    "collect_outputs",
    "first_failure",
    "row_error",
]

OnError = Literal["raise", "record"]
RowFn = Callable[[Path, Path], Mapping[str, Any] | None]
Stage = Literal["download", "fn", "upload"]


class _StageError(Exception):
    def __init__(self, stage: Stage, cause: BaseException) -> None:
        super().__init__(stage)
        self.stage = stage
        self.cause = cause


@dataclass
class RowOutcome:
    """What happened to one row: its output locations, or its failure."""

    job: RowJob
    outputs: dict[str, Location] = field(default_factory=dict)
    stage: Stage | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """Whether the row finished."""
        return self.error is None

    def message(self) -> str:
        """A one-line account of the failure (no traceback)."""
        return f"{self.stage}: {type(self.error).__name__}: {self.error}"


def _regular_file_inside(path: Path, root: Path) -> bool:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return False
    return stat.S_ISREG(mode) and path.resolve().is_relative_to(root.resolve())


def collect_outputs(result: Mapping[str, Any] | None, output_dir: Path) -> dict[str, Path]:
    """Check what ``fn`` returned and return ``{name: regular file inside output_dir}``.

    ``None`` means every regular file under ``output_dir``, named by its relative
    path. A returned path that is missing, not a regular file (a directory, a
    symlink: never followed) or outside ``output_dir`` is an error.

    Examples:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp())
        >>> _ = (out / "a.txt").write_text("a")
        >>> collect_outputs(None, out) == {"a.txt": out / "a.txt"}
        True
    """
    if result is None:
        found: dict[str, Path] = {}
        for path in sorted(output_dir.rglob("*")):
            if path.is_symlink() or (not path.is_dir() and not path.is_file()):
                raise InvalidNameError(
                    f"output_dir holds {path.name!r}, which is not a regular file"
                )
            if path.is_file():
                found[path.relative_to(output_dir).as_posix()] = path
        return found
    if not isinstance(result, Mapping):
        raise TypeError(
            f"fn must return a mapping of name -> path or None, got {type(result).__name__}"
        )
    check_names(list(result))
    outputs = {}
    for name, value in result.items():
        path = Path(value)
        if not path.is_absolute():
            path = output_dir / path
        if not path.absolute().is_relative_to(output_dir.absolute()):
            raise InvalidNameError(f"fn returned {name!r} -> {value!s}, outside output_dir")
        if not _regular_file_inside(path, output_dir):
            what = (
                "missing" if not path.exists() and not path.is_symlink() else "not a regular file"
            )
            raise InvalidNameError(f"fn returned {name!r} -> {value!s}, which is {what}")
        outputs[name] = path
    return outputs


class RowPipeline:
    """Runs ``fn`` over row jobs with overlapped transfers.

    Args:
        engine: the transfer engine.
        fn: ``fn(input_dir, output_dir) -> {name: path} | None``.
        into: where outputs go: ``<into>/<id>/<name>``.
        max_workers: rows whose ``fn`` runs at once.
        executor: runs ``fn`` instead of the row thread (e.g. a ProcessPoolExecutor).
        in_flight: rows downloading, computing or uploading at once (bounds temp disk).
        on_error: ``"raise"`` stops at the first failure; ``"record"`` goes on.
        progress: show a tqdm progress bar.
        sink: append outputs to shards instead of uploading one object per file.
        overwrite: replace existing output objects (else `ObjectExistsError`).

    After a row's outputs are uploaded, its completion marker is written
    (`file_dataset.runlog`), so that an interrupted run can be resumed.
    """

    def __init__(
        self,
        engine: TransferEngine,
        fn: RowFn,
        into: StoreLocation,
        *,
        max_workers: int = 1,
        executor: Executor | None = None,
        in_flight: int = 16,
        on_error: OnError = "raise",
        progress: bool = True,
        sink: ShardSink | None = None,
        overwrite: bool = False,
    ) -> None:
        if on_error not in ("raise", "record"):
            raise ValueError(f"on_error must be 'raise' or 'record', got {on_error!r}")
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        self._engine = engine
        self._fn = fn
        self._into = into
        self._executor = executor
        self._turns = _Turnstile(max_workers)
        self._in_flight = max(in_flight, max_workers + 1)
        self._on_error = on_error
        self._progress = progress
        self._stop = threading.Event()
        self._sink = sink
        self._overwrite = overwrite

    def run(self, jobs: Sequence[RowJob]) -> list[RowOutcome]:
        """Process every job; return outcomes in job order.

        With ``on_error="raise"`` no new row starts after the first failure; rows
        already in flight finish (their outputs stay uploaded) or are marked as
        not run. A KeyboardInterrupt stops the same way, then propagates.
        """
        outcomes: dict[int, RowOutcome] = {}
        bar = tqdm(total=len(jobs), unit="row", disable=not self._progress, desc="map")
        pool = ThreadPoolExecutor(self._in_flight, thread_name_prefix="fd-row")
        pending: set[Future[RowOutcome]] = set()
        try:
            for turn, job in enumerate(jobs):
                if len(pending) >= self._in_flight:
                    self._collect(pending, outcomes, bar)
                if self._stop.is_set():
                    break
                pending.add(pool.submit(self._row, job, turn))
            while pending:
                self._collect(pending, outcomes, bar)
        finally:
            self._stop.set()  # on KeyboardInterrupt: rows not yet at fn skip it
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
        return [outcomes[i] for i in sorted(outcomes)]

    def _collect(
        self, pending: set[Future[RowOutcome]], outcomes: dict[int, RowOutcome], bar: tqdm[Any]
    ) -> None:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            pending.discard(future)
            outcome = future.result()
            outcomes[outcome.job.position] = outcome
            bar.update(1)
            if not outcome.ok and self._on_error == "raise":
                self._stop.set()

    # -- one row --------------------------------------------------------------

    def _row(self, job: RowJob, turn: int) -> RowOutcome:
        work = Path(tempfile.mkdtemp(prefix="file-dataset-row-"))
        try:
            return RowOutcome(job, outputs=self._process(job, turn, work))
        except _StageError as failure:
            if self._on_error == "raise":
                self._stop.set()  # no later row starts its fn
            return RowOutcome(job, stage=failure.stage, error=failure.cause)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _process(self, job: RowJob, turn: int, work: Path) -> dict[str, Location]:
        input_dir, output_dir = work / "input", work / "output"
        input_dir.mkdir()
        output_dir.mkdir()
        try:
            with _stage("download"):
                self._check_running()
                self._engine.download(
                    [(src, safe_destination(input_dir, name)) for name, src in job.inputs.items()]
                )
        except BaseException:
            self._turns.skip(turn)
            raise
        with self._turns.turn(turn), _stage("fn"):
            self._check_running()
            result = self._call_fn(input_dir, output_dir)
            files = collect_outputs(result, output_dir)
        with _stage("upload"):
            if self._sink is not None:
                return dict(self._sink.add_row(job.id, list(files.items())))
            outputs = {name: self._into.child(job.id, name) for name in files}
            self._engine.upload(
                [(path, outputs[name]) for name, path in files.items()], overwrite=self._overwrite
            )
            write_marker(self._engine, self._into, job.id, files, outputs, work)
        return dict(outputs)

    def _check_running(self) -> None:
        if self._stop.is_set():
            raise _CancelledError()

    def _call_fn(self, input_dir: Path, output_dir: Path) -> Mapping[str, Any] | None:
        if self._executor is None:
            return self._fn(input_dir, output_dir)
        return self._executor.submit(self._fn, input_dir, output_dir).result()


class _Turnstile:
    """Lets rows into ``fn`` in row order, at most ``slots`` at a time.

    Every row passes exactly once: through `turn` (it runs fn) or `skip` (its
    download failed or the run stopped), so no later row waits forever.
    """

    def __init__(self, slots: int) -> None:
        self._cond = threading.Condition()
        self._slots = slots
        self._next = 0
        self._running = 0

    @contextlib.contextmanager
    def turn(self, position: int) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self._next == position and self._running < self._slots)
            self._next += 1
            self._running += 1
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    def skip(self, position: int) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._next == position)
            self._next += 1
            self._cond.notify_all()


class _CancelledError(Exception):
    """The run stopped before this row's fn started."""

    def __str__(self) -> str:
        return "not run: an earlier row failed"


@contextlib.contextmanager
def _stage(name: Stage) -> Iterator[None]:
    """Tag any exception raised inside with the pipeline stage it came from."""
    try:
        yield
    except _StageError:
        raise
    except Exception as err:
        raise _StageError(name, err) from err


def first_failure(outcomes: Sequence[RowOutcome]) -> RowOutcome | None:
    """The earliest (in row order) real failure, ignoring rows cancelled because of it."""
    for outcome in outcomes:
        if not outcome.ok and not isinstance(outcome.error, _CancelledError):
            return outcome
    return None


def row_error(outcome: RowOutcome) -> RowError:
    """The `RowError` for a failed outcome, chained to the original exception."""
    assert outcome.stage is not None
    assert outcome.error is not None
    err = RowError(
        row=outcome.job.label,
        id=outcome.job.id,
        stage=outcome.stage,
        message=f"{type(outcome.error).__name__}: {outcome.error}",
    )
    err.__cause__ = outcome.error
    return err
