"""Text from users' files shown literally in Markdown (labels, tables)."""

from __future__ import annotations

import re

MD_SPECIAL = re.compile(r"[\\`*_{}\[\]()#+\-.!|<>$~:]")


def md_escape(text: str) -> str:
    """Text from a user's file shown literally in Markdown: no links, images, LaTeX or formatting."""
    return MD_SPECIAL.sub(r"\\\g<0>", str(text).replace("\n", " "))


def markdown_table(rows, columns: tuple[str, ...]) -> str:
    """A Markdown table of literal cells (no formatting from the values)."""

    def cell(value) -> str:
        return md_escape(value) or " "

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
