"""Messages that workers post back to the app (past-tense events).

Workers only compute and post these; the controllers turn them into changes on screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from rag.documents.changes import Changes
    from rag.types import BuildStats, Hit

    from .clipboard import Delivery
    from .highlight import Marks, SourceDocument


@dataclass
class IndexOpened(Message):
    """An index version answers now: the live index opened (``service``: at start, or after the
    first build), or it switched to a newer version."""

    retriever: Any
    service: Any = None


class ModelReady(Message):
    """The query encoder is loaded and warm: the first answer comes fast now."""


@dataclass
class HistoryLoaded(Message):
    questions: list[str]


@dataclass
class SearchCompleted(Message):
    """The passages for one question of the conversation."""

    exchange_id: int
    hits: list[Hit]
    marks: list[Marks]
    note: str | None


@dataclass
class BuildProgressed(Message):
    """A rebuild moved on; a newer one replaces an older one still in the queue."""

    stage: str
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, BuildProgressed)


@dataclass
class BuildFinished(Message):
    """An update of the live index ended: its statistics, or (``error``) why it failed."""

    stats: BuildStats | None
    error: str | None = None


@dataclass
class SeedsChecked(Message):
    """What changed in the seeds folder since the open index was built.

    ``other_root`` is set when the index was built from another folder than the app's seeds.
    """

    changes: Changes | None
    other_root: str | None = None


@dataclass
class IndexRefreshFailed(Message):
    """A newer index version exists but did not open; the open one keeps answering."""

    text: str


@dataclass
class SourceLoaded(Message):
    """The file behind a citation, ready to show in the source view.

    After a rebuild (``rebuilt``), ``hit`` is the passage where the new version has it, or None
    when the new version no longer holds it.
    """

    document: SourceDocument
    hit: Hit | None = None
    rebuilt: bool = False


@dataclass
class PassageCopied(Message):
    """A passage's quote reached a system clipboard tool, or a file (``delivery`` says which)."""

    rank: int
    citation: str
    delivery: Delivery


@dataclass
class ConversationExported(Message):
    path: str


@dataclass
class WatchChanged(Message):
    """The watch of the seeds folder: "watching", "waiting for the folder", "stopped: why"."""

    state: str
