"""Path globs for manifest rules, compiled to regexes.

Not fnmatch: its `*` crosses '/' and it has no `**`. Kept apart from the manifest because
it is plain path matching with no knowledge of styles or outputs.
"""

from __future__ import annotations

import re

__all__ = ["glob_to_regex"]


def glob_to_regex(pattern: str) -> re.Pattern:
    """Glob on '/'-separated relative paths, matched case-insensitively (SMB shares are).

    `*` and `?` stay within one path segment, `[abc]`/`[!abc]` are character classes, and
    a `**` segment matches any number of segments, none included. ValueError if invalid.
    """
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("empty pattern; use a glob like 'campaign/**'")
    if pattern.startswith("/") or "\\" in pattern:
        raise ValueError("use a relative path with '/' separators, like 'campaign/**/*.jpg'")
    segments = pattern.split("/")
    out = []
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
            continue
        if not seg:
            raise ValueError("empty path segment ('//' or a trailing '/')")
        if "**" in seg:
            raise ValueError(f"'**' must be a whole path segment, as in 'a/**/b', not {seg!r}")
        if seg in (".", ".."):
            raise ValueError(f"{seg!r} segments are not allowed; paths are inside the inbox")
        out.append(_segment(seg) + ("" if last else "/"))
    try:
        return re.compile("".join(out), re.IGNORECASE | re.DOTALL)
    except re.error as exc:          # e.g. a reversed range like [z-a]
        raise ValueError(f"bad character class: {exc}") from None


def _segment(seg: str) -> str:
    out, i = [], 0
    while i < len(seg):
        c = seg[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 1 + (seg[i + 1:i + 2] in ("!", "^"))
            end = seg.find("]", j + (seg[j:j + 1] == "]"))   # a leading ']' is literal
            if end < 0:
                raise ValueError(f"unclosed '[' in {seg!r}")
            body = "".join("\\" + ch if ch in "\\[]^" else ch for ch in seg[j:end])
            out.append(f"[^/{body}]" if j > i + 1 else f"[{body}]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)
