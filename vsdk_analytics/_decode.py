r"""JSON text to raw parts: split objects and arrays into source spans, canonical JSON text.

msgspec does the work whenever it accepts the text. Some valid JSON it refuses: a
lone surrogate escape (``"\ud83d"``, a cut emoji), nesting deeper than the
interpreter's recursion limit, and (when typed) numbers beyond float range. For
those, a small validating scanner written without recursion finds the same spans,
so one odd value costs that value, never its page.

**Canonical JSON text** (`canonical_json`), the one form in which this library
stores JSON as text (``metadata``; in ``extra``, values no decoder accepts): the
source text with insignificant whitespace removed, strings re-escaped minimally (UTF-8, escaping
only ``"``, ``\`` and control characters, lone surrogates as lowercase
``\uXXXX``), and everything else exactly as sent: key order, duplicate keys,
numbers (their source text, so ``1E5``, ``1.50`` and ``1e400`` stay as they are).
It depends only on the source text, so every decoding path gives the same text.

**Duplicate keys** in a record (or its webhook): the last one wins, as in Python's
`json` and JavaScript's ``JSON.parse``. Inside ``metadata`` they are kept as sent.
"""

from __future__ import annotations

import json
import re
from typing import Final

import msgspec

__all__ = [
    "MAYBE_NOT_CANONICAL",
    "NotJSONError",
    "Odd",
    "canonical_json",
    "decode_value",
    "split_array",
    "split_object",
    "string_text",
]

_ANY: Final = msgspec.json.Decoder()
_OBJECT: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ARRAY: Final = msgspec.json.Decoder(list[msgspec.Raw])
_RAW: Final = msgspec.json.Decoder(msgspec.Raw)

_TOKEN: Final = re.compile(
    r'[ \t\n\r]*(?:("[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*")'
    r"|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)"
    r"|(true|false|null)|([{}\[\]:,]))"
)
_TRAILING: Final = re.compile(r"[ \t\n\r]*")
MAYBE_NOT_CANONICAL: Final = r'[{\[,:][ \t\n\r]|[ \t\n\r][}\],:"]|^[ \t\n\r]|[ \t\n\r]$|\\[/u]'
"""Matches every text `canonical_json` would change (whitespace outside strings, escapes
other than the minimal ones), and some it would not; usable by Polars' regex too."""
_MAYBE_NOT_CANONICAL: Final = re.compile(MAYBE_NOT_CANONICAL)
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_MSGSPEC_REFUSES: Final = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)


class NotJSONError(ValueError):
    """The text is not JSON (cut off, an HTML page, invalid UTF-8); ``str`` says where."""


class Odd:
    """A valid JSON value no typed decoder accepts, as canonical text, and why."""

    __slots__ = ("raw", "reason")

    def __init__(self, text: str, reason: str) -> None:
        self.raw = msgspec.Raw(text.encode())
        self.reason = reason

    def __repr__(self) -> str:
        return bytes(self.raw).decode()


def string_text(value: str) -> str:
    r"""A string as canonical JSON text (lone surrogates as ``\uXXXX`` escapes)."""
    try:
        return msgspec.json.encode(value).decode()
    except UnicodeEncodeError:  # a lone surrogate: msgspec and json agree on everything else
        text = json.dumps(value, ensure_ascii=False)
        return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def canonical_json(span: bytes | str) -> str:
    """The canonical text of one valid JSON value (see the module docstring)."""
    text = span if isinstance(span, str) else span.decode()
    if not _MAYBE_NOT_CANONICAL.search(text):
        return text  # already canonical: no escapes to redo, no whitespace outside strings
    parts: list[str] = []
    for m in _TOKEN.finditer(text):
        token = m.group(m.lastindex or 0)
        if m.lastindex == 1 and "\\" in token:
            token = string_text(json.loads(token))
        parts.append(token)
    return "".join(parts)


def _reason(span: bytes) -> str:
    try:
        _ANY.decode(span)
    except msgspec.ValidationError:
        return "holds a number out of float range"
    except RecursionError:
        return "is nested too deeply to decode"
    except msgspec.DecodeError:
        return "holds a lone surrogate escape (a cut emoji?)"
    return "cannot be decoded"  # pragma: no cover - only called after a refusal


def decode_value(span: bytes) -> object:
    """The Python value of one valid JSON value, or an `Odd` keeping its exact text."""
    try:
        return _ANY.decode(span)
    except _MSGSPEC_REFUSES:
        return Odd(canonical_json(span), _reason(span))


def _valid(span: bytes) -> bool:
    """Whether msgspec finds ``span`` one valid JSON value (False: ask the scanner)."""
    try:
        _RAW.decode(span)
    except _MSGSPEC_REFUSES:
        return False
    return True


