#!/usr/bin/env bash
# Installs one lock file into the venv, exactly as pinned (hashes checked), and says what it does:
# a line per stage, a counter per package, the time taken. Called by the Makefile's install targets.
set -euo pipefail
python=$1 venv=$2 lock=$3
start=$SECONDS
total=$(grep -c '^[A-Za-z0-9][^ ]*==' "$lock")
log="$venv/install.log"
stage() { printf '==> %s\n' "$*"; }
if [ -t 1 ]; then eol='\r'; else eol='\n'; fi

if [ -x "$venv/bin/python" ]; then
  stage "[1/3] using $venv"
else
  stage "[1/3] creating $venv"
  "$python" -m venv "$venv"
fi

mkdir -p "$venv"
stage "[2/3] installing $total pinned packages from $lock (first time: up to 2.5 GB, 2-5 minutes; log in $log)"
# pip's own lines go to the log; the terminal gets one counter line per package and each stage.
"$venv/bin/python" -m pip install --disable-pip-version-check --require-hashes --no-deps \
  -r "$lock" >"$log" 2>&1 </dev/null &
pid=$!
trap 'kill "$pid" 2>/dev/null' EXIT INT TERM  # an interrupted make leaves no pip behind
tail -n +1 --pid="$pid" -f "$log" 2>/dev/null | awk -v total="$total" -v eol="$eol" '
  /^(Collecting|Processing) / { n++; name = $2; sub(/.*\//, "", name)
                                printf("    [%3d/%d] %-60.60s" eol, n, total, name); fflush() }
  /^Installing collected/ { printf("\n    unpacking %d packages into the venv...\n", total); fflush() }' || true
if ! wait "$pid"; then
  echo
  grep -v "is ignored: it is neither a file nor a directory" "$log" | tail -n 25 >&2
  echo "install failed: the lines above say why (full log: $log). Run the make command again once it is fixed." >&2
  exit 1
fi
trap - EXIT INT TERM

stage "[3/3] installing rag itself (editable) and compiling its bytecode"
# editable_mode=compat: a .pth line with this folder, not setuptools' import hook, which every rag
# command paid for at start-up (15 ms of a 0.3 s cold `rag ask`; issue 26).
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet --no-deps --no-build-isolation -e . \
  --config-settings editable_mode=compat >>"$log" 2>&1
# Bytecode for rag and tui, written now: where PYTHONDONTWRITEBYTECODE is set, every import would
# otherwise compile the source, also in background threads (workers, the server's update thread).
"$venv/bin/python" -m compileall -q rag tui

size=$(du -sh "$venv" 2>/dev/null | cut -f1)
stage "installed in $((SECONDS - start)) s; $venv is $size"
