// The live index: GET /status every few seconds (every second while an update runs), shown in the
// header; a note when a new version answers, as the terminal chat says it. A hidden tab asks
// nothing (each /status stats every seed file: 0.1 s of the server at 20,000 files) and asks again
// as soon as it is shown.

import { api, NeedsToken } from "./api.js";
import { shown } from "./marks.js";

const SLOW = 3000;
const FAST = 1000;

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function changeText(changes) {
  if (!changes) return "seeds folder not found";
  if (changes.error) return `cannot check the seeds folder: ${changes.error}`;
  const parts = [];
  for (const kind of ["added", "modified", "removed"]) {
    const names = changes[kind] || [];
    if (names.length) parts.push(`${names.length} ${kind} (${names.slice(0, 5).join(", ")}${names.length > 5 ? ", …" : ""})`);
  }
  return parts.length ? `changed since: ${parts.join("; ")}` : "";
}

export class LiveIndex {
  constructor({ onNeedsToken, onNewVersion }) {
    this.version = null;
    this.status = null;
    this.onNeedsToken = onNeedsToken;
    this.onNewVersion = onNewVersion;
    this.timer = null;
    this.shownKey = null; // what the header shows now (see show)
  }

  start() {
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) this.poll();
    });
    this.poll();
  }

  async poll() {
    clearTimeout(this.timer);
    if (document.hidden) return; // polled again when the tab is shown
    let delay = SLOW;
    try {
      const st = await api.status();
      this.show(st);
      if (st.update && st.update.state === "updating") delay = FAST;
    } catch (e) {
      if (e instanceof NeedsToken) {
        this.onNeedsToken(e.message);
        return; // polled again once a token is given
      }
      this.showLine(`Cannot read the index status: ${e.message}`, "error");
    }
    this.timer = setTimeout(() => this.poll(), delay);
  }

  showLine(text, kind) {
    this.shownKey = null;
    const line = document.getElementById("index-status");
    line.textContent = shown(text);
    line.className = `index-status ${kind || ""}`;
  }

  show(st) {
    const previous = this.version;
    this.status = st;
    this.version = st.version;
    if (previous !== null && previous !== st.version) this.onNewVersion(st);
    // redrawn only when something shown changed: the line is a live region, read out at each change
    const u = st.update || {};
    const key = JSON.stringify([st.files, st.passages, st.version, u.state, u.stage, u.done, u.total, u.last_error,
      u.last_summary, st.changes, st.watch && st.watch.state, Object.keys(st.skipped || {}).length]);
    if (key === this.shownKey) return;
    this.shownKey = key;
    const line = document.getElementById("index-status");
    line.className = "index-status";
    line.replaceChildren();
    const summary = document.createElement("span");
    summary.textContent = `${plural(st.files, "file")}, ${plural(st.passages, "passage")} · version ${st.version}`;
    line.append(summary);
    if (u.state === "updating") {
      const what = document.createElement("span");
      what.className = "updating";
      const stage = u.stage || "starting";
      what.textContent = shown(` · updating: ${stage}${u.total ? ` ${u.done}/${u.total}` : ""}`);
      const bar = document.createElement("progress");
      bar.max = u.total || 1;
      bar.value = u.total ? u.done : 0;
      bar.setAttribute("aria-label", "update progress");
      line.append(what, bar);
    } else if (u.state === "failed") {
      const what = document.createElement("span");
      what.className = "error";
      what.textContent = shown(` · last update failed: ${u.last_error || "unknown error"}`);
      line.append(what);
    }
    const detail = document.getElementById("index-detail");
    const parts = [];
    const changed = changeText(st.changes);
    if (changed) parts.push(changed);
    if (st.watch && st.watch.state) parts.push(`watch: ${st.watch.state}`);
    if (u.last_summary) parts.push(`last update: ${u.last_summary}`);
    const skipped = Object.keys(st.skipped || {});
    if (skipped.length) parts.push(`${plural(skipped.length, "file")} skipped`);
    detail.textContent = shown(parts.join(" · "));
    detail.hidden = parts.length === 0;
  }
}
