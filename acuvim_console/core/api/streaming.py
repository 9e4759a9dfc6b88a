"""Streaming responses that keep memory flat whatever their size (the telemetry CSV export).

Under ASGI, Django drains a *synchronous* iterator into a list before sending it (its
StreamingHttpResponse cannot iterate sync code from the event loop), which would hold a million-row
export in memory. So under ASGI the chunks are pulled one per `sync_to_async` call instead: in the
same thread as the view, so a database cursor opened by the iterator stays usable.
"""

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse


async def _pulled_one_by_one(chunks: Iterator) -> AsyncIterator:
    pull = sync_to_async(lambda: next(chunks, None), thread_sensitive=True)
    while (chunk := await pull()) is not None:
        yield chunk


def streaming_download(request, chunks: Iterator, filename: str, content_type: str) -> StreamingHttpResponse:
    django_request = getattr(request, "_request", request)
    content = _pulled_one_by_one(chunks) if isinstance(django_request, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
