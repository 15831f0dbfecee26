"""The ``file-dataset`` command line: run the workflow on CSV or Parquet tables.

Examples:
    $ file-dataset map images.csv --fn mypkg.steps:resample --into s3://bucket/out/ -o out.csv
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["main"]

EPILOG = """examples:
  file-dataset demo
      run the whole workflow on an embedded S3 server (no AWS account needed)
  file-dataset validate images.csv --exists
      check every URI of the file columns, and that every object exists
  file-dataset map images.csv --fn mypkg.steps:resample --into s3://bucket/resampled/ \\
      --output resampled.parquet
      run mypkg.steps.resample(input_dir, output_dir) on every row; write the output URIs
  file-dataset pack images.parquet --into s3://bucket/packed/ --output packed.parquet
      fuse the files of every row into tar shards

Tables are CSV or Parquet (by extension). File columns are detected (values that are
s3://, file:// or tar:// URIs); name them with --columns when they hold plain local paths.
S3 credentials and endpoint come from the environment (boto3's chain, AWS_ENDPOINT_URL).
"""


class UsageError(Exception):
    """A problem with the command line itself (exit status 2)."""


def _read_table(path: str) -> pd.DataFrame:
    table = Path(path)
    if not table.is_file():
        raise UsageError(f"no such table: {path}")
    try:
        if table.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(table)
        if table.suffix.lower() == ".csv":
            return pd.read_csv(table)
    except Exception as err:  # noqa: BLE001 - any parser error becomes one line
        raise UsageError(f"cannot read table {path}: {type(err).__name__}: {err}") from None
    raise UsageError(f"unknown table format {table.suffix!r} for {path}: use .csv or .parquet")


def _write_table(df: pd.DataFrame, path: str | None) -> None:
    flat = df.map(lambda v: str(v) if isinstance(v, Path) else v)
    if path is None:
        flat.to_csv(sys.stdout, index=False)
    elif path.lower().endswith((".parquet", ".pq")):
        flat.to_parquet(path, index=False)
    elif path.lower().endswith(".csv"):
        flat.to_csv(path, index=False)
    else:
        raise UsageError(f"unknown output format for {path}: use .csv or .parquet")


def _load_fn(spec: str) -> Callable[..., Any]:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"--fn must look like module:function, got {spec!r}")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise UsageError(f"--fn: cannot import module {module_name!r}: {err}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise UsageError(f"--fn: {module_name!r} has no function {attr!r}")
    return fn  # type: ignore[no-any-return]


def _columns(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="file-dataset",
        description="Download -> process locally -> upload, over S3 and pandas tables.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("demo", help="run the workflow end to end on an embedded S3 server")

    def table_command(name: str, help_text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text, epilog=EPILOG,
                             formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
        cmd.add_argument("table", help="a .csv or .parquet table")
        cmd.add_argument("--columns", help="comma-separated file columns (default: detected)")
        cmd.add_argument("--id-column", default="id", help="the id column (default: id)")
        return cmd

    val = table_command("validate", "check the file columns' URIs (and that objects exist)")
    val.add_argument("--exists", action="store_true", help="also check that every object exists")

    run = table_command("map", "run a function over every row; write the output URIs")
    run.add_argument("--fn", required=True, help="module:function taking (input_dir, output_dir)")
    run.add_argument("--into", required=True, help="s3://bucket/prefix/ or a local directory")
    run.add_argument(
        "--output", help="write the result table here (.csv/.parquet; default: stdout)"
    )
    run.add_argument("--on-error", choices=("raise", "record"), default="raise")
    run.add_argument("--max-workers", type=int, default=None, help="rows computed at once")
    run.add_argument("--resume", action="store_true", help="skip rows an earlier run completed")
    run.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    run.add_argument("--pack", action="store_true", help="write outputs into tar shards")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    pack = table_command("pack", "fuse every row's files into tar shards")
    pack.add_argument("--into", required=True, help="s3://bucket/prefix/ or a local directory")
    pack.add_argument("--shard-size", default="256MB", help="close a shard at this size")
    pack.add_argument("--output", "-o", help="write the table of member URIs (or stdout)")
    return parser


def _run(args: argparse.Namespace) -> int:
    from file_dataset.accessor import FilesAccessor  # imported here: keeps --help fast

    if args.command == "demo":
        from file_dataset.demo import run_demo

        return run_demo()
    df = _read_table(args.table)
    columns = _columns(args.columns)
    if args.command == "validate":
        df.files.validate(columns=columns, id_column=args.id_column, exists=args.exists)
        print(f"ok: {len(df)} rows; file columns {df.files.columns(columns)}")
        return 0
    if args.command == "map":
        fn = _load_fn(args.fn)
        result = FilesAccessor(df).map(
            fn,
            args.into,
            columns=columns,
            id_column=args.id_column,
            on_error=args.on_error,
            max_workers=args.max_workers,
            resume=args.resume,
            overwrite=args.overwrite,
            pack=args.pack,
            progress=not args.no_progress,
        )
        _write_table(result, args.output)
        failed = int(result["error"].notna().sum()) if "error" in result.columns else 0
        if failed:
            print(f"error: {failed} of {len(result)} rows failed", file=sys.stderr)
        return 1 if failed else 0
    packed = FilesAccessor(df).pack(
        args.into, columns=columns, id_column=args.id_column, shard_size=args.shard_size
    )
    _write_table(packed, args.output)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``file-dataset`` console script; returns the exit status.

    0: success; 1: the work failed (a row, a transfer, validation); 2: bad usage
    (a missing or malformed table, a bad ``--fn``, a bad URI).

    Examples:
        >>> main(["validate", "no-such-table.csv"])  # "error: no such table: ..." on stderr
        2
    """
    from file_dataset.errors import (
        FileDatasetError,
        InvalidNameError,
        InvalidURIError,
        NoFileColumnsError,
        ValidationError,
    )

    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except ValidationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except (InvalidURIError, InvalidNameError, NoFileColumnsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except FileDatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
