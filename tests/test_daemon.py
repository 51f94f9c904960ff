"""The example daemon (examples/daemon/aio_daemon.py): concurrent clients, reload on SIGHUP
without dropping a request, /metrics, drain and exit 0 on SIGTERM. Loopback only, bounded."""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import PACKAGE_PARENT

from allinone import Engine
from allinone import format as aio_format

ROOT = Path(__file__).resolve().parent.parent
DAEMON = ROOT / "examples" / "daemon" / "aio_daemon.py"
DEMO = ROOT / "allinone" / "data" / "demo.aio"

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGHUP") or sys.platform == "win32", reason="POSIX signals"
)


def _make_models(tmp: Path) -> tuple[Path, Path]:
    """Model A (the demo model) and B (the same with class 0's logit raised by 1 at every
    level), so an answer shows which version served it."""
    a = tmp / "a.aio"
    a.write_bytes(DEMO.read_bytes())
    m = aio_format.load(a)
    last = m.nodes[-1]
    assert last.op == "linear" and last.bias is not None
    m.tensors[last.bias] = m.tensors[last.bias].copy()
    m.tensors[last.bias][:, 0] += 1.0
    b = tmp / "b.aio"
    aio_format.save(m, b)
    return a, b


class Client:
    """A tiny HTTP client for one daemon on 127.0.0.1."""

    def __init__(self, port: int) -> None:
        self.port = port

    def request(
        self, method: str, path: str, body: bytes | None = None, ctype: str = ""
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            headers = {"Content-Type": ctype} if ctype else {}
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def infer_npy(self, x: np.ndarray, level: int | None = None) -> tuple[int, dict[str, Any]]:
        buf = io.BytesIO()
        np.save(buf, x)
        path = "/infer" if level is None else f"/infer?level={level}"
        code, body = self.request("POST", path, buf.getvalue(), "application/x-npy")
        return code, json.loads(body)

    def infer_json(self, x: np.ndarray, level: int | None = None) -> tuple[int, dict[str, Any]]:
        req = {"input": x.tolist(), "level": level}
        code, body = self.request("POST", "/infer", json.dumps(req).encode(), "application/json")
        return code, json.loads(body)

    def metrics(self) -> dict[str, Any]:
        code, body = self.request("GET", "/metrics.json")
        assert code == 200
        return json.loads(body)


@pytest.fixture
def daemon(tmp_path: Path) -> Any:
    """Starts the daemon on model A (a copy at tmp/model.aio); yields (proc, client, paths)."""
    a, b = _make_models(tmp_path)
    model = tmp_path / "model.aio"
    model.write_bytes(a.read_bytes())
    ready = tmp_path / "ready.json"
    log = (tmp_path / "daemon.log").open("wb")
    env = {
        **os.environ,
        "PYTHONPATH": PACKAGE_PARENT,
    }
    proc = subprocess.Popen(
        [
            sys.executable, str(DAEMON), "--model", str(model), "--port", "0",
            "--ready-file", str(ready), "--source", "fixed:1000", "--threads", "1",
            "--calib-runs", "3",
        ],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()  # the child has its own descriptor
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                out = (tmp_path / "daemon.log").read_text()
                pytest.fail(f"daemon did not start (rc {proc.poll()}): {out}")
            time.sleep(0.05)
        port = json.loads(ready.read_text())["port"]
        yield proc, Client(port), {"a": a, "b": b, "model": model, "log": tmp_path / "daemon.log"}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_daemon_serves_reloads_and_stops(daemon: Any) -> None:
    proc, client, paths = daemon
    ref = {0: Engine(paths["a"], threads=1), 1: Engine(paths["b"], threads=1)}
    shape = ref[0].input_shape
    n_levels = ref[0].num_levels
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((8, *shape), dtype=np.float32)

    results: list[tuple[int, int | None, int, dict[str, Any]]] = []
    errors: list[str] = []
    lock = threading.Lock()
    reloaded = threading.Event()
    n_clients, per_client = 4, 24

    def worker(cid: int) -> None:
        for i in range(per_client):
            idx = (cid * per_client + i) % len(inputs)
            level = None if i % 3 else (cid + i) % n_levels  # governor's pick or fixed
            try:
                if i % 2:
                    code, body = client.infer_json(inputs[idx], level)
                else:
                    code, body = client.infer_npy(inputs[idx][None], level)
            except OSError as exc:
                with lock:
                    errors.append(f"client {cid} request {i}: {exc!r}")
                continue
            with lock:
                results.append((idx, level, code, body))
            if i == per_client // 2:
                reloaded.wait(timeout=20)  # second half of the traffic after the swap

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(n_clients)]
    for t in threads:
        t.start()
    # Mid-traffic: replace the model file atomically, then SIGHUP.
    deadline = time.monotonic() + 20
    while len(results) < n_clients * per_client // 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    tmp = paths["model"].with_suffix(".new")
    tmp.write_bytes(paths["b"].read_bytes())
    os.replace(tmp, paths["model"])
    proc.send_signal(signal.SIGHUP)
    while client.metrics()["model_version"] != 1 and time.monotonic() < deadline + 10:
        time.sleep(0.02)
    reloaded.set()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)

    # Every request answered, correctly, by the version it names.
    assert not errors, errors
    assert len(results) == n_clients * per_client
    versions = set()
    for idx, level, code, body in results:
        assert code == 200, body
        v = body["model_version"]
        versions.add(v)
        if level is not None:
            assert body["level"] == level
        assert 0 <= body["level"] < n_levels
        want = ref[v].run_at(body["level"], inputs[idx][None]).reshape(-1)
        got = np.asarray(body["output"], dtype=np.float32).reshape(-1)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * float(np.abs(want).max()))
    assert versions == {0, 1}
    # The two versions really differ, so the check above tells them apart.
    x0 = inputs[:1]
    assert not np.allclose(ref[0].run_at(0, x0), ref[1].run_at(0, x0))

    # A bad request is a 400 with a message, counted as an error, and the daemon keeps going.
    code, body = client.infer_npy(np.zeros((1, 2, 3, 4), np.float32))
    assert code == 400 and "shape" in body["error"]

    m = client.metrics()
    total = n_clients * per_client
    assert m["requests_total"] == total
    assert m["errors_total"] == 1
    assert m["reloads_total"] == 1 and m["reload_errors_total"] == 0
    assert sum(m["level_histogram"].values()) == total
    assert m["frequency_mhz"] == pytest.approx(1000.0)
    assert m["deadline_ms"] > 0 and 0 <= m["deadline_misses_total"] <= total
    lat = m["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert m["inflight"] == 0

    code, text = client.request("GET", "/metrics")
    assert code == 200
    prom = text.decode()
    assert f"aio_requests_total {total}" in prom
    assert 'aio_latency_ms{quantile="0.99"}' in prom
    assert "aio_frequency_mhz 1000" in prom
    assert "aio_level_runs_total{level=" in prom

    code, info = client.request("GET", "/info")
    assert code == 200 and json.loads(info)["model_version"] == 1

    # SIGTERM: stop accepting, drain, exit 0.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    text = paths["log"].read_text()
    assert "draining" in text and "reloaded" in text


def test_daemon_drains_in_flight_requests_on_sigterm(daemon: Any) -> None:
    """Requests already accepted when SIGTERM arrives are answered; none is cut off."""
    proc, client, paths = daemon
    ref = Engine(paths["a"], threads=1)
    x = np.random.default_rng(1).standard_normal((64, *ref.input_shape), dtype=np.float32)
    want = ref.run_at(0, x)
    answers: list[tuple[int, dict[str, Any]] | Exception] = []
    lock = threading.Lock()
    started = threading.Barrier(5)

    def send() -> None:
        started.wait(timeout=10)
        try:
            r: tuple[int, dict[str, Any]] | Exception = client.infer_npy(x, level=0)
        except OSError as exc:  # refused after the listener closed: allowed
            r = exc
        with lock:
            answers.append(r)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait(timeout=10)
    deadline = time.monotonic() + 10
    inflight = 0
    while inflight == 0 and time.monotonic() < deadline:
        inflight = client.metrics()["inflight"]
    assert inflight > 0
    proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(timeout=30)
    assert proc.wait(timeout=20) == 0
    ok = [a for a in answers if not isinstance(a, Exception)]
    # Those in flight when SIGTERM arrived (at least) were answered in full.
    assert len(ok) >= inflight, f"{inflight} in flight, answers: {answers}"
    for code, body in ok:
        assert code == 200, body
        np.testing.assert_allclose(
            np.asarray(body["output"], np.float32), want, rtol=1e-5, atol=1e-4
        )
    refused = [a for a in answers if isinstance(a, Exception)]
    assert all(isinstance(a, (ConnectionError, http.client.RemoteDisconnected)) for a in refused)


def test_failed_reload_keeps_serving_the_old_model(daemon: Any) -> None:
    proc, client, paths = daemon
    paths["model"].write_bytes(b"not a model")
    proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while client.metrics()["reload_errors_total"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    m = client.metrics()
    assert m["reload_errors_total"] == 1 and m["reloads_total"] == 0 and m["model_version"] == 0
    x = np.zeros((1, *Engine(paths["a"], threads=1).input_shape), np.float32)
    code, body = client.infer_npy(x, level=0)
    assert code == 200 and body["model_version"] == 0
    np.testing.assert_allclose(
        np.asarray(body["output"], np.float32),
        Engine(paths["a"], threads=1).run_at(0, x),
        rtol=1e-5,
        atol=1e-5,
    )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert "reload of" in paths["log"].read_text()


def test_daemon_holds_64_clients_through_reloads(daemon: Any) -> None:
    """64 clients connect at once, again and again, while the model is reloaded 4 times: every
    request is answered (no reset: the listen backlog holds them), none is an error. Bounded:
    64 x 8 requests, 4 reloads, 120 s."""
    proc, client, paths = daemon
    shape = Engine(paths["a"], threads=1).input_shape
    x = np.random.default_rng(2).standard_normal((1, *shape), dtype=np.float32)
    n_clients, per_client, reloads = 64, 8, 4
    start = threading.Barrier(n_clients + 1)
    codes: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()

    def worker(cid: int) -> None:
        start.wait(timeout=30)
        for i in range(per_client):
            try:
                code, _body = client.infer_npy(x)
            except Exception as exc:  # ConnectionResetError is what a short backlog gave
                with lock:
                    failures.append(f"client {cid} request {i}: {exc!r}")
                continue
            with lock:
                codes.append(code)

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(n_clients)]
    for t in threads:
        t.start()
    t0 = time.monotonic()
    start.wait(timeout=30)
    for r in range(reloads):
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while client.metrics()["reloads_total"] < r + 1 and time.monotonic() < deadline:
            time.sleep(0.02)
    for t in threads:
        t.join(timeout=120 - (time.monotonic() - t0))
    assert not any(t.is_alive() for t in threads), "clients still running after 120 s"
    assert not failures, failures[:5]
    assert len(codes) == n_clients * per_client and set(codes) == {200}
    m = client.metrics()
    assert m["reloads_total"] == reloads and m["reload_errors_total"] == 0
    assert m["errors_total"] == 0 and m["requests_total"] == n_clients * per_client
    assert m["clock_source"] == "fixed" and m["cluster"].startswith("unpinned")
    assert m["energy_source"]  # a source, or "none (why each is not available)"
    code, text = client.request("GET", "/metrics")
    info = [line for line in text.decode().splitlines() if line.startswith("aio_info{")]
    assert len(info) == 1 and 'clock_source="fixed"' in info[0] and "energy_source=" in info[0]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
