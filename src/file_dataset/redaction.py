"""Keep credentials out of logs, even at DEBUG level.

botocore logs the canonical request and the request headers at DEBUG, and with
them the session token (``x-amz-security-token``). Every FileDataset registers
its secrets here; a filter on the loggers that print requests replaces them
with ``***`` before any handler sees the record.
"""

from __future__ import annotations

import logging
import threading

__all__ = ["register_secret"]

_LOGGERS = (
    "botocore",
    "botocore.auth",
    "botocore.endpoint",
    "botocore.httpsession",
    "botocore.hooks",
    "botocore.parsers",
    "botocore.retryhandler",
    "botocore.credentials",
    "urllib3.connectionpool",
    "s3transfer",
)
_MIN_LENGTH = 8  # never redact trivially short strings ("a", "test") everywhere


class _RedactSecrets(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        hidden = message
        for secret in list(self.secrets):
            hidden = hidden.replace(secret, "***")
        if hidden != message:
            record.msg, record.args = hidden, ()
        return True


_FILTER = _RedactSecrets()
_INSTALLED = False


def register_secret(*values: str | None) -> None:
    """Redact ``values`` from the logs of botocore and urllib3 from now on.

    Examples:
        >>> register_secret("my-session-token-123")
        >>> record = logging.makeLogRecord({"msg": "token=%s", "args": ("my-session-token-123",)})
        >>> _ = _FILTER.filter(record)
        >>> record.getMessage()
        'token=***'
    """
    global _INSTALLED
    with _FILTER.lock:
        _FILTER.secrets.update(v for v in values if v and len(v) >= _MIN_LENGTH)
        if not _INSTALLED:
            for name in _LOGGERS:
                logging.getLogger(name).addFilter(_FILTER)
            _INSTALLED = True
