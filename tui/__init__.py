"""The terminal UI of rag: a chat over the seeds, with citations, a source view and rebuilds.

``python -m tui`` or ``rag chat`` opens it; :func:`tui.app.run` is the entry point and
:func:`tui.app.make_app` builds the app with injectable paths and factories (for tests).
The library in ``rag/`` never imports this package.
"""

__all__ = ["make_app", "run"]


def __getattr__(name: str):
    if name in __all__:
        from . import app  # textual loads with the app: `import tui` stays light

        return getattr(app, name)
    raise AttributeError(f"module 'tui' has no attribute {name!r}")
