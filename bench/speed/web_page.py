"""The web page of `rag serve` in headless Chromium (issue 25's targets): first paint of ``/`` on
loopback, the time from a search response to its card on screen, and the bytes of the page's files;
and the README's screenshot (light mode, a real answer on the seed article).

    .venv/bin/python bench/speed/web_page.py [--runs N] [--screenshot docs/web-page.png] [--work DIR]

Steps: the seed article in a temporary seeds folder, its index (`rag index`, real model), `rag serve`
on a free loopback port; then ``--runs`` fresh browser contexts (no cache) each load ``/`` (paint
timing: ``performance.getEntriesByType('paint')``) and ask the seed question (the page's own
``performance.measure`` from the response's arrival to the next animation frame after the card is
in the page: ``rag-card-N``; and to the end of the card's rendering: ``rag-render-N``). Medians are
printed; nothing is asserted. The machine is shared: the load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/, for harness

import httpx  # noqa: E402

from harness import CHILD_ENV, QUESTION, REPO, SEED_ARTICLE, free_port, load_line, log, rag_cli  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TARGETS = {"first paint (ms)": 300.0, "response to card on screen (ms)": 50.0, "page files (KB)": 100.0}


def page_bytes() -> int:
    from rag.service.web import page_files

    return sum(len(body) for body, _ in page_files().values())


def start_server(seeds: Path, index: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(rag_cli() + ["serve", "--seeds", str(seeds), "--index", str(index), "--port", str(port)],
                            env=CHILD_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rag serve exited {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("rag serve did not become ready")


def ask(page, question: str, n: int) -> None:
    page.fill("#question", question)
    page.press("#question", "Enter")
    page.wait_for_selector(f"#card-{n}[data-state=done]", timeout=300_000)


def measure(browser, url: str, runs: int) -> dict:
    paints, fcps, cards, renders = [], [], [], []
    for i in range(runs):
        ctx = browser.new_context(viewport={"width": 1200, "height": 800})
        page = ctx.new_page()
        page.goto(url + "/", wait_until="load")
        page.wait_for_function("performance.getEntriesByType('paint').length >= 2", timeout=60_000)
        entries = {e["name"]: e["startTime"] for e in page.evaluate(
            "performance.getEntriesByType('paint').map(e => ({name: e.name, startTime: e.startTime}))")}
        paints.append(entries["first-paint"])
        fcps.append(entries["first-contentful-paint"])
        ask(page, QUESTION, 1)
        ask(page, QUESTION, 2)  # the second card: a page that has answered once
        for n in (1, 2):
            cards.append(page.evaluate(f"performance.getEntriesByName('rag-card-{n}')[0].duration"))
            renders.append(page.evaluate(f"performance.getEntriesByName('rag-render-{n}')[0].duration"))
        ctx.close()
        log(f"run {i + 1}/{runs}: first paint {paints[-1]:.0f} ms, cards {cards[-2]:.1f} / {cards[-1]:.1f} ms")
    return {"first paint (ms)": statistics.median(paints), "first contentful paint (ms)": statistics.median(fcps),
            "response to card on screen (ms)": statistics.median(cards),
            "card rendering alone (ms)": statistics.median(renders), "samples": {"paint": paints, "card": cards}}


def screenshot(browser, url: str, out: Path) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 820}, color_scheme="light", device_scale_factor=1)
    page = ctx.new_page()
    page.goto(url + "/")
    page.wait_for_selector("#index-status >> text=passages")
    ask(page, QUESTION, 1)
    page.locator("#card-1 .passage .cite").first.click()
    page.wait_for_selector("#source-lines .line.cited")
    page.locator("#question").focus()
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out))
    ctx.close()
    log(f"screenshot: {out}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--screenshot", type=Path, default=None, help="also write the README's screenshot here")
    ap.add_argument("--work", type=Path, default=None, help="a folder for the seeds and index (default: temporary)")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    work = args.work or Path(tempfile.mkdtemp(prefix="rag-web-bench-"))
    seeds, index = work / "seeds", work / "index"
    seeds.mkdir(parents=True, exist_ok=True)
    shutil.copy(SEED_ARTICLE, seeds / SEED_ARTICLE.name)
    log("building the index of the seed article")
    subprocess.run(rag_cli() + ["index", "--seeds", str(seeds), "--index", str(index)], env=CHILD_ENV, check=True,
                   cwd=REPO, stdout=subprocess.DEVNULL)
    proc, url = start_server(seeds, index)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            ask_warm = browser.new_context().new_page()  # the server's first search loads what it needs
            ask_warm.goto(url + "/")
            ask(ask_warm, QUESTION, 1)
            ask_warm.context.close()
            res = measure(browser, url, args.runs)
            if args.screenshot is not None:
                screenshot(browser, url, args.screenshot)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(30)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    res["page files (KB)"] = page_bytes() / 1024
    print(f"\nWeb page of rag serve, headless Chromium on loopback ({args.runs} fresh contexts; {load_line()})\n")
    print("| figure | median | target |")
    print("|---|---|---|")
    for name in ("first paint (ms)", "first contentful paint (ms)", "response to card on screen (ms)",
                 "card rendering alone (ms)", "page files (KB)"):
        target = TARGETS.get(name)
        print(f"| {name} | {res[name]:.1f} | {'<= ' + str(int(target)) if target else ''} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
