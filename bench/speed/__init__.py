"""The sections of the speed suite (bench/run.py), one module each.

Each module has ``TITLE`` (its row when it failed or was skipped), ``run(args, work) -> dict`` (in
the orchestrator: it starts child processes and imports nothing heavy), ``rows(result)`` (its lines
of the results table: figure, rag, baseline, ratio, target, met, peak RSS) and ``WORKERS`` (the
functions that run in those children, by name: ``bench/run.py --worker NAME --params JSON``).
"""
