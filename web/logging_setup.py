"""The process's logging, set up in this one place: LOG_LEVEL, and LOG_FORMAT text (for
people) or json (one object a line, for log collectors); each line has its request id."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from config import Settings
from web.request_id import NONE, install_log_field

TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id, and exc_info as text when present."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", NONE),
        }
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def formatter(settings: Settings) -> logging.Formatter:
    return JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT)


def configure_logging(settings: Settings) -> None:
    """One handler on the root logger, to stderr; uvicorn's loggers propagate to it
    (serve runs uvicorn with log_config=None)."""
    install_log_field()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(settings))
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler], force=True)
    # Alembic's INFO lines name each migration run; migrations.upgrade_to_head says it in
    # one. At DEBUG they all show.
    if logging.root.level > logging.DEBUG:
        logging.getLogger("alembic").setLevel(logging.WARNING)
