// The conversation as Markdown, every answer, passage and citation (as the terminal chat's export,
// tui/transcript.py), downloaded as a file built in the page.

import { answerCitation, bestConfidence } from "./cards.js";
import { verdictLine } from "./marks.js";

function quoteLines(text) {
  return text.split("\n").map((line) => `> ${line}`.trimEnd());
}

// One passage as a Markdown quote followed by its citation (the chat's ctrl+y, tui/transcript.py).
export function quoteMarkdown(hit) {
  return `${[...quoteLines(hit.text), ">", `> — \`${hit.citation}\``].join("\n")}\n`;
}

export function conversationMarkdown(exchanges, indexLabel, when) {
  const out = ["# rag conversation", "", `- Index: \`${indexLabel}\``, `- Exported: ${when}`, ""];
  exchanges.forEach((ex, i) => {
    out.push(`## ${i + 1}. ${ex.question}`, "");
    if (ex.error !== null) {
      out.push(`_No answer: ${ex.error}_`, "");
      return;
    }
    if (!ex.result) {
      out.push("_Still searching when exported._", "");
      return;
    }
    for (const note of ex.notes) out.push(`_${note}_`, "");
    const hits = ex.result.hits;
    if (!hits.length) {
      out.push("_No passage matched._", "");
      return;
    }
    const top = hits[0];
    out.push(`**${verdictLine(ex.result.verdict, bestConfidence(hits))}**`, "");
    if (top.answer && ex.result.verdict !== "not_found") out.push(`> ${top.answer.text} (\`${answerCitation(top)}\`)`, "");
    out.push(`Passages (${ex.mode}, k = ${ex.k}):`, "");
    for (const h of hits) {
      out.push(`${h.rank}. \`${h.citation}\``, "");
      for (const line of quoteLines(h.text)) out.push(`   ${line}`);
      out.push("");
    }
  });
  return `${out.join("\n").trimEnd()}\n`;
}

export function download(markdown, stamp) {
  const blob = new Blob([markdown], { type: "text/markdown;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = `rag-conversation-${stamp}.md`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
