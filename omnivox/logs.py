"""Logging set-up: every line names the request it was written for (`req_...`, also sent to the client
as the `x-request-id` header), or `-` outside requests. API keys never reach the logs: the access line
names a key by a label derived from its hash."""

from __future__ import annotations

import logging

from omnivox.context import current_request

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        scope = current_request()
        record.request_id = scope.id if scope is not None else "-"
        return True


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
