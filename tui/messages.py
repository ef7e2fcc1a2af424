"""Messages that workers post back to the app (past-tense events).

Workers only compute and post these; the app turns them into changes on screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from rag.documents.changes import Changes
    from rag.types import BuildStats, Hit

    from .clipboard import Delivery
    from .highlight import Marks, SourceDocument


class IndexOpened(Message):
    """An index version was opened (at start, or after a rebuild)."""

    def __init__(self, retriever: Any) -> None:
        super().__init__()
        self.retriever = retriever


class ModelReady(Message):
    """The query encoder is loaded and warm: the first answer comes fast now."""


class HistoryLoaded(Message):
    def __init__(self, questions: list[str]) -> None:
        super().__init__()
        self.questions = questions


class SearchCompleted(Message):
    """The passages for one question of the conversation."""

    def __init__(self, exchange_id: int, hits: list[Hit], marks: list[Marks], note: str | None) -> None:
        super().__init__()
        self.exchange_id = exchange_id
        self.hits = hits
        self.marks = marks
        self.note = note


class BuildProgressed(Message):
    """A rebuild moved on; a newer one replaces an older one still in the queue."""

    def __init__(self, stage: str, done: int, total: int) -> None:
        super().__init__()
        self.stage = stage
        self.done = done
        self.total = total

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, BuildProgressed)


class BuildFinished(Message):
    def __init__(self, stats: BuildStats) -> None:
        super().__init__()
        self.stats = stats


class SeedsChecked(Message):
    """What changed in the seeds folder since the open index was built.

    ``other_root`` is set when the index was built from another folder than the app's seeds.
    """

    def __init__(self, changes: Changes | None, other_root: str | None = None) -> None:
        super().__init__()
        self.changes = changes
        self.other_root = other_root


class IndexRefreshFailed(Message):
    """A newer index version exists but did not open; the open one keeps answering."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class SourceLoaded(Message):
    """The file behind a citation, ready to show in the source view.

    After a rebuild (``rebuilt``), ``hit`` is the passage where the new version has it, or None
    when the new version no longer holds it.
    """

    def __init__(self, document: SourceDocument, hit: Hit | None = None, rebuilt: bool = False) -> None:
        super().__init__()
        self.document = document
        self.hit = hit
        self.rebuilt = rebuilt


class PassageCopied(Message):
    """A passage's quote reached a system clipboard tool, or a file (``delivery`` says which)."""

    def __init__(self, rank: int, citation: str, delivery: Delivery) -> None:
        super().__init__()
        self.rank = rank
        self.citation = citation
        self.delivery = delivery


class ConversationExported(Message):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path


class SeedsSaved(Message):
    """Watch mode: a burst of saves in the seeds folder ended (posted from the watcher's thread)."""
