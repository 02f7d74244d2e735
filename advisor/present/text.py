"""User strings made safe for markdown: literal text, or a code span no backtick can close.

Used wherever a user's string (file, column or class name, a data note) goes into markdown: the
model card (`deploy.artifact`) and the page.
"""

from __future__ import annotations

import re
from typing import Any

from advisor.errors import shown

# The marks that make markup inside a line: emphasis, code, links and images (`[...](...)`), a
# heading's closing `#`, tables, strikethrough and the math some renderers (Streamlit) support.
# `&` and `<` become entities, so no tag, autolink or entity can start. Marks that only count at the
# start of a line (`>`, `-`, `+`, `1.`) never get there: a user's string is kept on one line, after
# the card's own text; a label such as '>50K' therefore reads as it is.
_MARKDOWN_MARKS = re.compile(r"([\\`*_\[\]()#|~$])")


def markdown_text(value: Any) -> str:
    """A user's string (file, column or class name, a data note) as literal markdown text.

    It stays on one line (control characters, line breaks included, are shown as escapes such as
    \\x1b), `&` and `<` become HTML entities and every markdown mark is backslash-escaped: it
    renders as the characters it holds, never as a tag, link, image, emphasis, heading or code.
    """
    text = shown(value, len(str(value))).replace("&", "&amp;").replace("<", "&lt;")
    return _MARKDOWN_MARKS.sub(r"\\\1", text)


def markdown_code(value: Any) -> str:
    """A user's string as a markdown code span: fenced with one backtick more than the longest run
    inside it, so no backtick in it can end the span, and on one line, so it cannot start a block.
    Inside a code span nothing is markup: `<img ...>` shows as those characters."""
    text = shown(value, len(str(value)))
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def terminal_safe(text: str) -> str:
    """`text` with every control character shown as an escape (ESC as \\x1b, CR as \\r, U+202E as
    \\u202e): a file, column or device name cannot move the cursor, recolour, rewrite or reorder
    what the terminal shows. The CLI's own line breaks are kept."""
    if text.isprintable():
        return text
    return "\n".join(shown(line, len(line)) for line in text.split("\n"))
