#!/usr/bin/env python3
"""An inference daemon: one AdaptiveEngine kept loaded, served over HTTP (standard library only).

    python examples/daemon/aio_daemon.py --model model.aio --port 8080
    python examples/daemon/aio_daemon.py --model model.aio --unix /tmp/aio.sock

Endpoints (JSON unless noted):

    POST /infer         body: JSON {"input": [[...]], "level": K?} or a raw .npy file
                        (Content-Type: application/x-npy; optional ?level=K). Input (C,H,W) or
                        (N,C,H,W). Reply: {"output", "level", "latency_ms", "model_version",
                        "model"}. Without a level the governor picks it.
    GET  /metrics       Prometheus text: requests, errors, level histogram, latency quantiles
                        (last --window requests), deadline misses, clock, current level, and
                        aio_info naming the clock source, the CPU cluster and the energy
                        source.
    GET  /metrics.json  the same as JSON.
    GET  /info          the model: name, input shape, levels, labels.
    GET  /healthz       "ok".

Signals: SIGHUP reloads --model (the new engine is loaded and calibrated off to the side, then
swapped in atomically; requests already running finish on the old engine; a failed reload keeps
the old one). SIGTERM/SIGINT stop accepting connections, let running requests finish and exit 0.

Load: the listen backlog is 128 (socketserver's default of 5 reset connections when 16 clients
connected at once during a reload); each connection gets its own thread.

On a device: --cpus big (or little, policyN, 4-7) pins the engine's workers and the request
threads to one cluster and, with --source auto or cpufreq, follows that cluster's clock;
--table SWEEP.json uses the frequency x level table measured by `allinone sweep` instead of
calibrating at start-up.

Inferences are serialised per engine: the governor's latency model assumes one inference at a
time (concurrent runs would contend for the cores and inflate every latency); the engine's own
threads (--threads) parallelise each run. Requests queue on that lock.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import logging
import os
import signal
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

from allinone.adaptive import AdaptiveEngine
from allinone.device.energy import detect_energy
from allinone.device.topology import format_cpu_list, read_topology, resolve_cpus
from allinone.dvfs import FixedSource, LatencyTable, Source, calibrate, open_source
from allinone.runtime import Engine

log = logging.getLogger("aio_daemon")

MAX_BODY = 64 << 20


# ---------------------------------------------------------------------------------- metrics
class Metrics:
    """Thread-safe counters and a bounded window of recent latencies (bounded memory)."""

    def __init__(self, window: int = 10_000) -> None:
        self.lock = threading.Lock()
        self.started = time.time()
        self.requests = 0
        self.errors = 0
        self.misses = 0
        self.reloads = 0
        self.reload_errors = 0
        self.inflight = 0
        self.level_counts: collections.Counter[int] = collections.Counter()
        self.latency: collections.deque[float] = collections.deque(maxlen=window)

    def record(self, level: int, ms: float, target_ms: float) -> None:
        """One successful inference."""
        with self.lock:
            self.requests += 1
            self.level_counts[level] += 1
            self.latency.append(ms)
            if ms > target_ms:
                self.misses += 1

    def add(self, name: str, n: int = 1) -> None:
        """Increments a counter attribute (errors, reloads, inflight ...)."""
        with self.lock:
            setattr(self, name, getattr(self, name) + n)

    def snapshot(self) -> dict[str, Any]:
        """Everything, as plain data."""
        with self.lock:
            lat = np.asarray(self.latency, dtype=float)
            out: dict[str, Any] = {
                "uptime_s": time.time() - self.started,
                "requests_total": self.requests,
                "errors_total": self.errors,
                "deadline_misses_total": self.misses,
                "reloads_total": self.reloads,
                "reload_errors_total": self.reload_errors,
                "inflight": self.inflight,
                "level_histogram": {str(k): v for k, v in sorted(self.level_counts.items())},
                "latency_window": int(lat.size),
            }
        if lat.size:
            out["latency_ms"] = {
                "p50": float(np.percentile(lat, 50)),
                "p90": float(np.percentile(lat, 90)),
                "p99": float(np.percentile(lat, 99)),
                "max": float(lat.max()),
                "mean": float(lat.mean()),
            }
        else:
            out["latency_ms"] = {}
        return out


class _Recorder:
    """Stands in for AdaptiveEngine.stats: forwards each run to :class:`Metrics` and remembers
    the level of the last run (read under the slot's lock, so it is this request's level)."""

    def __init__(self, metrics: Metrics, target_ms: float) -> None:
        self.metrics = metrics
        self.target_ms = target_ms
        self.last_level = -1

    def record(self, level: int, latency_ms: float) -> None:
        self.last_level = int(level)
        self.metrics.record(int(level), float(latency_ms), self.target_ms)


# ------------------------------------------------------------------------------------ model
class Slot:
    """One loaded model version: engine, governor, and the lock that serialises its runs."""

    def __init__(self, args: argparse.Namespace, metrics: Metrics, version: int) -> None:
        self.version = version
        self.path = args.model
        self.engine = Engine(args.model, threads=args.threads, cpus=args.cpu_list)
        self.source = make_source(args.source, args.cpu_list)
        if args.table:
            table = LatencyTable.from_sweep(args.table)
            if len(table.level_ms) != self.engine.num_levels:
                raise ValueError(
                    f"{args.table}: {len(table.level_ms)} levels, the model has "
                    f"{self.engine.num_levels}"
                )
        else:
            f_ref = float(self.source.max_mhz) or float(self.source.read().cpu_mhz) or 1000.0
            table = calibrate(self.engine, f_ref, runs=args.calib_runs, source=self.source.name)
        self.recorder = _Recorder(metrics, 0.0)
        self.adaptive = AdaptiveEngine(
            self.engine,
            table,
            self.source,
            target_ms=args.target_ms,
            poll_interval_s=args.poll_interval,
            emulate=args.emulate,
        )
        self.recorder.target_ms = self.adaptive.target_ms
        self.adaptive.stats = self.recorder  # type: ignore[assignment]
        self.lock = threading.Lock()
        self.adaptive.start()

    def infer(self, x: np.ndarray, level: int | None) -> tuple[np.ndarray, int, float]:
        """Runs ``x`` (at ``level`` or the governor's); returns (output, level, ms)."""
        with self.lock:
            if level is not None:
                t0 = time.perf_counter()
                y = self.engine.run_at(level, x)
                ms = (time.perf_counter() - t0) * 1e3
                self.recorder.record(level, ms)
                return y, level, ms
            t0 = time.perf_counter()
            y = self.adaptive.run(x)
            return y, self.recorder.last_level, (time.perf_counter() - t0) * 1e3

    def close(self) -> None:
        """Stops the governor's monitor thread (runs still in flight keep working)."""
        self.adaptive.stop()


def make_source(spec: str, cpus: list[int] | None = None) -> Source:
    """``auto`` falls back to a fixed 1000 MHz clock where no live source exists. With pinned
    CPUs, ``auto`` and ``cpufreq`` follow the policy (cluster) that owns them."""
    if spec == "auto":
        try:
            src = open_source("auto", cpus=cpus)
            if src.max_mhz > 0:
                return src
        except Exception as exc:  # any failure: fall back, but say so
            log.warning("no live frequency source (%s); using fixed:1000", exc)
        return FixedSource(1000.0)
    return open_source(spec, cpus=cpus)


# ----------------------------------------------------------------------------------- server
class Daemon:
    """Holds the current :class:`Slot`, swaps it on reload, answers requests."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.metrics = Metrics(args.window)
        self.slot = Slot(args, self.metrics, 0)
        self.energy = detect_energy().summary()
        self.cluster = (
            f"cpus {format_cpu_list(args.cpu_list)}" if args.cpu_list else "unpinned"
        ) + f" ({read_topology().describe()})"
        self._reload_lock = threading.Lock()
        self.server: socketserver.BaseServer | None = None

    def reload(self) -> None:
        """Loads the model again off to the side, then swaps it in (one reference store)."""
        with self._reload_lock:
            old = self.slot
            try:
                new = Slot(self.args, self.metrics, old.version + 1)
            except Exception as exc:
                self.metrics.add("reload_errors")
                log.error("reload of %s failed, keeping version %d: %s", old.path, old.version, exc)
                return
            self.slot = new  # atomic: later requests see the new slot
            old.close()
            self.metrics.add("reloads")
            log.info("reloaded %s: version %d", new.path, new.version)

    def info(self) -> dict[str, Any]:
        slot = self.slot
        e = slot.engine
        return {
            "model": slot.path,
            "model_version": slot.version,
            "name": e.name,
            "input_shape": list(e.input_shape),
            "labels": e.labels,
            "levels": [
                {"level": k, "keep_ratio": lv.keep_ratio, "flops": lv.flops}
                for k, lv in enumerate(e.levels)
            ],
        }

    def metrics_json(self) -> dict[str, Any]:
        slot = self.slot
        out = self.metrics.snapshot()
        out.update(
            model=slot.path,
            model_version=slot.version,
            num_levels=slot.engine.num_levels,
            level_current=slot.adaptive.level,
            deadline_ms=slot.adaptive.target_ms,
            frequency_mhz=slot.adaptive.mhz,
            frequency_source=slot.source.describe(),
            clock_source=slot.source.name,
            cluster=self.cluster,
            energy_source=self.energy,
            emulated=slot.adaptive.emulated,
        )
        return out

    def metrics_text(self) -> str:
        """Prometheus text exposition format (version 0.0.4)."""
        m = self.metrics_json()
        lines = []

        def metric(name: str, kind: str, help_: str, samples: list[tuple[str, float]]) -> None:
            lines.append(f"# HELP aio_{name} {help_}")
            lines.append(f"# TYPE aio_{name} {kind}")
            lines.extend(f"aio_{name}{labels} {value:g}" for labels, value in samples)

        metric("requests_total", "counter", "Inferences served.", [("", m["requests_total"])])
        metric(
            "errors_total", "counter", "Requests answered with an error.", [("", m["errors_total"])]
        )
        metric(
            "deadline_misses_total", "counter", "Inferences slower than the deadline.",
            [("", m["deadline_misses_total"])],
        )  # fmt: skip
        metric("reloads_total", "counter", "Successful model reloads.", [("", m["reloads_total"])])
        metric(
            "level_runs_total", "counter", "Inferences per pruning level.",
            [(f'{{level="{k}"}}', v) for k, v in m["level_histogram"].items()],
        )  # fmt: skip
        metric(
            "latency_ms", "summary", f"Latency over the last {m['latency_window']} inferences.",
            [(f'{{quantile="{q}"}}', m["latency_ms"][p]) for q, p in
             (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99")) if p in m["latency_ms"]],
        )  # fmt: skip
        metric("deadline_ms", "gauge", "Latency target.", [("", m["deadline_ms"])])
        metric("frequency_mhz", "gauge", "Clock last sampled.", [("", m["frequency_mhz"])])
        metric("level", "gauge", "Level the governor picks now.", [("", m["level_current"])])
        metric("inflight", "gauge", "Requests being served.", [("", m["inflight"])])
        metric("model_version", "gauge", "Reload generation.", [("", m["model_version"])])

        def label(v: str) -> str:  # a Prometheus label value: escape \\, " and newlines
            return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

        info = (
            f'{{clock_source="{label(m["clock_source"])}",'
            f'clock="{label(m["frequency_source"])}",cluster="{label(m["cluster"])}",'
            f'energy_source="{label(m["energy_source"])}",emulated="{int(m["emulated"])}"}}'
        )
        metric("info", "gauge", "Clock source, CPU cluster and energy source in use.", [(info, 1)])
        return "\n".join(lines) + "\n"


def parse_input(body: bytes, content_type: str) -> tuple[np.ndarray, int | None]:
    """Request body → (float32 C-contiguous array, requested level or None)."""
    level: int | None = None
    if content_type.startswith("application/x-npy") or body[:6] == b"\x93NUMPY":
        x = np.load(io.BytesIO(body), allow_pickle=False)
    else:
        req = json.loads(body)
        if not isinstance(req, dict) or "input" not in req:
            raise ValueError('JSON body must be an object with an "input" array')
        x = np.asarray(req["input"], dtype=np.float32)
        if req.get("level") is not None:
            level = int(req["level"])
    return np.ascontiguousarray(x, dtype=np.float32), level


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.0: one request per connection, so a drain never waits on idle keep-alives."""

    server_version = "aio-daemon/1"
    timeout = 30  # seconds a client may stall mid-request (bounds the drain)
    daemon: Daemon  # set on the subclass made by make_server

    def address_string(self) -> str:  # unix sockets have no (host, port)
        return str(self.client_address[0]) if self.client_address else "unix"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code: int, obj: Any) -> None:
        self._send(code, json.dumps(obj).encode())

    def do_GET(self) -> None:  # noqa: N802
        path = urlparse(self.path).path
        d = self.daemon
        if path == "/metrics":
            self._send(200, d.metrics_text().encode(), "text/plain; version=0.0.4")
        elif path == "/metrics.json":
            self._json(200, d.metrics_json())
        elif path == "/info":
            self._json(200, d.info())
        elif path == "/healthz":
            self._send(200, b"ok\n", "text/plain")
        else:
            self._json(404, {"error": f"no such endpoint: {path}"})

    def do_POST(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        if url.path != "/infer":
            self._json(404, {"error": f"no such endpoint: {url.path}"})
            return
        d = self.daemon
        d.metrics.add("inflight")
        try:
            n = int(self.headers.get("Content-Length") or -1)
            if not 0 < n <= MAX_BODY:
                raise ValueError(f"Content-Length must be 1..{MAX_BODY}")
            x, level = parse_input(self.rfile.read(n), self.headers.get("Content-Type", ""))
            q = parse_qs(url.query)
            if "level" in q:
                level = int(q["level"][0])
            slot = d.slot  # one read: this request stays on this version
            y, used, ms = slot.infer(x, level)
            reply = {
                "output": y.tolist(),
                "level": used,
                "latency_ms": ms,
                "model_version": slot.version,
                "model": slot.path,
            }
        except (ValueError, TypeError, IndexError, OSError) as exc:
            d.metrics.add("errors")
            self._json(400, {"error": str(exc)})
            return
        except Exception as exc:  # keep serving; report
            d.metrics.add("errors")
            log.exception("inference failed")
            self._json(500, {"error": str(exc)})
            return
        finally:
            d.metrics.add("inflight", -1)
        self._json(200, reply)


class _Threading:
    """Non-daemon request threads, joined by server_close(): that is the drain. The listen
    backlog (socketserver's default is 5) must hold every client that connects while the
    accept loop is busy: 5 reset connections under 16 concurrent clients during reloads."""

    daemon_threads = False
    block_on_close = True
    request_queue_size = 128


class TCPServer(_Threading, ThreadingHTTPServer):
    pass


class UnixServer(_Threading, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    pass


def make_server(daemon: Daemon, args: argparse.Namespace) -> socketserver.BaseServer:
    handler = type("BoundHandler", (Handler,), {"daemon": daemon})
    if args.unix:
        if os.path.exists(args.unix):
            os.unlink(args.unix)
        return UnixServer(args.unix, handler)
    if args.host not in ("127.0.0.1", "localhost", "::1") and not args.allow_remote:
        raise SystemExit(f"refusing to listen on {args.host} without --allow-remote")
    HTTPServer.allow_reuse_address = True
    return TCPServer((args.host, args.port), handler)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="the .aio model (re-read on SIGHUP)")
    p.add_argument("--host", default="127.0.0.1", help="address (loopback by default)")
    p.add_argument("--port", type=int, default=8080, help="TCP port (0: any free port)")
    p.add_argument("--unix", help="listen on this unix socket instead of TCP")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    p.add_argument(
        "--source", default="auto", help="frequency source: auto, fixed:MHZ, replay:T.csv, ..."
    )
    p.add_argument(
        "--target-ms", type=float, default=None, help="deadline (default 1.05 x level 0)"
    )
    p.add_argument("--threads", type=int, default=None, help="engine threads (default: all cores)")
    p.add_argument("--cpus", help="pin to these CPUs: 4-7, 0,2, policyN, big or little")
    p.add_argument("--table", help="frequency x level table from `allinone sweep --json`")
    p.add_argument("--calib-runs", type=int, default=10, help="calibration runs per level")
    p.add_argument("--poll-interval", type=float, default=0.01, help="clock sampling period (s)")
    p.add_argument("--emulate", action="store_true", help="busy-wait as the source's clock would")
    p.add_argument("--window", type=int, default=10_000, help="latencies kept for percentiles")
    p.add_argument("--ready-file", help="write {pid, port|unix} as JSON here once listening")
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = p.parse_args(argv)
    args.cpu_list = resolve_cpus(args.cpus) if args.cpus else None
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.cpu_list:
        # The main thread's affinity is inherited by every request thread it starts.
        os.sched_setaffinity(0, args.cpu_list)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s aio_daemon %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    daemon = Daemon(args)
    server = make_server(daemon, args)
    daemon.server = server
    where: dict[str, Any] = {"pid": os.getpid()}
    if args.unix:
        where["unix"] = args.unix
    else:
        where["port"] = server.server_address[1]  # type: ignore[index]
        where["host"] = args.host

    def on_hup(_sig: int, _frm: Any) -> None:
        threading.Thread(target=daemon.reload, name="aio-reload", daemon=True).start()

    def on_term(sig: int, _frm: Any) -> None:
        log.info("signal %d: draining", sig)
        # shutdown() waits for serve_forever() to return: never call it from that thread.
        threading.Thread(target=server.shutdown, name="aio-shutdown", daemon=True).start()

    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    if args.ready_file:
        tmp = Path(args.ready_file + ".tmp")
        tmp.write_text(json.dumps(where))
        tmp.replace(args.ready_file)
    log.info("serving %s (%s) on %s", args.model, daemon.slot.engine.name, where)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()  # joins every request thread: in-flight requests finish
        with daemon._reload_lock:
            daemon.slot.close()
        if args.unix and os.path.exists(args.unix):
            os.unlink(args.unix)
    log.info("stopped after %d requests", daemon.metrics.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
