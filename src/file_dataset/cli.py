"""The ``file-dataset`` command line.

Example:
    $ file-dataset demo
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]

EPILOG = """examples:
  file-dataset demo          run the whole workflow on an embedded S3 server
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="file-dataset",
        description="Download -> process locally -> upload, over S3 and pandas.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("demo", help="run the workflow end to end on an embedded S3 server")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``file-dataset`` console script; returns the exit code.

    Example:
        >>> main(["--help"])  # doctest: +SKIP
    """
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from file_dataset.demo import run_demo

        return run_demo()
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
