"""Texts for the embedding tests (varied: languages, emoji, markup, numbers, truncation-length
texts), and sentence-transformers' own vectors for them, the reference every encoder path must match."""

from __future__ import annotations

import random

import numpy as np

MIN_COSINE = 0.9999

def st_encode(model, texts: list[str]) -> np.ndarray:
    out = model.encode(
        texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=True,
        show_progress_bar=False,
    )
    return np.asarray(out, dtype=np.float32)


# --- test strings --------------------------------------------------------------------------------

_EN = (
    "the quick brown fox jumps over lazy dog retrieval augmented generation index query passage "
    "citation document evidence model transformer embedding vector search ranking relevance "
    "battery voltage photosynthesis chlorophyll revolution parliament treaty volcano glacier "
    "algorithm compiler kernel latency throughput bandwidth mitochondria enzyme protein"
).split()
_FR = "café naïve résumé déjà vu façade élève garçon où forêt hôpital".split()
_DE = "Straße Größe Übermaß Äpfel schön Fußgängerübergänge Donaudampfschifffahrt".split()
_ZH = ["你好", "世界", "机器学习", "检索增强生成", "北京", "上海", "自然语言处理", "数据库", "中文"]
_JA = ["こんにちは", "東京", "カタカナ", "ひらがな", "日本語の文章"]
_AR = ["مرحبا", "بالعالم", "اللغة", "العربية", "الحاسوب", "البحث", "المستند"]
_RU = ["привет", "мир", "поиск", "документ", "Москва", "язык"]
_EMOJI = ["🙂", "🚀", "👍🏽", "🇫🇷", "👨‍👩‍👧", "🔥🔥", "❤️", "🤖"]
_PUNCT = ["!", "?", "...", "—", "–", ";", ":", "(", ")", "\"", "'", "«»", "¿", "¡", "@", "#", "%"]
_MARKUP = ["[bold]", "[/bold]", "[red]", "[/]", "<b>", "</b>", "**", "__", "`code`", "<div class='x'>",
           "&amp;", "{json: 1}", "\\n", "$x^2$", "[link](http://example.com/a?b=c)"]
_NUM = ["0", "42", "3.14159", "-7e10", "1,000,000", "2024-05-17", "12:30", "#123", "v2.3.1", "0x1F"]


def _word(rng: random.Random) -> str:
    pool = rng.choice([_EN, _EN, _EN, _FR, _DE, _ZH, _JA, _AR, _RU, _EMOJI, _PUNCT, _MARKUP, _NUM])
    w = rng.choice(pool)
    style = rng.random()
    if style < 0.1:
        w = w.upper()
    elif style < 0.2:
        w = w.capitalize()
    elif style < 0.25:
        w = "".join(c.upper() if rng.random() < 0.5 else c for c in w)
    return w


def _sentence(rng: random.Random, n_words: int) -> str:
    seps = [" "] * 12 + ["  ", "\t", "\n", " \n\n ", ", ", ". "]
    parts = []
    for _ in range(n_words):
        parts.append(_word(rng))
        parts.append(rng.choice(seps))
    return "".join(parts).rstrip()


def varied_texts() -> list[str]:
    rng = random.Random(20240517)
    fixed = [
        "",
        " ",
        "\n\t  \n",
        "a",
        "Hello, world!",
        "?!.,;:",
        "......",
        "!!!???",
        "   lots    of \n\t whitespace   between   words   ",
        "[bold]markup[/bold] and [red]colour[/] tags",
        "<p>Some <b>HTML</b> &amp; entities</p>",
        "12345 3.14159 -7e10 1,000,000",
        "MiXeD CaSe WoRdS iN a SeNtEnCe",
        "ALL UPPER CASE SHOUTING",
        "你好，世界！这是一个测试句子。",
        "مرحبا بالعالم، هذه جملة اختبار.",
        "🙂🚀👍🏽🇫🇷👨‍👩‍👧",
        "emoji inside 🔥 words 🔥 here",
        "café naïve résumé Straße Größe",
        "Ünïcödé ñ ß ø å æ œ",
        "\u200b\u200bzero width\u200b spaces\ufeff and BOM",
        "control\x00chars\x07 and \x1b[31m escapes",
        "combining e\u0301 vs \u00e9",
        "ｆｕｌｌｗｉｄｔｈ ｌｅｔｔｅｒｓ",
        "x" * 300,
        "supercalifragilisticexpialidocious antidisestablishmentarianism",
        "https://example.com/path/to/page?query=1&other=two#frag",
        "def f(x):\n    return x ** 2  # python code",
        "SELECT * FROM table WHERE id = 42;",
    ]
    texts = list(fixed)
    for _ in range(170):  # short and medium
        texts.append(_sentence(rng, rng.choice([1, 2, 3, 5, 8, 13, 21, 34, 55])))
    for _ in range(40):  # long: well past 256 word-pieces, so truncation is exercised
        texts.append(_sentence(rng, rng.randint(200, 600)))
    for _ in range(20):  # long English prose
        texts.append(" ".join(rng.choice(_EN) for _ in range(rng.randint(250, 400))))
    texts.append("你好世界" * 200)  # every CJK character is its own word-piece
    texts.append("🙂 " * 400)
    texts.append(". " * 500)
    return texts


