"""Streaming CSV responses that keep memory flat whatever the number of rows.

Rows come from a database iterator (server-side cursor on PostgreSQL) and are written out a chunk of
lines at a time. Under ASGI, Django would drain a *synchronous* iterator into a list before sending it
(its StreamingHttpResponse cannot iterate sync code from the event loop), so there the rows are pulled
one chunk per `sync_to_async` call instead: same thread as the view, so the same database cursor.
"""

import csv
from collections.abc import AsyncIterator, Iterable, Iterator
from itertools import islice

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

LINES_PER_CHUNK = 1000


class _LineBuffer:
    """A file-like sink for csv.writer that hands back what was written."""

    def write(self, text: str) -> str:
        return text


def csv_chunks(header: list[str], rows: Iterable[Iterable]) -> Iterator[str]:
    writer = csv.writer(_LineBuffer())
    yield writer.writerow(header)
    rows = iter(rows)
    while chunk := list(islice(rows, LINES_PER_CHUNK)):
        yield "".join(writer.writerow(row) for row in chunk)


async def _async_chunks(chunks: Iterator[str]) -> AsyncIterator[str]:
    pull = sync_to_async(lambda: next(chunks, None), thread_sensitive=True)
    while (chunk := await pull()) is not None:
        yield chunk


def streaming_csv_response(
    request, filename: str, header: list[str], rows: Iterable[Iterable]
) -> StreamingHttpResponse:
    chunks = csv_chunks(header, rows)
    django_request = getattr(request, "_request", request)
    content = _async_chunks(chunks) if isinstance(django_request, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
