"""Bounded JSON decoding for every document that comes from outside: request bodies, websocket frames, forms.

A document that parses is not yet one the console can use. Nesting a few thousand levels deep makes any
recursive walk (the standard `json` module, Django's encoder, a serializer) raise RecursionError; an object
with a huge number of keys costs memory and time out of proportion to its size; a NUL character cannot be
stored in PostgreSQL text (the query fails with DataError); a lone surrogate (`"\\ud800"`) is not a
character, so the text cannot be encoded as UTF-8 when it is written back out. `loads` refuses all four
before anything else touches the document, with a `JsonRefused` that says which bound was crossed, so the
caller can answer 400 with that message instead of failing later with a 500.

The bounds are far above what any legitimate request needs (configs and command params are two or three
levels deep with a few dozen keys). Arrays are not bounded by count: a deploy may name thousands of devices.
Device payloads have their own, tighter bounds in the bridge (MQTT_MAX_JSON_DEPTH, MQTT_MAX_JSON_MEMBERS,
acuvim_console.protocol.payloads.check_shape); stored documents are read back within the larger depth of the two
(`loads_stored`), so whatever the bridge accepted is shown whole.
"""

import logging

import orjson
from django.conf import settings
from django.db import models

log = logging.getLogger(__name__)

# Containers (objects and arrays) inside one another; `{"a": {"b": 1}}` is 2 levels deep.
MAX_DEPTH = 32
# Keys of any one object. Arrays are bounded by the body size only (a deploy may list thousands of devices).
MAX_OBJECT_KEYS = 1000


class JsonRefusal(models.TextChoices):
    INVALID = "invalid_json", "not valid JSON"
    TOO_DEEP = "too_deep", "nested too deeply"
    TOO_MANY_KEYS = "too_many_keys", "an object with too many keys"
    NUL_CHARACTER = "nul_character", "a NUL character"
    LONE_SURROGATE = "lone_surrogate", "a lone surrogate"


class JsonRefused(ValueError):
    """A JSON document the console will not use; `reason` is a JsonRefusal, the message says what exactly."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def loads(
    raw: bytes | str, max_depth: int = MAX_DEPTH, max_object_keys: int | None = MAX_OBJECT_KEYS, refuse_nul: bool = True
) -> object:
    """The document in `raw`, or JsonRefused when it is not JSON or crosses one of the bounds.

    `max_object_keys=None` and `refuse_nul=False` are for documents read back from storage, where only what
    cannot be rendered (too deep, lone surrogates) matters.

    orjson does the parsing: it never recurses past its own fixed limit (1024 levels), refuses lone
    surrogates and invalid UTF-8, and is strict JSON (no NaN or Infinity). The tighter bounds and the NUL
    check are then one iterative pass over the parsed document.
    """
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _refusal_for(exc, max_depth) from None
    check_document(document, max_depth, max_object_keys, refuse_nul)
    return document


def _refusal_for(exc: orjson.JSONDecodeError, max_depth: int) -> JsonRefused:
    detail = str(exc)
    if "depth limit" in detail or "recursion" in detail:
        return JsonRefused(JsonRefusal.TOO_DEEP, f"JSON nested deeper than {max_depth} levels")
    if "surrogate" in detail and "UTF-8" not in detail:  # orjson says "surrogates not allowed" of bad UTF-8 too
        return JsonRefused(
            JsonRefusal.LONE_SURROGATE, f"JSON text holds a lone surrogate, which is not a character ({detail})"
        )
    return JsonRefused(JsonRefusal.INVALID, f"not valid JSON: {detail}")


def check_document(
    document: object,
    max_depth: int = MAX_DEPTH,
    max_object_keys: int | None = MAX_OBJECT_KEYS,
    refuse_nul: bool = True,
    max_array_items: int | None = None,
) -> None:
    """Raise JsonRefused if an already parsed document crosses a bound. Iterative, so any depth is safe.

    Arrays are unbounded unless `max_array_items` says otherwise (device payloads bound them: a gateway
    never sends thousands of items, and the bridge walks what it stores).
    """
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            check_text(value, refuse_nul)
            continue
        if isinstance(value, dict):
            if max_object_keys is not None and len(value) > max_object_keys:
                raise JsonRefused(JsonRefusal.TOO_MANY_KEYS, f"a JSON object has more than {max_object_keys} keys")
            for key in value:
                check_text(key, refuse_nul)
            children = value.values()
        elif isinstance(value, list):
            if max_array_items is not None and len(value) > max_array_items:
                raise JsonRefused(JsonRefusal.TOO_MANY_KEYS, f"a JSON array has more than {max_array_items} items")
            children = value
        else:
            continue
        if depth > max_depth:
            raise JsonRefused(JsonRefusal.TOO_DEEP, f"JSON nested deeper than {max_depth} levels")
        pending.extend((child, depth + 1) for child in children if isinstance(child, str | dict | list))


def check_text(text: str, refuse_nul: bool = True) -> None:
    """Raise JsonRefused for text PostgreSQL cannot store (NUL) or UTF-8 cannot encode (a lone surrogate)."""
    if refuse_nul and "\x00" in text:
        raise JsonRefused(
            JsonRefusal.NUL_CHARACTER, "JSON text holds a NUL character (\\u0000), which cannot be stored"
        )
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise JsonRefused(
                JsonRefusal.LONE_SURROGATE, "JSON text holds a lone surrogate, which is not a character"
            ) from None


# --- Reading stored documents back ------------------------------------------------------------------

# What a stored document that cannot be rendered is shown as: why, and the start of its text as stored.
UNREADABLE_KEY = "unreadable"
STORED_TEXT_KEY = "stored_text"
STORED_TEXT_PREVIEW_CHARS = 1000


def stored_max_depth() -> int:
    """Whatever the bridge accepts (MQTT_MAX_JSON_DEPTH) must read back whole, so the larger of the two bounds."""
    return max(MAX_DEPTH, settings.MQTT_MAX_JSON_DEPTH)


def loads_stored(text: str) -> object:
    """A document read back from the database, or a placeholder saying why it cannot be shown.

    Rows written before these bounds existed can hold what no page can render: a lone surrogate (valid
    in PostgreSQL's `json`, not encodable as UTF-8) or nesting a thousand levels deep (every recursive
    encoder fails). They must still be listable, so they come back as `{UNREADABLE_KEY: reason,
    STORED_TEXT_KEY: the first characters of the stored text}`; the stored text is plain JSON text with
    its escapes intact, so it renders anywhere. Key counts and NUL do not matter for reading.
    """
    try:
        return loads(text, max_depth=stored_max_depth(), max_object_keys=None, refuse_nul=False)
    except JsonRefused as refused:
        log.warning("a stored JSON document cannot be shown: %s", refused.message)
        return {UNREADABLE_KEY: refused.message, STORED_TEXT_KEY: text[:STORED_TEXT_PREVIEW_CHARS]}
