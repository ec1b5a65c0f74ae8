"""A Markdown viewer for lessons (with a table of contents) that routes links the course's way: a link to
another lesson opens that lesson in the app, a web link opens the browser, `#anchor` scrolls."""

from __future__ import annotations

from textual.widgets import Markdown, MarkdownViewer

from tutor.lessons import LINK


class LessonViewer(MarkdownViewer):
    DEFAULT_CSS = """
    LessonViewer {
        height: 1fr;
        & > MarkdownTableOfContents { width: 32; max-width: 40%; }
        /* Textual sizes the tree to its content (auto), measured while it is still empty: fill the column. */
        & > MarkdownTableOfContents > Tree { width: 1fr; overflow-x: hidden; }
    }
    """

    def __init__(self, exercise_of_lesson: dict[str, str], **kwargs):
        super().__init__(open_links=False, **kwargs)
        self.exercise_of_lesson = exercise_of_lesson

    async def _on_markdown_link_clicked(self, message: Markdown.LinkClicked) -> None:
        message.stop()
        href = message.href
        if href.startswith(("http://", "https://", "mailto:")):
            self.app.open_url(href)
            return
        if href.startswith("#"):
            self.document.goto_anchor(href[1:])
            return
        m = LINK.search(href) or LINK.search("lessons/" + href.lstrip("./"))
        if m and m.group(1) in self.exercise_of_lesson:
            self.app.open_lesson(self.exercise_of_lesson[m.group(1)], (m.group(2) or "#")[1:] or None)
        else:
            self.notify(f"Not a lesson link: {href}", severity="warning", markup=False)
