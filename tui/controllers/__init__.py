"""The app's jobs, one per module: each keeps its own state, starts its own workers, and turns
their messages and failures into changes on screen. :class:`tui.app.RagApp` composes them."""
