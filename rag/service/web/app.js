// The page of `rag serve`: the conversation of `rag chat` in a browser. Wires the question box, the
// answer cards (cards.js), the source panel (source.js), the live index (status.js) and the export.

import { api, ApiError, NeedsToken, setToken } from "./api.js";
import { shown } from "./marks.js";
import { citedHits, fillError, fillResult, newCard, shownAnswer } from "./cards.js";
import { conversationMarkdown, download, quoteMarkdown } from "./export.js";
import { openOriginal } from "./original.js";
import { closeSource, openSource, shownHit } from "./source.js";
import { LiveIndex } from "./status.js";

const MAX_HISTORY = 20; // earlier questions a request carries (the server reads as many)
const MAX_BODY = 60000; // bytes of a request body (the server refuses over 64 KiB)
const HISTORY_KEY = "rag-questions";

const $ = (id) => document.getElementById(id);
const exchanges = [];
const waitingForToken = []; // exchanges to search again once a token is given
let asked = savedQuestions();
let cursor = asked.length; // position in `asked` while walking it with up/down
let lastVersion = null;

function savedQuestions() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(HISTORY_KEY) || "[]");
    return Array.isArray(saved) ? saved.filter((q) => typeof q === "string") : [];
  } catch (e) {
    return []; // not ours, or damaged: start afresh
  }
}

// A line in the notice area (the three latest are kept; a screen reader reads each as it comes).
function notice(text) {
  const n = $("notice");
  const line = document.createElement("p");
  line.textContent = shown(`${new Date().toLocaleTimeString()} ${text}`);
  n.append(line);
  while (n.childElementCount > 3) n.firstElementChild.remove();
  n.hidden = false;
}

function askForToken(message) {
  const form = $("token-form");
  const err = $("token-error");
  err.textContent = shown(message || "");
  err.hidden = !message;
  if (form.hidden) {
    form.hidden = false;
    $("token").focus();
  }
}

const live = new LiveIndex({
  onNeedsToken: askForToken,
  onNewVersion: (st) => notice(`Now answering from the new index: ${st.files} files, ${st.passages} passages.`),
});

// The request of an exchange: the earlier questions and the answers shown, newest kept under the limits.
function requestFor(ex, earlier) {
  let history = earlier.map((e) => e.question);
  let answers = earlier.map(shownAnswer);
  history = history.slice(-MAX_HISTORY);
  answers = answers.slice(-MAX_HISTORY);
  const make = () => ({ question: ex.question, k: ex.k, mode: ex.mode, history, history_answers: answers });
  let body = make();
  while (history.length && new TextEncoder().encode(JSON.stringify(body)).length > MAX_BODY) {
    history = history.slice(1);
    answers = answers.slice(1);
    body = make();
  }
  return body;
}

function notesFor(ex) {
  const r = ex.result;
  const notes = [];
  if (r.hits.length && ex.history.length && r.follow_up && r.follow_up.depends) {
    const shown = ex.historyAnswers.length && ex.historyAnswers[ex.historyAnswers.length - 1] ? " and the last answer shown" : "";
    notes.push(`Read as a follow-up: searched with the earlier questions${shown}.`);
  }
  if (!r.hits.length) notes.push("No passage contains these words. Try other words, or the hybrid or dense mode (Alt+M).");
  if (lastVersion !== null && r.version !== lastVersion) notes.push(`Answered by a new version of the index (${r.version}).`);
  return notes;
}

async function search(ex) {
  const card = $(`card-${ex.id}`);
  const request = requestFor(ex, exchanges.slice(0, ex.id - 1));
  ex.history = request.history;
  ex.historyAnswers = request.history_answers;
  let result;
  try {
    result = await api.search(request);
  } catch (e) {
    if (e instanceof NeedsToken) {
      waitingForToken.push(ex);
      card.querySelector(".card-status").textContent = "Waiting for the token…";
      askForToken(e.message);
      return;
    }
    ex.error = e instanceof ApiError ? e.message : String(e);
    fillError(card, ex.error);
    return;
  }
  performance.mark(`rag-response-${ex.id}`);
  ex.result = result;
  ex.notes = notesFor(ex);
  lastVersion = result.version;
  fillResult(card, ex, ex.notes);
  performance.measure(`rag-render-${ex.id}`, `rag-response-${ex.id}`);
  requestAnimationFrame(() => {
    performance.measure(`rag-card-${ex.id}`, `rag-response-${ex.id}`);
    card.dataset.state = "done";
  });
  card.scrollIntoView({ block: "nearest" });
}

