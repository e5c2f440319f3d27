"""How `stream serve` writes its log on stderr: text lines as ever, or with `--log-format json`
one JSON object per line, which log collectors read without a parsing rule of their own.

A JSON line has `time` (ISO 8601, UTC), `level`, `logger` and `message`, then each field the
logging call passed with `extra=` under its own key: an access line (serve/access_log.py) carries
`request_id`, `method`, `code`, `seconds` and `peer`, so a collector can filter on them.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys
from typing import IO

LOG_FORMATS = ("text", "json")
_TEXT = "stream serve: %(message)s"
# What every LogRecord has; any other attribute of a record is a field passed with extra=.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        created = datetime.datetime.fromtimestamp(record.created, datetime.UTC)
        entry = {
            "time": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES:
                entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: a field no JSON type holds is written as its text, not dropped
        return json.dumps(entry, default=str)


def log_handler(log_format: str, stream: IO[str]) -> logging.Handler:
    """A handler writing `log_format` (LOG_FORMATS) lines to stream."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log_format={log_format!r} is not known; accepted: {LOG_FORMATS}")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(_TEXT))
    return handler


def configure_logging(log_format: str) -> None:
    """The one place `stream serve` sets up logging: `log_format` lines on stderr, from the
    server's loggers (`serve.*`: its messages, the access log) at INFO and above, and from every
    other (JAX, orbax, Python warnings) at WARNING and above.

    It replaces whatever handler the root logger has: importing orbax logs through absl, which
    installs a default one at WARNING, under which no access line would be printed.
    """
    logging.basicConfig(
        level=logging.WARNING, handlers=[log_handler(log_format, sys.stderr)], force=True
    )
    logging.getLogger("serve").setLevel(logging.INFO)
    logging.captureWarnings(True)
