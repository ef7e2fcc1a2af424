"""A seed file around a citation: line numbers, the cited lines highlighted, long lines wrapped.

A Line API widget: only the rows on screen are rendered, and lines are wrapped once per width.
The file's text is seed text, shown literally (rich ``Text`` built from plain strings, control
characters replaced by visible symbols by :func:`rag.terminal_text.terminal_safe`).
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from rag.terminal_text import terminal_safe

from ..highlight import SourceDocument

TAB = 4

Row = tuple[int, bool, Text]  # line number, first row of the line?, the row's text


def visible_text(line: str) -> str:
    """The line with control characters made visible (one character each, so offsets hold); tabs
    are kept for layout."""
    return terminal_safe(line, keep="\t")


class SourceView(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {
        "source--gutter",
        "source--gutter-cited",
        "source--cited",
        "source--answer",
        "source--match",
    }

    def __init__(self, document: SourceDocument, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.document = document
        self._rows: list[Row] = []
        self._rows_width = -1
        self._scrolled = False
        self.at_citation = False  # True once scrolled to the cited lines (tests wait for it)
        self._digits = len(str(document.last_line))

    # ----------------------------------------------------------------- facts for callers and tests
    @property
    def cited(self) -> tuple[int, int]:
        return self.document.cited

    @property
    def highlighted_lines(self) -> list[int]:
        ls, le = self.document.cited
        return list(range(ls, min(le, self.document.last_line) + 1))

    def visible_line_numbers(self) -> list[int]:
        """The file's line numbers that have at least one row on screen now."""
        self._ensure_rows()
        top = int(self.scroll_offset.y)
        rows = self._rows[top : top + self.scrollable_content_region.height]
        return sorted({no for no, _, _ in rows})

    def line_text(self, no: int) -> str:
        d = self.document
        return d.lines[no - d.first_line]

    # ----------------------------------------------------------------- layout
    @property
    def _gutter(self) -> int:
        return self._digits + 3  # "  49▐ "

    def _ensure_rows(self) -> None:
        width = self.scrollable_content_region.width
        if width <= 0 or width == self._rows_width:
            return
        self._rows_width = width
        text_width = max(8, width - self._gutter)
        console = self.app.console
        answer = self._text_style("source--answer")
        match = self._text_style("source--match")
        d = self.document
        rows: list[Row] = []
        for i, line in enumerate(d.lines):
            no = d.first_line + i
            t = Text(visible_text(line), end="")
            if no in d.answer:
                t.stylize(answer, *d.answer[no])
            for s, e in d.words.get(no, ()):
                t.stylize(match, s, e)
            if "\t" in line:
                t.expand_tabs(TAB)
            if not t.plain:
                rows.append((no, True, t))
                continue
            for j, row in enumerate(t.wrap(console, text_width, overflow="fold", tab_size=TAB)):
                rows.append((no, j == 0, row))
        self._rows = rows
        self.virtual_size = Size(width, len(rows))

    def _text_style(self, name: str) -> Style:
        """A component's color and text style, without its background (the line's shows through)."""
        full = self.get_component_rich_style(name)
        return Style(color=full.color, bold=full.bold, italic=full.italic, underline=full.underline)

    def _first_row_of(self, no: int) -> int:
        for i, (n, _, _) in enumerate(self._rows):
            if n >= no:
                return i
        return 0

    def scroll_to_citation(self, tries: int = 0) -> None:
        """Put the first cited line a third of the way down the view."""
        self._ensure_rows()
        row = self._first_row_of(self.document.cited[0])
        margin = max(1, self.scrollable_content_region.height // 3)
        target = max(0, row - margin)
        while target > 0 and not self._rows[target][1]:
            target -= 1  # start the view at the beginning of a line, not inside a wrapped one
        self.scroll_to(y=target, animate=False, immediate=True, force=True)
        if round(self.scroll_offset.y) != min(target, self.max_scroll_y) or target > self.max_scroll_y:
            if tries < 20:  # the new virtual size is not laid out yet: again after the next refresh
                self.call_after_refresh(self.scroll_to_citation, tries + 1)
                return
        self.call_after_refresh(self._sync_scrollbar)

    def _sync_scrollbar(self) -> None:
        """The scrollbar may have appeared after the scroll: put its thumb where the view is."""
        if self.show_vertical_scrollbar:
            bar = self.vertical_scrollbar
            bar.window_virtual_size = self.virtual_size.height
            bar.window_size = self.scrollable_content_region.height
            bar.position = self.scroll_y
            bar.refresh()
        self.at_citation = True

    def on_resize(self, event: events.Resize) -> None:
        self._ensure_rows()
        if not self._scrolled and self._rows:
            self._scrolled = True
            self.call_after_refresh(self.scroll_to_citation)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._rows_width = -1  # re-apply component styles (theme change)

    # ----------------------------------------------------------------- rendering
    def render_line(self, y: int) -> Strip:
        self._ensure_rows()
        width = self.scrollable_content_region.width
        base = self.rich_style
        index = int(self.scroll_offset.y) + y
        if index >= len(self._rows):
            return Strip.blank(width, base)
        no, first, row = self._rows[index]
        ls, le = self.document.cited
        cited = ls <= no <= le
        if cited:
            line_style = self.get_component_rich_style("source--cited")
            gutter_style = self.get_component_rich_style("source--gutter-cited")
            marker = "▐ "
        else:
            line_style = base
            gutter_style = self.get_component_rich_style("source--gutter")
            marker = "  "
        number = f" {no:>{self._digits}}" if first else " " * (self._digits + 1)
        segments = [Segment(number, gutter_style), Segment(marker, gutter_style)]
        segments += Segment.apply_style(row.render(self.app.console, end=""), line_style)
        return Strip(segments).adjust_cell_length(width, line_style)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return container.width

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._rows) or len(self.document.lines)

