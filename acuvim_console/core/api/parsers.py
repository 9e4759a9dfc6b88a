"""The REST API's JSON parser: DRF's own, with the console's bounds (acuvim_console.core.json_limits).

DRF's JSONParser hands the body to the standard `json` module, which recurses once per nesting level: a
body nested ~1,200 levels deep raised RecursionError, and that was a 500 on every JSON endpoint, the
anonymous login included. This parser reads at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes and decodes them with
json_limits.loads, so a body that is too large, too deep, too wide, or holds NUL or a lone surrogate is
answered 400 (413 for the size) with what was wrong, before any view sees it.
"""

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser, get_encoding

from acuvim_console.core import json_limits


class RequestBodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise RequestBodyTooLarge(f"The request body is larger than {limit} bytes.")
        encoding = get_encoding(parser_context or {})
        try:
            if encoding.replace("-", "").lower() != "utf8":  # orjson reads UTF-8 bytes, or text
                raw = raw.decode(encoding)
            return json_limits.loads(raw)
        except UnicodeDecodeError:
            raise ParseError(f"JSON parse error - the body is not valid {encoding}.") from None
        except json_limits.JsonRefused as refused:
            raise ParseError(f"JSON parse error - {refused.message}.", code=refused.reason) from None
