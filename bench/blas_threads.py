"""Numpy query encoder: latency of one question with and without a one-thread BLAS limit,
interleaved, for one caller and for two concurrent callers (the UI case). Reproduces the figures
quoted in rag/embed.py (_OneBlasThread). Usage: python bench/blas_threads.py [N]
"""
import statistics, sys, time, threading
from threadpoolctl import ThreadpoolController
from rag.embedding.model import default_model_dir
from rag.embedding.numpy_encoder import NumpyEncoder
enc = NumpyEncoder(default_model_dir())
ctl = ThreadpoolController()
QS = ["How many participants and observers are expected in Sochi?", "security measures for the Olympic games",
      "who is responsible for the safety of visitors", "terrorist threats"]
def one(limited):
    t = time.perf_counter()
    if limited:
        with ctl.limit(limits=1, user_api="blas"):
            enc.encode([QS[0]])
    else:
        enc.encode([QS[0]])
    return time.perf_counter() - t
for _ in range(10): one(False); one(True)
res = {False: [], True: []}
N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
for i in range(N):
    for lim in ((False, True) if i % 2 else (True, False)):
        res[lim].append(one(lim))
for lim, xs in res.items():
    xs.sort(); print(f"single thread caller, limit={lim}: p50 {1e3*statistics.median(xs):.2f} ms p90 {1e3*xs[int(.9*len(xs))]:.2f} ms")
# two concurrent searchers (the UI case)
def conc(limited, n=100):
    out = []
    def worker():
        for _ in range(n): out.append(one(limited))
    ts = [threading.Thread(target=worker) for _ in range(2)]
    [t.start() for t in ts]; [t.join() for t in ts]
    out.sort(); return statistics.median(out), out[int(.9*len(out))]
for r in range(2):
    for lim in (False, True):
        p50, p90 = conc(lim)
        print(f"2 concurrent callers, limit={lim}: p50 {1e3*p50:.2f} ms p90 {1e3*p90:.2f} ms")
print("limits after (a per-call save/restore across threads can leave them lowered):", [(d['prefix'], d['num_threads']) for d in ctl.info()])
