"""The path converter for names stored in text columns (device ids, firmware versions): `<key:device_id>`.

Django's `str` converter matches any text without a slash, NUL and control characters included, and any
length. A NUL reached PostgreSQL in the lookup (`WHERE device_id = '\\x00'`), which fails with DataError:
`/api/devices/%00` was a 500. This converter matches only what such a column can hold (printable text, at
most KEY_MAX_LENGTH characters), so anything else falls through to the URL conf's "not found" answer
before a query is built. Importing `KEY` registers it, which is why the URL modules name it through
the constant.
"""

from django.urls import register_converter

KEY = "key"
KEY_MAX_LENGTH = 64  # the longest of those columns is 32 characters; longer can never match


class KeyConverter:
    regex = rf"[^/\x00-\x1f\x7f]{{1,{KEY_MAX_LENGTH}}}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(KeyConverter, KEY)