def split_object(span: bytes) -> dict[str, bytes] | None:
    """The members of a JSON object as source spans (last duplicate wins); None if no object.

    Raises
    ------
    NotJSONError
        ``span`` is not one valid JSON value.
    """
    try:
        members = _OBJECT.decode(span)
    except msgspec.ValidationError:
        children = _scanned(span, "{", other_value=True)
    except _MSGSPEC_REFUSES:
        children = _scanned(span, "{", other_value=False)
    else:
        return {key: bytes(value) for key, value in members.items()}
    return None if children is None else {json.loads(key): value for key, value in children}


def split_array(span: bytes) -> list[bytes] | None:
    """The items of a JSON array as source spans; None if ``span`` is not an array.

    Raises
    ------
    NotJSONError
        ``span`` is not one valid JSON value.
    """
    try:
        items = _ARRAY.decode(span)
    except msgspec.ValidationError:
        children = _scanned(span, "[", other_value=True)
    except _MSGSPEC_REFUSES:
        children = _scanned(span, "[", other_value=False)
    else:
        return [bytes(item) for item in items]
    return None if children is None else [value for _, value in children]


def _scanned(span: bytes, opening: str, *, other_value: bool) -> list[tuple[str, bytes]] | None:
    """The members of ``span`` by the scanner, when it is an ``opening`` container.

    ``other_value``: msgspec parsed ``span`` as another kind of value, so valid JSON
    there is simply not this container (the scan is only needed to name an error).
    """
    if other_value and _valid(span):
        return None
    kind, children = _scan(span)
    return children if kind == opening else None


# The scanner: one pass, an explicit stack instead of recursion.
_VALUE, _VALUE_OR_CLOSE, _KEY, _KEY_OR_CLOSE, _COLON, _NEXT, _END = range(7)
_STRING, _PUNCT = 1, 4


def _scan(span: bytes) -> tuple[str, list[tuple[str, bytes]]]:
    """Validate one JSON value; its kind (``{``, ``[`` or ``scalar``) and top-level members.

    Members are ``(key token, value span)``; array items have an empty key.
    """
    try:
        text = span.decode()
    except UnicodeDecodeError as exc:
        raise NotJSONError(f"invalid UTF-8 at byte {exc.start}") from None
    scanner = _Scanner(text)
    scanner.run()
    return scanner.kind, scanner.children


class _Scanner:
    """The state of one scan: what may come next, the open containers, the members."""

    __slots__ = ("children", "expect", "key", "kind", "stack", "start", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.stack: list[str] = []
        self.children: list[tuple[str, bytes]] = []
        self.kind = "scalar"
        self.expect = _VALUE
        self.key = ""
        self.start = 0

    def run(self) -> None:
        pos = 0
        while self.expect != _END and (m := _TOKEN.match(self.text, pos)) is not None:
            pos = m.end()
            group = m.lastindex or 0
            if group == _PUNCT:
                self._punctuation(m.group(group), m.start(group), pos)
            else:
                self._scalar(group, m.group(group), m.start(group), pos)
        tail = _TRAILING.match(self.text, pos)
        end = tail.end() if tail else pos
        if self.expect != _END or end != len(self.text):
            where = "end of text" if end >= len(self.text) else f"character {end}"
            raise NotJSONError(f"unexpected {where}")

    def _scalar(self, group: int, lexeme: str, at: int, pos: int) -> None:
        if group == _STRING and self.expect in (_KEY, _KEY_OR_CLOSE):
            if len(self.stack) == 1:
                self.key = lexeme
            self.expect = _COLON
        elif self.expect in (_VALUE, _VALUE_OR_CLOSE):
            if len(self.stack) == 1:
                self.start = at
            self._done(pos)
        else:
            raise NotJSONError(f"unexpected {lexeme[:20]!r} at character {at}")

    def _punctuation(self, char: str, at: int, pos: int) -> None:
        if char in "{[" and self.expect in (_VALUE, _VALUE_OR_CLOSE):
            if len(self.stack) == 1:
                self.start = at
            elif not self.stack:
                self.kind = char
            self.stack.append(char)
            self.expect = _KEY_OR_CLOSE if char == "{" else _VALUE_OR_CLOSE
        elif char == ":" and self.expect == _COLON:
            self.expect = _VALUE
        elif char == "," and self.expect == _NEXT:
            self.expect = _KEY if self.stack[-1] == "{" else _VALUE
        elif char in "}]" and self._closes(char):
            self.stack.pop()
            self._done(pos)
        else:
            raise NotJSONError(f"unexpected {char!r} at character {at}")

    def _closes(self, char: str) -> bool:
        opener, empty = ("{", _KEY_OR_CLOSE) if char == "}" else ("[", _VALUE_OR_CLOSE)
        return bool(self.stack) and self.stack[-1] == opener and self.expect in (_NEXT, empty)

    def _done(self, pos: int) -> None:
        """A value ended at ``pos``: record it if it is a member of the outermost value."""
        if not self.stack:
            self.expect = _END
            return
        if len(self.stack) == 1:
            key = self.key if self.stack[0] == "{" else ""
            self.children.append((key, self.text[self.start : pos].encode()))
        self.expect = _NEXT
