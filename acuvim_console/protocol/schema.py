"""One way to describe a JSON value of the device contract and to say what is wrong with one.

Payload fields (what a device sends), command parameters (what the console sends) and config settings
(the document both sides hold) are all declared as `Field`s, so a limit is written once and judged the same
way everywhere. Each user words the verdict for its audience: the bridge adds the field's path, the value it
got and a refusal reason; the admin and the API show the verdict after the parameter's name.
"""

import re
from dataclasses import dataclass, field

# What a value of each kind is called in a verdict ("must be a whole number").
_KIND_WORDS = {
    "str": "a string",
    "int": "a whole number",
    "number": "a number",
    "bool": "true or false",
    "object": "an object",
    "list": "an array",
}


def json_type_name(value: object) -> str:
    """A decoded JSON value's type as a message names it."""
    return {str: "a string", bool: "a boolean", list: "an array", dict: "an object", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def has_kind(value: object, kind: str) -> bool:
    """Whether a decoded JSON value is of `kind`: true/false is no number (bool is an int in Python), and a
    whole number is a fine `number`. Kinds without a type of their own (ts, ip, any) leave it to their user."""
    value_type = type(value)
    if kind == "number":
        return value_type is int or value_type is float
    expected = {"str": str, "int": int, "bool": bool, "object": dict, "list": list}.get(kind)
    return expected is None or value_type is expected


@dataclass(frozen=True)
class Field:
    """One value: its JSON kind, whether it must be there, and the values allowed.

    `kind` is one of str, int, number, bool, object, list, or one a user checks itself (ts, ip, any).
    `fields` describes the members of an object; `message` replaces the generic verdict on a value that has
    the right type but is not allowed (choices, range, pattern).
    """

    kind: str
    required: bool = False
    low: float | None = None
    high: float | None = None
    max_length: int | None = None
    choices: tuple = ()
    pattern: str | None = None
    fields: dict = field(default_factory=dict)
    message: str = ""

    def type_problem(self, value: object) -> str | None:
        return None if has_kind(value, self.kind) else f"must be {_KIND_WORDS[self.kind]}"

    def value_problem(self, value: object) -> str | None:
        """For a value of the right kind: why it is not allowed, or None."""
        if self.choices and value not in self.choices:
            return self.message or f"must be one of {', '.join(map(str, self.choices))}"
        if self.kind in ("int", "number") and not _within(value, self.low, self.high):
            return self.message or _range_words(self.low, self.high)
        if self.max_length is not None and len(value) > self.max_length:
            return self.message or f"must be at most {self.max_length} characters"
        if self.pattern and not re.fullmatch(self.pattern, value):
            return self.message or "has an invalid format"
        return None

    def problem(self, value: object) -> str | None:
        return self.type_problem(value) or self.value_problem(value)


def _within(value: float, low: float | None, high: float | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def _range_words(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"must be from {low} to {high}"
    return f"must be at least {low}" if low is not None else f"must be at most {high}"
