"""file-dataset: download -> process locally -> upload, explicit, eager and fast.

Example:
    >>> import file_dataset
    >>> ds = file_dataset.FileDataset()
    >>> isinstance(ds, file_dataset.FileDataset)
    True
"""

from contextlib import suppress as _suppress
from importlib.util import find_spec as _find_spec

from file_dataset import accessor as _accessor  # registers df.files
from file_dataset.accessor import FilesAccessor
from file_dataset.dataset import Downloader, FileDataset
from file_dataset.errors import (
    AccessDeniedError,
    FileDatasetError,
    IntegrityError,
    InvalidNameError,
    InvalidURIError,
    NoFileColumnsError,
    ObjectExistsError,
    ObjectNotFoundError,
    RowError,
    TransferError,
    ValidationError,
)
from file_dataset.runlog import read_manifest
from file_dataset.schema import schema

if _find_spec("dask") is not None:
    with _suppress(ImportError):  # dask without its dataframe dependencies
        from file_dataset import dask_accessor as _dask_accessor  # noqa: F401 - registers ddf.files

__version__ = "0.1.0"

del _accessor

__all__ = [
    "AccessDeniedError",
    "Downloader",
    "FileDataset",
    "FileDatasetError",
    "FilesAccessor",
    "IntegrityError",
    "InvalidNameError",
    "InvalidURIError",
    "NoFileColumnsError",
    "ObjectExistsError",
    "ObjectNotFoundError",
    "RowError",
    "TransferError",
    "ValidationError",
    "__version__",
    "read_manifest",
    "schema",
]
