"""Saving the conversation, with every answer, passage and citation, as a Markdown file (ctrl+s)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ..messages import ConversationExported
from ..transcript import conversation_markdown, export_path, model_label, plural, short_path
from .base import Controller


class Exporter(Controller):
    GROUPS = ("export",)

    def export(self) -> None:
        app = self.app
        done = [ex for ex in app.chat.exchanges if ex.done]
        if not done:
            app.notify("Nothing to export yet: ask a question first.", severity="warning", markup=False)
            return
        summary = ""
        if app.index.retriever is not None:
            info = app.index.retriever.info
            summary = f"{plural(info.files, 'file')}, {plural(info.passages, 'passage')}, {model_label(info.model)}"
        now = datetime.now()
        text = conversation_markdown(done, app.config.index_label, summary, now.strftime("%Y-%m-%d %H:%M"))
        self.run(self._write, text, Path(app.config.export_dir), now.strftime("%Y%m%d-%H%M%S"), group="export")

    def _write(self, text: str, folder: Path, stamp: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path = export_path(folder, stamp)
        path.write_text(text, encoding="utf-8")
        self.app.post_message(ConversationExported(str(path)))

    async def exported(self, path: str) -> None:
        self.app.notify(f"Saved to {short_path(path)}", title="Conversation exported", markup=False)
        await self.note(f"Conversation exported to {short_path(path)}")
