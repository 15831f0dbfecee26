"""file-dataset: download -> process locally -> upload, explicit, eager and fast.

Example:
    >>> import file_dataset
    >>> ds = file_dataset.FileDataset()
    >>> isinstance(ds, file_dataset.FileDataset)
    True
"""

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
)
from file_dataset.schema import schema

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
    "__version__",
    "schema",
]
