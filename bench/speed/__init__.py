"""The sections of the speed suite (bench/run.py), one module each.

Each module has ``TITLE`` (its row when it failed or was skipped), ``run(args, work) -> dict`` (in
the orchestrator: it starts child processes and imports nothing heavy), ``rows(result)`` (its lines
of the results table: figure, rag, baseline, ratio, target, met, peak RSS) and ``WORKERS`` (the
functions that run in those children, by name: ``bench/run.py --worker NAME --params JSON``).

Beside the sections, some files here are benchmarks run on their own (``.venv/bin/python
bench/speed/NAME.py``), e.g. issue 26's ``build_profile`` (where a build's time goes),
``throughput`` (rag's build vs a naive pipeline, interleaved), ``quantized_quality`` (nDCG@10 per
embedding precision) and ``ask_at_scale`` (commands at 20,000 files); ``scifact_files`` writes
SciFact abstracts as a seeds folder for them.
"""
