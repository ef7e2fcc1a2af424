# Two commands on a fresh machine: `make chat` (install, then open the UI on seeds/) and
# `make test` (install, then run the tests). Everything installs into .venv, exactly as pinned
# (with hashes) in the lock files: requirements.lock (what rag needs to run) and
# requirements-test.lock (that, plus the test tools and the Ray extra). `make lock` refreshes them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# pip-tools writes the lock files. It runs in a venv of its own, pinned here.
PIP_TOOLS := pip-tools==7.6.2
COMPILE    = .venv-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
             --no-emit-index-url --no-emit-find-links --no-header

.PHONY: install install-test install-ray chat ask index test test-fast test-latest lock bench clean

# One stamp per lock file: an install is redone only when its lock changed.
$(VENV)/.installed-%: requirements-%.lock
	@bash .ci/install.sh "$(PYTHON)" "$(VENV)" $<
	@touch $@
$(VENV)/.installed-runtime: requirements.lock
	@bash .ci/install.sh "$(PYTHON)" "$(VENV)" $<
	@touch $@

install: $(VENV)/.installed-runtime
install-test: $(VENV)/.installed-test
# The Ray extra (rag index --ray, sharded search, rag serve --ray) comes with the test lock.
install-ray: install-test

chat: install
	$(BIN)/rag chat

ask: install
	$(BIN)/rag ask "How many participants and observers are expected in Sochi?"

index: install
	$(BIN)/rag index

test: install-test
	$(BIN)/python -m pytest

# The unit tests (fake encoder, no real model, no servers): under a minute.
test-fast: install-test
	$(BIN)/python -m pytest -q -m "not e2e and not slow"

# The newest versions pyproject.toml allows, in a venv of their own, tested before the lock moves:
# `make test-latest`, then `make lock` when it passes.
test-latest:
	test -x .venv-latest/bin/python || $(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --upgrade torch==2.13.0
	.venv-latest/bin/python -m pip install --upgrade --upgrade-strategy eager -e '.[test,ray]'
	.venv-latest/bin/python -m pip list --format=freeze > .venv-latest/versions.txt
	.venv-latest/bin/python -m pytest

# Refresh both lock files from pyproject.toml's ranges (the newest versions they allow). The test
# lock is resolved first; the runtime lock is constrained to it, so both pin the same versions.
lock:
	test -x .venv-lock/bin/pip-compile || ($(PYTHON) -m venv .venv-lock && .venv-lock/bin/python -m pip install --quiet $(PIP_TOOLS))
	$(COMPILE) --upgrade --extra test --extra ray -o requirements-test.lock pyproject.toml
	echo "-c ../requirements-test.lock" > .venv-lock/constraints.in
	$(COMPILE) --upgrade -o requirements.lock pyproject.toml .venv-lock/constraints.in
	sed -i 's|\.venv-lock/\.\./||' requirements.lock

bench: install-test
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .venv-latest .venv-lock indexes/*/ .pytest_cache
