// An answer card: the question, the verdict, the answer sentence with its citation, the passages.
// Every piece of document text goes in through textContent / text nodes (marks.js), never as HTML.

import { NOT_FOUND, WEAK, answerSpan, appendMarked, shown, verdictLine } from "./marks.js";

// citation button -> its hit (read when the button is pressed)
export const citedHits = new WeakMap();

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = shown(text);
  return e;
}

// The passage's own citation, or its answer sentence's.
export function answerCitation(hit) {
  return hit.answer ? hit.answer.citation : hit.citation;
}

// The passage shown as the answer (sent back with follow-ups as `history_answers`): the top hit's
// text unless the verdict is "not in your documents" (as the terminal chat does).
export function shownAnswer(exchange) {
  const r = exchange.result;
  if (!r || !r.hits.length || r.verdict === "not_found") return null;
  return r.hits[0].text;
}

export function bestConfidence(hits) {
  const values = hits.map((h) => h.confidence).filter((c) => c !== null && c !== undefined);
  return values.length ? Math.max(...values) : null;
}

function citeButton(hit, which, text) {
  const b = el("button", "cite", text);
  b.type = "button";
  b.dataset.which = which;
  b.title = "Open the document here (Enter)";
  citedHits.set(b, hit);
  return b;
}

// "Open original" beside a citation: the cited file in a new tab (original.js), a PDF at its page.
function originalButton(hit) {
  const b = el("button", "original", "Open original");
  b.type = "button";
  b.title = `Open ${shown(hit.source)} itself in a new tab (a PDF at the cited page; HTML and others are saved)`;
  citedHits.set(b, hit);
  return b;
}

// "Copy": the passage as a Markdown quote with its citation, to the clipboard (app.js).
function copyButton(hit) {
  const b = el("button", "copy", "Copy");
  b.type = "button";
  b.title = "Copy this passage as a Markdown quote with its citation";
  citedHits.set(b, hit);
  return b;
}

export function newCard(exchange) {
  const card = el("article", "card pending");
  card.id = `card-${exchange.id}`;
  card.setAttribute("aria-labelledby", `q-${exchange.id}`);
  const q = el("h2", "question", exchange.question);
  q.id = `q-${exchange.id}`;
  card.append(q, el("p", "meta", `${exchange.mode} · k ${exchange.k}`), el("p", "card-status", "Searching…"));
  return card;
}

export function fillError(card, message) {
  card.classList.remove("pending");
  card.classList.add("failed");
  card.querySelector(".card-status").remove();
  card.append(el("p", "verdict", "No answer"), el("p", "card-error", message));
}

// Fill `card` with the search result of `exchange` (`notes`: remarks to show under the verdict).
export function fillResult(card, exchange, notes) {
  const r = exchange.result;
  card.classList.remove("pending");
  card.querySelector(".card-status").remove();
  const hits = r.hits;
  const body = document.createDocumentFragment();
  if (hits.length) {
    const v = el("p", "verdict");
    v.append(el("strong", "", verdictLine(r.verdict, bestConfidence(hits))));
    body.append(v);
    card.classList.add(`verdict-${r.verdict}`);
  }
  if (r.verdict === "not_found" && hits.length) body.append(el("p", "card-not-found", NOT_FOUND));
  else if (r.verdict === "weak") body.append(el("p", "card-weak", WEAK));
  const top = hits[0];
  if (top && top.answer && r.verdict !== "not_found") {
    const quote = el("blockquote", "answer-sentence");
    const p = el("p");
    appendMarked(p, top.answer.text, null, top.terms);
    quote.append(p);
    const cite = el("p", "answer-cite", "— ");
    cite.append(citeButton(top, "answer", answerCitation(top)), " ", originalButton(top));
    quote.append(cite);
    body.append(quote);
  }
  for (const note of notes) body.append(el("p", "card-note", note));
  if (!hits.length) body.append(el("p", "card-note", "No passage matched this question."));
  if (hits.length) {
    const list = el("ol", "passages");
    list.setAttribute("aria-label", "Passages");
    for (const hit of hits) list.append(passageItem(hit));
    body.append(list);
  }
  card.append(body);
}

function passageItem(hit) {
  const li = el("li", "passage");
  const head = el("div", "passage-head");
  head.append(citeButton(hit, "passage", hit.citation), originalButton(hit), copyButton(hit));
  if (hit.section) head.append(el("span", "section", hit.section));
  if (hit.page !== null && hit.page !== undefined) head.append(el("span", "page", `page ${hit.page}`));
  if (hit.confidence !== null && hit.confidence !== undefined) {
    head.append(el("span", "conf", `confidence ${(Math.floor(hit.confidence * 100) / 100).toFixed(2)}`));
  }
  const text = el("p", "passage-text");
  appendMarked(text, hit.text, answerSpan(hit.text, hit.answer), hit.terms);
  li.append(head, text);
  return li;
}
