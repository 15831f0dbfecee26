"""Storage backends: one module per backend behind the small `Store` interface."""

from file_dataset.stores.base import Store
from file_dataset.stores.local import LocalStore, atomic_path
from file_dataset.stores.s3 import S3Store

__all__ = ["LocalStore", "S3Store", "Store", "atomic_path"]
