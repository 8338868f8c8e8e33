"""What a person's terminal may be sent: text with its control characters escaped.

Names come from the share, and a photo named ``\\x1b]0;...\\x07.jpg`` would retitle the
operator's terminal (ESC, BEL, BS and DEL all act on it), and one with a newline would
forge a line of output. Every human-facing text that shows a name (status, styles,
retry, problem notes, text log lines) passes it through `escape_controls`; JSON output
and JSON log lines keep the exact names.

The form is ``ls --quoting-style=escape``'s for control characters: C escapes for
``\\a \\b \\t \\n \\v \\f \\r``, three-digit octal for the other C0 characters and DEL
(ESC is ``\\033``, DEL ``\\177``), and octal for each byte of a name that is not UTF-8
(Python's surrogate escapes). C1 controls and the Unicode line and paragraph separators
are ``\\u0085``-style. Unlike ls, spaces and backslashes stay as they are, so ordinary
names and messages read unchanged.
"""

from __future__ import annotations

import unicodedata

__all__ = ["escape_controls"]

_C_ESCAPES = {"\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f",
              "\r": "\\r"}
_ESCAPED_CATEGORIES = ("Cc", "Zl", "Zp", "Cs")


def _escape(c: str) -> str:
    code = ord(c)
    if c in _C_ESCAPES:
        return _C_ESCAPES[c]
    if code < 0x20 or code == 0x7F:
        return f"\\{code:03o}"
    if 0xDC80 <= code <= 0xDCFF:          # a byte that was not UTF-8 (surrogateescape)
        return f"\\{code - 0xDC00:03o}"
    return f"\\u{code:04x}"


def escape_controls(text: object) -> str:
    """`text` (str() of it) safe for a terminal: control characters escaped as above."""
    text = str(text)
    if text.isprintable() or not any(unicodedata.category(c) in _ESCAPED_CATEGORIES
                                     for c in text):
        return text
    return "".join(_escape(c) if unicodedata.category(c) in _ESCAPED_CATEGORIES else c
                   for c in text)
