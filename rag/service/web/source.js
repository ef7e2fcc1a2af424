// The source panel: a cited document at the cited lines (or page), those lines highlighted, with the
// lines around them, read through GET /documents/{source}.

import { api } from "./api.js";
import { matchedWords, shown } from "./marks.js";

const CONTEXT = 15; // lines shown before and after the cited ones

const panel = () => document.getElementById("source");
let opener = null; // the citation that opened the panel (focus goes back to it)
let current = null; // the hit shown in the panel

// The hit whose document the panel shows, or null when it is closed.
export function shownHit() {
  return panel().hidden ? null : current;
}

function lineRow(no, raw, cited, answerCols, terms) {
  const text = shown(raw);
  const row = document.createElement("div");
  row.className = cited ? "line cited" : "line";
  row.dataset.line = String(no);
  const num = document.createElement("span");
  num.className = "no";
  num.textContent = String(no);
  const body = document.createElement("span");
  body.className = "text";
  const words = cited ? matchedWords(text, terms) : [];
  let at = 0;
  const pieces = [];
  if (answerCols) pieces.push([answerCols[0], answerCols[1], "answer"]);
  for (const [s, e] of words) {
    if (!answerCols || e <= answerCols[0] || s >= answerCols[1]) pieces.push([s, e, "match"]);
  }
  pieces.sort((a, b) => a[0] - b[0]);
  for (const [s, e, kind] of pieces) {
    if (s < at) continue;
    if (s > at) body.append(document.createTextNode(text.slice(at, s)));
    const mark = document.createElement("mark");
    mark.className = kind;
    mark.textContent = text.slice(s, e);
    body.append(mark);
    at = e;
  }
  if (at < text.length) body.append(document.createTextNode(text.slice(at)));
  row.append(num, body);
  return row;
}

// The columns [start, end) of the answer sentence on line `no`, or null.
function answerColumns(answer, no, length) {
  if (!answer || no < answer.line_start || no > answer.line_end) return null;
  const s = no === answer.line_start ? answer.col_start - 1 : 0;
  const e = no === answer.line_end ? answer.col_end : length;
  return s >= 0 && s < e && e <= length ? [s, e] : null;
}

export function closeSource() {
  const p = panel();
  if (p.hidden) return;
  p.hidden = true;
  document.body.classList.remove("with-source");
  if (opener && opener.isConnected) opener.focus();
}

// Open `hit` (`which`: "answer" for the answer sentence's lines, else the passage's) in the panel.
export async function openSource(hit, which, button) {
  opener = button;
  current = hit;
  const p = panel();
  const title = document.getElementById("source-title");
  const note = document.getElementById("source-note");
  const lines = document.getElementById("source-lines");
  const a = which === "answer" ? hit.answer : null;
  const first = a ? a.line_start : hit.line_start;
  const last = a ? a.line_end : hit.line_end;
  title.textContent = shown(which === "answer" ? hit.answer.citation : hit.citation);
  note.textContent = "Reading…";
  lines.replaceChildren();
  p.hidden = false;
  document.body.classList.add("with-source");
  title.focus();
  let doc;
  try {
    doc = await api.document(hit.source, Math.max(1, first - CONTEXT), last + CONTEXT, hit.page);
  } catch (e) {
    note.textContent = shown(`Cannot open ${hit.source}: ${e.message}`);
    return;
  }
  const where = doc.pages ? `page ${doc.page} of ${doc.pages}, ` : "";
  note.textContent = shown(`${doc.source}: ${where}lines ${doc.start}-${doc.end} of ${doc.total_lines}; cited: ${first === last ? first : `${first}-${last}`}`);
  const frag = document.createDocumentFragment();
  let firstCited = null;
  for (const { line, text } of doc.lines) {
    if (line === doc.total_lines && line > 1 && text === "") break; // the newline ending the last line starts none
    const cited = line >= hit.line_start && line <= hit.line_end;
    const row = lineRow(line, text, cited, answerColumns(hit.answer, line, text.length), hit.terms);
    if (cited && !firstCited) firstCited = row;
    frag.append(row);
  }
  lines.append(frag);
  if (firstCited) lines.scrollTop = Math.max(0, firstCited.offsetTop - lines.clientHeight / 3); // the panel scrolls, not the page
  if (window.matchMedia("(max-width: 720px)").matches) p.scrollIntoView({ block: "start" });
}