TEXTS = varied_texts()

DOCS = [
    "Photosynthesis converts light energy into chemical energy stored in glucose in plant leaves.",
    "Chlorophyll absorbs red and blue light and reflects green, which is why leaves look green.",
    "Mitochondria produce ATP through oxidative phosphorylation in eukaryotic cells.",
    "Enzymes are proteins that lower the activation energy of chemical reactions.",
    "The French Revolution began in 1789 with the storming of the Bastille.",
    "Parliament passed the treaty after a long debate over trade tariffs.",
    "The Treaty of Versailles ended the First World War in 1919.",
    "Volcanoes erupt when magma rises through cracks in the Earth's crust.",
    "Glaciers carve U-shaped valleys as they slowly move downhill.",
    "Plate tectonics explains earthquakes along fault lines such as the San Andreas.",
    "A compiler translates source code written in a high-level language into machine code.",
    "The operating system kernel schedules processes and manages memory.",
    "Network latency is the delay before data begins to transfer; bandwidth is the rate.",
    "Throughput measures how many requests a server completes per second.",
    "Binary search finds an item in a sorted array in logarithmic time.",
    "Quicksort partitions an array around a pivot and sorts the parts recursively.",
    "Hash tables give constant-time average lookups using a hash function.",
    "Lithium-ion batteries store energy through the movement of lithium ions.",
    "Voltage is the electric potential difference between two points in a circuit.",
    "Solar panels convert sunlight into electricity using photovoltaic cells.",
    "Retrieval augmented generation grounds a language model's answer in retrieved passages.",
    "Dense retrieval embeds queries and documents into vectors and compares them by cosine.",
    "BM25 is a lexical ranking function based on term frequency and document length.",
    "Citations let readers verify that an answer is supported by the source text.",
    "Transformers use self-attention to relate every token to every other token.",
    "Sentence embeddings are produced by mean pooling the token vectors of a transformer.",
    "The Great Wall of China stretches thousands of kilometres across northern China.",
    "Beijing is the capital of China and Shanghai is its largest city.",
    "Tokyo is the capital of Japan and one of the most populous cities in the world.",
    "Paris is known for the Eiffel Tower, museums and cafés.",
    "The Amazon rainforest produces a large share of the world's oxygen.",
    "Coffee contains caffeine, a stimulant that blocks adenosine receptors.",
    "Bread rises because yeast ferments sugars and releases carbon dioxide.",
    "A marathon is 42.195 kilometres long.",
    "The violin has four strings tuned in perfect fifths.",
    "Chess openings such as the Sicilian Defence shape the middle game.",
    "Football is the most popular sport in the world by number of fans.",
    "Vaccines train the immune system to recognise a pathogen.",
    "Antibiotics kill bacteria but are useless against viruses.",
    "DNA is a double helix made of nucleotides paired A-T and C-G.",
]
QUERIES = [
    "how do plants make energy from sunlight",
    "what causes earthquakes and volcanoes",
    "what does a compiler do",
    "how does a battery store electricity",
    "retrieval augmented generation with citations",
    "capital cities in Asia",
    "sorting and searching algorithms",
    "how do cells produce energy",
    "history of wars and treaties",
    "medicine against infections",
]


# --- (1) agreement with sentence-transformers ----------------------------------------------------

