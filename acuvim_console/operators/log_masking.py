"""Credentials in URLs are masked before a log line is written.

Signed firmware links (`?sig=`) and websocket tickets (`?ticket=`) work without any other credential,
so the servers' access logs (uvicorn's `uvicorn.access` for HTTP and `uvicorn.error` for websocket
handshakes, runserver's `django.server`) must not keep them. The filter rewrites the values of those
query parameters (and a refused `?token=`) to `***` in the message and its arguments.
"""

import logging
import re

MASKED_PARAMETERS = ("sig", "ticket", "token")
MASK = "***"
SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error", "django.server", "django.channels.server", "daphne.server")
_PATTERN = re.compile(rf"([?&](?:{'|'.join(MASKED_PARAMETERS)})=)[^&\s\"']*", re.IGNORECASE)


def mask_credentials(text: str) -> str:
    return _PATTERN.sub(rf"\g<1>{MASK}", text)


class MaskCredentialsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_credentials(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask_credentials(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: mask_credentials(v) if isinstance(v, str) else v for key, v in record.args.items()}
        return True


_FILTER = MaskCredentialsFilter()


def install() -> None:
    """Attach the filter to each server logger; a logging reconfiguration by the server keeps filters."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
