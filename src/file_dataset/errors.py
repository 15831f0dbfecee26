"""The exceptions of file-dataset.

Every exception derives from `FileDatasetError`, and each also inherits the
builtin that a caller would naturally catch, so both of these work:

    try:
        ds.downloader({"a.txt": "s3://bucket/missing"}).into_dir("out")
    except FileNotFoundError:        # builtin
        ...
    except FileDatasetError:         # everything from this library
        ...

The tree:

    FileDatasetError
    ├── InvalidURIError      (ValueError)        malformed or unsupported URI
    ├── InvalidNameError     (ValueError)        unsafe file name or id
    ├── NoFileColumnsError   (ValueError)        a DataFrame without file columns
    ├── ValidationError      (ValueError)        df.files.validate found bad cells
    ├── ObjectNotFoundError  (FileNotFoundError) object, bucket or file missing
    ├── AccessDeniedError    (PermissionError)   access denied, bad credentials
    ├── ObjectExistsError    (FileExistsError)   refusing to overwrite
    ├── TransferError        (OSError)           transfer failed after retries
    │   └── IntegrityError                       size or checksum mismatch
    └── RowError                                 one DataFrame row failed in `map`

Errors raised by botocore are kept as ``__cause__``; messages never contain
credentials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AccessDeniedError",
    "FileDatasetError",
    "IntegrityError",
    "InvalidNameError",
    "InvalidURIError",
    "NoFileColumnsError",
    "ObjectExistsError",
    "ObjectNotFoundError",
    "RowError",
    "TransferError",
    "ValidationError",
]


class FileDatasetError(Exception):
    """Root of every exception raised by file-dataset.

    Examples:
        >>> issubclass(InvalidURIError, FileDatasetError)
        True
    """


class InvalidURIError(FileDatasetError, ValueError):
    """A URI is malformed or has an unsupported scheme; raised before any transfer.

    Examples:
        >>> from file_dataset.uri import parse_uri
        >>> parse_uri("http://x/y")
        Traceback (most recent call last):
        ...
        file_dataset.errors.InvalidURIError: unsupported URI scheme 'http' in 'http://x/y' ...
    """


class InvalidNameError(FileDatasetError, ValueError):
    """A file name or id could escape its directory or is otherwise unusable.

    Examples:
        >>> from file_dataset.uri import check_name
        >>> check_name("../evil")
        Traceback (most recent call last):
        ...
        file_dataset.errors.InvalidNameError: unsafe file name '../evil': ...
    """


class NoFileColumnsError(FileDatasetError, ValueError):
    """A DataFrame given to a `df.files` method has no file columns.

    Examples:
        >>> issubclass(NoFileColumnsError, ValueError)
        True
    """


class ValidationError(FileDatasetError, ValueError):
    """`df.files.validate` found problems; ``failure_cases`` lists every one.

    ``failure_cases`` is pandera's table: one row per failure with its
    ``column``, ``index`` (the row), ``check`` and ``failure_case`` (the value).
    The pandera ``SchemaErrors`` is kept as ``__cause__``. Unlike it, this
    error pickles, so it crosses process boundaries (dask workers).

    Examples:
        >>> import pandas as pd
        >>> cases = pd.DataFrame({"column": ["a"], "index": [3], "check": ["well-formed URI"],
        ...                       "failure_case": ["http://x"]})
        >>> print(ValidationError(cases))
        1 validation failure(s):
          row 3, column 'a': well-formed URI (got 'http://x')
    """

    def __init__(self, failure_cases: pd.DataFrame) -> None:
        lines = [
            f"  row {row['index']!r}, column {row['column']!r}: {row['check']} "
            f"(got {row['failure_case']!r})"
            for _, row in failure_cases.head(20).iterrows()
        ]
        more = len(failure_cases) - len(lines)
        if more > 0:
            lines.append(f"  ... and {more} more (see .failure_cases)")
        super().__init__(f"{len(failure_cases)} validation failure(s):\n" + "\n".join(lines))
        self.failure_cases = failure_cases

    def __reduce__(self) -> tuple[Any, ...]:
        return (ValidationError, (self.failure_cases,))


class ObjectNotFoundError(FileDatasetError, FileNotFoundError):
    """The object, its bucket, or a local source file does not exist.

    Examples:
        >>> isinstance(ObjectNotFoundError("no such object: s3://b/k"), FileNotFoundError)
        True
    """


class AccessDeniedError(FileDatasetError, PermissionError):
    """Access was denied, or the credentials are missing, invalid or expired.

    Examples:
        >>> isinstance(AccessDeniedError("access denied to bucket 'b'"), PermissionError)
        True
    """


class ObjectExistsError(FileDatasetError, FileExistsError):
    """The destination already exists and overwriting was not requested.

    Examples:
        >>> isinstance(ObjectExistsError("exists: s3://b/k"), FileExistsError)
        True
    """


class TransferError(FileDatasetError, OSError):
    """A transfer failed for good (retries exhausted, or a non-retryable server error).

    Examples:
        >>> isinstance(TransferError("GET s3://b/k failed"), OSError)
        True
    """


class IntegrityError(TransferError):
    """The bytes received do not match the size or checksum the server announced.

    Examples:
        >>> issubclass(IntegrityError, TransferError)
        True
    """


class RowError(FileDatasetError):
    """One row of a `df.files.map` failed.

    Attributes:
        row: the row's index label.
        id: the row's id.
        stage: ``"download"``, ``"fn"`` or ``"upload"``.
        partial: the result DataFrame of the rows that finished before the failure.

    Examples:
        >>> err = RowError(row=3, id="a", stage="fn", message="boom")
        >>> str(err)
        "row 3 (id 'a') failed in fn: boom"
    """

    def __init__(
        self,
        *,
        row: Any,
        id: str,
        stage: str,
        message: str,
        partial: pd.DataFrame | None = None,
    ) -> None:
        super().__init__(f"row {row!r} (id {id!r}) failed in {stage}: {message}")
        self.row = row
        self.id = id
        self.stage = stage
        self.partial = partial

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only __init__: teach pickle (and dask) how to rebuild us.
        return (_rebuild_row_error, (self.row, self.id, self.stage, str(self), self.partial))


def _rebuild_row_error(
    row: Any, id: str, stage: str, text: str, partial: pd.DataFrame | None
) -> RowError:
    err = RowError(row=row, id=id, stage=stage, message="", partial=partial)
    err.args = (text,)
    return err
