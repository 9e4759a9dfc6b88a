"""Firmware version order, as the console orders them (firmware/versions.py): Semantic Versioning precedence.

The gateway needs it to refuse a downgrade nobody asked for. Accepted spellings are the console's: an
optional leading `v`, MAJOR.MINOR[.PATCH], an optional `-PRERELEASE` (dot-separated, numeric parts
compared as numbers and before alphanumeric ones) and `+BUILD`, which does not count. Written without
`re` so MicroPython's small regex engine is not needed.
"""

DIGITS = "0123456789"
IDENTIFIER_CHARS = DIGITS + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-"


def _number(text):
    if not text or any(ch not in DIGITS for ch in text) or (len(text) > 1 and text[0] == "0"):
        return None
    return int(text)


def sort_key(version):
    """A tuple that orders like the version, or None when `version` is not one."""
    if not isinstance(version, str) or not version:
        return None
    text = version[1:] if version[0] in "vV" else version
    text = text.split("+", 1)[0]
    core, dash, pre = text.partition("-")
    if dash and not pre:
        return None
    numbers = [_number(part) for part in core.split(".")]
    if len(numbers) not in (2, 3) or None in numbers:
        return None
    if len(numbers) == 2:
        numbers.append(0)
    identifiers = []
    if pre:
        for part in pre.split("."):
            if not part or any(ch not in IDENTIFIER_CHARS for ch in part):
                return None
            value = _number(part)
            identifiers.append((0, value, "") if value is not None else (1, 0, part))
    # A release sorts after every pre-release of the same number.
    return (numbers[0], numbers[1], numbers[2], not identifiers, tuple(identifiers))


def compare(candidate, running):
    """-1, 0 or 1 as `candidate` is older than, the same release as, or newer than `running`; None if
    either cannot be read as a version (then nobody can tell which is newer)."""
    a, b = sort_key(candidate), sort_key(running)
    if a is None or b is None:
        return None
    return (a > b) - (a < b)
