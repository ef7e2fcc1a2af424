"""Page chrome saved with an article: "Leave a Reply", "Up ↑", "%d bloggers like this:", ...

A blog or news page copied to text ends with the comment form, share buttons and footer. Those
paragraphs are short and say nothing about the article, yet a question that shares a word with
them ("account", "reply", "Twitter") can rank them above real content. Rule: a short paragraph
(at most ``MAX_WORDS`` words) whose every line is a known phrase of web-page chrome, or is a
fragment of at most two words beside such a phrase, is boilerplate (a single common word such as
"Home" or "Related" is never enough), and it is not indexed. A real
paragraph that merely quotes such a phrase is longer or has other lines, and is kept.

Not indexing it (rather than demoting it at search time) keeps every citation valid: the other
passages keep their lines, and a left-out paragraph is never cited.
"""

from __future__ import annotations

import re

MAX_WORDS = 24

_PHRASES = [
    r"leave a (?:reply|comment)",
    r"fill in your details below or click an icon to log in",
    r"you are commenting using your\b.*\baccount",
    r"log ?out\s*/\s*change",
    r"connecting to %s",
    r"%d bloggers like this",
    r"blog at(?: wordpress\.com)?\.?",
    r"(?:up|top)\s*[↑⬆]|(?:back|scroll) to top\s*[↑⬆]?",
    r"(?:share|like|rate) this:?",
    r"(?:share on|follow us on|tweet on) \w+",
    r"loading\.{3}|loading…|post navigation",
    r"(?:twitter|facebook|google\+?|wordpress\.com|gravatar) (?:picture|photo|account|logo)",
    r"notify me of (?:new|follow-up) (?:comments|posts)(?: (?:by|via) email)?\.?",
    r"post was not sent\s*-\s*check your email addresses!?",
    r"email check failed, please try again",
    r"sorry, your blog cannot share posts by email\.?",
    r"(?:email|name|website) \(required\)(?: \(address never made public\))?",
    r"(?:previous|next) (?:post|article|story)\b.*",
    r"this site uses akismet to reduce spam\..*",
    r"(?:we use cookies|this (?:site|website) uses cookies)\b.*",
    r"(?:click to share on|click to email|click to print)\b.*",
    r"(?:create a free website or blog at|powered by) [\w. ]+",
    r"skip to (?:main )?content|search for:",
    r"report this (?:ad|content)",
]
_CHROME = re.compile(r"^(?:" + "|".join(_PHRASES) + r")[\s:.!)|↑]*$", re.IGNORECASE)
_PREFIX = re.compile(r"^(?:" + "|".join(_PHRASES[:3]) + r")", re.IGNORECASE)  # "... log in: Logo"


def is_chrome_line(line: str) -> bool:
    s = " ".join(line.split())
    return bool(s) and (bool(_CHROME.match(s)) or bool(_PREFIX.match(s)) and len(s.split()) <= MAX_WORDS)


def is_boilerplate(text: str) -> bool:
    """True when ``text`` (a paragraph) is web-page chrome and nothing else."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if not lines or len(text.split()) > MAX_WORDS:
        return False
    chrome = [is_chrome_line(ln) for ln in lines]
    if not any(chrome):
        return False
    return all(c or len(ln.split()) <= 2 and not ln.rstrip().endswith((".", "?", "!")) for c, ln in zip(chrome, lines))
