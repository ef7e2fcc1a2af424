// Where to highlight a passage: its answer sentence and the words that matched the question.
// Document text is hostile input: it only ever becomes text nodes (createTextNode / textContent).

// The words every interface shows for each verdict (rag/search/verdict.py: VERDICT_TEXT; a test
// checks they agree).
export const VERDICT_TEXT = {
  answer: "Answer",
  weak: "May not answer this",
  not_found: "Not in your documents",
};

// As the terminal chat's card says them (tui/widgets/answer_card.py).
export const NOT_FOUND = "Your documents do not seem to answer this question. The nearest passages:";
export const WEAK = "The best passage is related but may not answer this question:";

// Characters that could act rather than show (controls, C1, DEL, bidi overrides and isolates, lone
// surrogates), each replaced by one visible character, as the terminal shows them
// (rag/terminal_text.py): the text keeps its length, so offsets into it still hold.
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]/gu;

export function shown(text) {
  return String(text).replace(UNSAFE, (c) => {
    const n = c.charCodeAt(0);
    if (n < 0x20) return String.fromCharCode(0x2400 + n);
    return n === 0x7f ? "\u2421" : "\ufffd";
  });
}

const WORD = /[\p{L}\p{N}_]{2,}/gu; // the index's words: \w\w+
// Lucene's English stopwords (rag/documents/tokens.py: STOPWORDS_EN): never a matched word.
const STOPWORDS = new Set(("a an and are as at be but by for if in into is it no not of on or such that the their " +
  "then there these they this to was will with").split(" "));

// The verdict with its confidence cut (not rounded) to two places: "Answer · confidence 0.87".
export function verdictLine(verdict, confidence) {
  const words = VERDICT_TEXT[verdict] || VERDICT_TEXT.not_found;
  if (confidence === null || confidence === undefined) return words;
  return `${words} · confidence ${(Math.floor(confidence * 100) / 100).toFixed(2)}`;
}

// Whether `word` (lower case) has one of the query's stems. The index stems with Snowball (English),
// which this page does not ship: a stem matches a word that is the stem followed by an English ending
// ("particip" + "ants"), or with "y" for the stem's final "i" (happi: happy). Nearly always the words
// the terminal chat marks (a test counts them on the seed article).
const ENDING = new RegExp("^(?:s|es|e|ed|ing|ings|er|ers|ly|y|ies|ied|al|ally|ation|ations|ate|ates|ated|ating|" +
  "ant|ants|ance|ances|ence|ences|ent|ents|ment|ments|ness|ful|ous|ive|ives|ize|izes|ized|izing|ization|" +
  "izations|ise|ised|ism|isms|ist|ists|ity|ities|able|ably|ible|ic|ical|ion|ions|or|ors)?$");

function stemMatches(word, terms) {
  if (terms.has(word)) return true;
  for (const t of terms) {
    if (t.length < 3) continue;
    if (word.startsWith(t) && ENDING.test(word.slice(t.length))) return true;
    if (t.endsWith("i") && word.startsWith(t.slice(0, -1)) && ENDING.test(word.slice(t.length - 1))) return true;
  }
  return false;
}

// [start, end) of every word of `text` that matched the question's `terms`.
export function matchedWords(text, terms) {
  const set = new Set((terms || []).map((t) => String(t).toLowerCase()));
  const out = [];
  if (!set.size) return out;
  for (const m of text.matchAll(WORD)) {
    const word = m[0].toLowerCase();
    if (!STOPWORDS.has(word) && stemMatches(word, set)) out.push([m.index, m.index + m[0].length]);
  }
  return out;
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// [start, end) of the answer sentence inside the passage text, or null.
export function answerSpan(text, answer) {
  if (!answer || !answer.text) return null;
  const at = text.indexOf(answer.text);
  if (at >= 0) return [at, at + answer.text.length];
  const words = answer.text.split(/\s+/).filter(Boolean).map(escapeRegExp);
  if (!words.length) return null;
  const m = new RegExp(words.join("\\s+"), "u").exec(text);
  return m ? [m.index, m.index + m[0].length] : null;
}

// Append `text` to `parent` with the words in `words` (spans relative to `offset`) in <mark>s.
function appendWords(parent, text, offset, words) {
  let at = 0;
  for (const [s0, e0] of words) {
    const s = s0 - offset;
    const e = e0 - offset;
    if (s < at || e > text.length) continue;
    if (s > at) parent.append(document.createTextNode(text.slice(at, s)));
    const mark = document.createElement("mark");
    mark.className = "match";
    mark.textContent = text.slice(s, e);
    parent.append(mark);
    at = e;
  }
  if (at < text.length) parent.append(document.createTextNode(text.slice(at)));
}

// `text` into `parent`: the span `answer` (or null) in a <mark class="answer">, matched words marked.
export function appendMarked(parent, raw, answer, terms) {
  const text = shown(raw);
  const words = matchedWords(text, terms);
  if (!answer) {
    appendWords(parent, text, 0, words);
    return;
  }
  const [a0, a1] = answer;
  appendWords(parent, text.slice(0, a0), 0, words.filter(([, e]) => e <= a0));
  const mark = document.createElement("mark");
  mark.className = "answer";
  appendWords(mark, text.slice(a0, a1), a0, words.filter(([s, e]) => s >= a0 && e <= a1));
  parent.append(mark);
  appendWords(parent, text.slice(a1), a1, words.filter(([s]) => s >= a1));
}
