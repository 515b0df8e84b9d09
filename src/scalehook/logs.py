"""Where scalehook's log goes and how it reads: text lines, or one JSON object per line.

``log_format: json`` writes ``{"time", "level", "logger", "message", ...}`` with the
structured fields a line was logged with (``extra=``: ``execution_id``, ``receiver``,
``driver``, ``target``, ``result``; the access log's ``method``, ``path``, ``status``),
for a log shipper to index. Nothing secret is ever logged, in either form: trigger paths
are redacted before they are logged, and the loggers that would print SQL parameters are
held above the level where they do.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

Format = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: attributes every LogRecord has: anything else on a record came from ``extra=``
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
#: extras others add that are no use in JSON (uvicorn's colored copy of the message)
_DROPPED = frozenset({"color_message"})


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key in _DROPPED or key.startswith("_") or key in line:
                continue
            line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def setup_logging(level: str, fmt: Format = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # httpx logs every request's URL at INFO (and the engine backends make many); a Slack
    # notification's URL is a secret. These log SQL with its parameters, which hold
    # receivers' and notifications' secrets. Neither, at any level.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
