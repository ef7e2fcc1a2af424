# Two commands on a fresh machine: `make chat` (install, then open the UI on seeds/) and
# `make test` (install, then run the tests). Everything installs into .venv from PyPI.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install chat ask index test bench eval clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: 2.13.0 is the CPU wheel; anything looser pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Bytecode for rag and tui, written now: where PYTHONDONTWRITEBYTECODE is set, every import would
# otherwise compile the source, also in background threads (workers, the server's update thread).
install: $(STAMP)
	$(BIN)/python -m compileall -q rag tui

chat: install
	$(BIN)/rag chat

ask: install
	$(BIN)/rag ask "How many participants and observers are expected in Sochi?"

index: install
	$(BIN)/rag index

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) indexes/*/ .pytest_cache
