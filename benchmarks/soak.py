"""Soak test: many inferences with level switches; resident memory must stay flat after warm-up.

Runs ``--inferences`` (default 100 000) batch-1 inferences of a model (default: the shipped demo)
from ``--threads-run`` Python threads while a switcher thread changes the level every
``--switch-ms`` ms (default 1), mixing ``run`` (current level) and ``run_at`` (a given level), with
one NaN input every 1000 inferences and an engine re-created every ``--reload-every`` inferences.
Samples RSS (``/proc/self/status`` VmRSS) every ``--sample-every`` inferences and reports it over
time. Passes when RSS after warm-up (the first ``--warmup`` fraction) grows by at most
``--max-growth-kib`` (default 2048 KiB) and the least-squares slope over the post-warm-up samples
is under 1 KiB per 10 000 inferences.

    python benchmarks/soak.py                         # ~1 minute on 2 cores
    python benchmarks/soak.py --inferences 20000 --json soak.json

Leaks are checked separately by LeakSanitizer on the C++ side (tools/sanitize.sh): RSS catches
what LSan cannot see (pools or caches that grow without bound but stay reachable).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from allinone import Engine  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "allinone" / "data" / "demo.aio"


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def slope_kib_per_10k(xs: list[int], ys: list[int]) -> float:
    if len(xs) < 2:
        return 0.0
    x = np.asarray(xs, float)
    y = np.asarray(ys, float)
    return float(np.polyfit(x, y, 1)[0] * 10_000)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default=str(DEMO))
    ap.add_argument("--inferences", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=2, help="engine threads")
    ap.add_argument("--threads-run", type=int, default=2, help="Python threads calling run")
    ap.add_argument("--switch-ms", type=float, default=1.0)
    ap.add_argument("--sample-every", type=int, default=2_000)
    ap.add_argument(
        "--reload-every",
        type=int,
        default=0,
        help="re-create the engine every N inferences (0: never; new pool threads "
        "and malloc arenas then add a step to RSS that plateaus)",
    )
    ap.add_argument(
        "--reload-cycles",
        type=int,
        default=200,
        help="after the soak, load/run/free the engine N times; RSS must plateau",
    )
    ap.add_argument("--warmup", type=float, default=0.1)
    ap.add_argument("--max-growth-kib", type=int, default=2048)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    engine = Engine(args.model, threads=args.threads)
    n_levels = engine.num_levels
    x = np.random.default_rng(0).standard_normal((1, *engine.input_shape)).astype(np.float32)
    x_nan = x.copy()
    x_nan[0, 0, 0, 0] = np.nan
    refs = [engine.run_at(k, x) for k in range(n_levels)]

    lock = threading.Lock()
    done = 0
    samples: list[tuple[int, float, int]] = []  # (inferences, seconds, rss KiB)
    switches = 0
    mismatches = 0
    stop = threading.Event()
    t0 = time.perf_counter()
    samples.append((0, 0.0, rss_kib()))

    def switcher() -> None:
        nonlocal switches
        k = 0
        while not stop.is_set():
            k = (k + 1) % n_levels
            engine.set_level(k)
            switches += 1
            time.sleep(args.switch_ms / 1000)

    def worker(tid: int) -> None:
        nonlocal done, mismatches, engine
        rng = np.random.default_rng(tid)
        while True:
            with lock:
                if done >= args.inferences:
                    return
                done += 1
                i = done
                if args.reload_every and i % args.reload_every == 0:
                    engine = Engine(args.model, threads=args.threads)  # the old one is freed
                if i % args.sample_every == 0:
                    samples.append((i, time.perf_counter() - t0, rss_kib()))
            eng = engine
            if i % 1000 == 0:
                eng.run(x_nan)  # NaN input: no crash, nothing carried over
            if i % 3 == 0:
                k = int(rng.integers(n_levels))
                y = eng.run_at(k, x)
            else:
                k = eng.level
                y = eng.run(x)  # level may change between the read and the run: check loosely
                if not any(y.shape == r.shape and np.array_equal(y, r) for r in refs):
                    mismatches += 1
                continue
            if not np.array_equal(y, refs[k]):
                mismatches += 1

    sw = threading.Thread(target=switcher, daemon=True)
    sw.start()
    workers = [threading.Thread(target=worker, args=(t,)) for t in range(args.threads_run)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    sw.join()
    elapsed = time.perf_counter() - t0
    samples.append((args.inferences, elapsed, rss_kib()))

    warm_n = int(args.inferences * args.warmup)
    post = [(i, r) for i, _, r in samples if i >= warm_n]
    rss_warm = post[0][1]
    rss_max = max(r for _, r in post)
    growth = rss_max - rss_warm
    slope = slope_kib_per_10k([i for i, _ in post], [r for _, r in post])
    # Flat: bounded growth, and no trend (64 KiB per 10k inferences would be 640 KiB per 100k).
    ok = growth <= args.max_growth_kib and abs(slope) < 64 and mismatches == 0

    print(
        f"model {args.model}: {n_levels} levels, {args.inferences} inferences in {elapsed:.1f} s "
        f"({args.inferences / elapsed:.0f}/s), {switches} level switches, {mismatches} mismatches"
    )
    print("inferences   seconds   RSS MiB")
    for i, t, r in samples:
        print(f"{i:10d} {t:9.1f} {r / 1024:9.2f}")
    print(
        f"after warm-up ({warm_n} inferences): RSS {rss_warm / 1024:.2f} MiB -> max "
        f"{rss_max / 1024:.2f} MiB (+{growth} KiB), slope {slope:+.2f} KiB per 10k inferences: "
        f"{'FLAT' if ok else 'GROWING'}"
    )
    reload = {}
    if args.reload_cycles:
        del engine, workers
        xr = np.zeros_like(x)
        marks = {}
        for c in range(1, args.reload_cycles + 1):
            e = Engine(args.model, threads=args.threads)
            e.run(xr)
            del e
            if c in (args.reload_cycles // 4, args.reload_cycles):
                marks[c] = rss_kib()
        (c1, r1), (c2, r2) = sorted(marks.items())
        reload = {"cycles": args.reload_cycles, "rss_kib": marks, "growth_kib": r2 - r1}
        reload_ok = r2 - r1 <= 1024
        print(
            f"load/run/free x{args.reload_cycles}: RSS {r1 / 1024:.2f} MiB after {c1}, "
            f"{r2 / 1024:.2f} MiB after {c2} (+{r2 - r1} KiB): "
            f"{'PLATEAU' if reload_ok else 'GROWING'}"
        )
        ok = ok and reload_ok
    if args.json:
        from allinone.device.context import run_context

        args.json.write_text(
            json.dumps(
                {
                    "model": args.model,
                    "inferences": args.inferences,
                    "seconds": elapsed,
                    "switches": switches,
                    "mismatches": mismatches,
                    "samples": samples,
                    "rss_warm_kib": rss_warm,
                    "rss_max_kib": rss_max,
                    "growth_kib": growth,
                    "slope_kib_per_10k": slope,
                    "reload": reload,
                    "flat": ok,
                    "context": run_context(model=args.model, emulated=False),
                },
                indent=1,
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
