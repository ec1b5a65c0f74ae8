"""Lesson files: their sections and anchors, and the lesson links used by hints and checks. No torch, no UI."""

from __future__ import annotations

import re

from tutor import paths

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)
_FENCE = re.compile(r"^```.*?^```\s*$", re.S | re.M)
LINK = re.compile(r"lessons/([\w.-]+\.md)(#[\w-]+)?")


def slugify(heading: str) -> str:
    """GitHub-style anchor of a heading: lowercase, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a Markdown text (code blocks ignored); repeated headings get -1, -2, …"""
    seen: dict[str, int] = {}
    out = set()
    for m in _HEADING.finditer(_FENCE.sub("", text)):
        slug = slugify(m.group(2))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def broken_links(text: str) -> list[str]:
    """Lesson links in `text` whose file or anchor does not exist."""
    bad = []
    for m in LINK.finditer(text):
        file = paths.lessons_dir() / m.group(1)
        if not file.is_file():
            bad.append(m.group(0))
        elif m.group(2) and m.group(2)[1:] not in anchors(file.read_text(encoding="utf-8")):
            bad.append(m.group(0))
    return bad

