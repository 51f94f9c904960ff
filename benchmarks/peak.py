"""Measured FP32 peak of this machine: a large SGEMM through numpy's BLAS (OpenBLAS), per thread count.

    python benchmarks/peak.py            # threads 1 and 2
    python benchmarks/peak.py --threads 1 --n 2048

Each thread count runs in a fresh interpreter (BLAS reads its thread count at import), repeats
C = A @ B on n x n float32 matrices and reports the best and the median GFLOP/s over --reps runs. The best is the
figure used as "peak" (the machine is shared; the median shows how noisy it was).
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
            f"threads {t}: SGEMM n={args.n} best {r['best']:.1f} GFLOP/s, median {r['median']:.1f} GFLOP/s"
        )


if __name__ == "__main__":
    main()
