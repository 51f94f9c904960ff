"""Measured FP32 peak of this machine, per thread count, two ways.

    python benchmarks/peak.py            # threads 1 and 2
    python benchmarks/peak.py --threads 1 --n 2048

* FMA peak (the figure kernels are measured against): ``allinone._core.fma_peak_gflops`` times
  the chosen ISA's widest FMA on independent chains in registers, on each thread at once (it
  releases the GIL), and sums the threads' rates: what the cores' FMA ports can do.
* SGEMM (a reference): numpy's BLAS (OpenBLAS) on n x n float32 matrices, each thread count in a
  fresh interpreter (BLAS reads its thread count at import), best and median of --reps runs. A
  tuned GEMM stays below the FMA peak (here 150 against 223 GFLOP/s on one core), and ONNX
  Runtime's convolutions run above this SGEMM, so it is no ceiling.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

_PROBE = r"""
import json, sys, time
import numpy as np
n, reps = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
a = rng.standard_normal((n, n), dtype=np.float32)
b = rng.standard_normal((n, n), dtype=np.float32)
c = np.empty((n, n), dtype=np.float32)
np.matmul(a, b, out=c)  # warm-up: page faults, BLAS thread start
rates = []
for _ in range(reps):
    t0 = time.perf_counter()
    np.matmul(a, b, out=c)
    rates.append(2.0 * n**3 / (time.perf_counter() - t0) / 1e9)
rates.sort()
print(json.dumps({"best": rates[-1], "median": rates[len(rates) // 2]}))
"""


def measure(threads: int, n: int = 1536, reps: int = 30) -> dict:
    """GFLOP/s of an n^3 SGEMM on `threads` BLAS threads: {"best": .., "median": ..}."""
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(n), str(reps)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def fma_peak(threads: int, seconds: float = 0.5) -> float:
    """Summed FMA-loop GFLOP/s of `threads` threads running at once (allinone's native probe)."""
    import threading

    from allinone._core import fma_peak_gflops

    rates: list[float] = []
    workers = [
        threading.Thread(target=lambda: rates.append(fma_peak_gflops(seconds)))
        for _ in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(rates)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--n", type=int, default=1536)
    ap.add_argument("--reps", type=int, default=30)
    args = ap.parse_args()
    for t in args.threads:
        r = measure(t, args.n, args.reps)
        print(
            f"threads {t}: FMA peak {fma_peak(t):.1f} GFLOP/s; SGEMM n={args.n} best "
            f"{r['best']:.1f} GFLOP/s, median {r['median']:.1f} GFLOP/s"
        )


if __name__ == "__main__":
    main()