function ask(question) {
  const welcome = $("welcome");
  if (welcome) welcome.remove();
  if (asked[asked.length - 1] !== question) asked.push(question);
  asked = asked.slice(-200);
  sessionStorage.setItem(HISTORY_KEY, JSON.stringify(asked));
  cursor = asked.length;
  const ex = {
    id: exchanges.length + 1, question, mode: $("mode").value, k: Number($("k").value),
    result: null, error: null, notes: [], history: [], historyAnswers: [],
  };
  exchanges.push(ex);
  const card = newCard(ex);
  $("log").append(card);
  card.scrollIntoView({ block: "nearest" });
  search(ex);
}

function walkHistory(step) {
  if (!asked.length) return;
  const box = $("question");
  cursor = Math.min(asked.length, Math.max(0, cursor + step));
  box.value = cursor < asked.length ? asked[cursor] : "";
  box.setSelectionRange(box.value.length, box.value.length);
}

async function startUpdate() {
  try {
    const r = await api.update();
    notice(r.started ? "Update started." : "An update is running; another will follow it.");
    live.poll();
  } catch (e) {
    if (e instanceof NeedsToken) askForToken(e.message);
    else notice(`Cannot start an update: ${e.message}`);
  }
}

function exportConversation() {
  if (!exchanges.length) {
    notice("Nothing to export yet: ask a question first.");
    return;
  }
  const st = live.status;
  const label = st ? `${st.index} (${st.files} files, ${st.passages} passages, version ${st.version})` : "rag serve";
  const now = new Date();
  const stamp = now.toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
  download(conversationMarkdown(exchanges, label, now.toISOString()), stamp);
  notice("Conversation exported as Markdown.");
}

// "Copy" of `hit`: the passage as a Markdown quote with its citation, on the clipboard.
async function copyQuote(hit) {
  try {
    await navigator.clipboard.writeText(quoteMarkdown(hit));
    notice(`Copied passage ${hit.rank} (${hit.citation}) as a Markdown quote.`);
  } catch (e) {
    notice(`Cannot copy to the clipboard here: ${e.message}`);
  }
}

// "Open original" of `hit`: the file in a new tab, or saved; a failure said in the notices.
async function original(hit) {
  if (!hit) {
    notice("Open a citation first (Enter on it), then Alt+O opens its file.");
    return;
  }
  try {
    const how = await openOriginal(hit.source, hit.page);
    notice(how === "opened" ? `Opened ${hit.source} in a new tab.` : `Saved ${hit.source} (this format is not shown here).`);
  } catch (e) {
    if (e instanceof NeedsToken) askForToken(e.message);
    else notice(`Cannot open ${hit.source}: ${e.message}`);
  }
}

function wire() {
  $("ask").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("question").value.trim();
    if (!q) return;
    $("question").value = "";
    ask(q);
  });
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "ArrowUp") {
      e.preventDefault();
      walkHistory(-1);
    } else if (e.key === "ArrowDown") {
      e.preventDefault();
      walkHistory(1);
    }
  });
  $("log").addEventListener("click", (e) => {
    const button = e.target.closest("button.cite");
    if (button && citedHits.has(button)) openSource(citedHits.get(button), button.dataset.which, button);
    const orig = e.target.closest("button.original");
    if (orig && citedHits.has(orig)) original(citedHits.get(orig));
    const copy = e.target.closest("button.copy");
    if (copy && citedHits.has(copy)) copyQuote(citedHits.get(copy));
  });
  $("source-close").addEventListener("click", closeSource);
  $("source-original").addEventListener("click", () => original(shownHit()));
  $("update").addEventListener("click", startUpdate);
  $("export").addEventListener("click", exportConversation);
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setToken($("token").value.trim());
    $("token").value = "";
    $("token-form").hidden = true;
    live.poll();
    for (const ex of waitingForToken.splice(0)) search(ex);
    $("question").focus();
  });
  document.addEventListener("keydown", (e) => {
    const typing = e.target.matches && e.target.matches("input, textarea");
    if (e.key === "Escape") closeSource();
    else if (e.key === "/" && !typing && !e.ctrlKey && !e.altKey && !e.metaKey) {
      e.preventDefault();
      $("question").focus();
    } else if (e.altKey && !e.ctrlKey && !e.metaKey) {
      const action = { KeyU: startUpdate, KeyE: exportConversation, KeyM: () => $("mode").focus(), KeyK: () => $("k").focus(),
        KeyO: () => original(shownHit()) }[e.code];
      if (action) {
        e.preventDefault();
        action();
      }
    }
  });
}

wire();
live.start();
$("question").focus();
