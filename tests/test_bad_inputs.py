"""Bad input everywhere (docs/reliability.md): every way a caller, a file or the machine can hand
the runtime garbage gives a clear Python exception naming the problem, never a crash, and leaves
the engine working. Covers run/run_at arguments (shape, dtype, layout, read-only, alignment),
NaN/Inf inputs (the documented policy: propagated, not checked; no state is poisoned), levels out
of range, missing/unreadable/garbage model files, frequency traces with garbage rows and sysfs
files with garbage contents."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from allinone import Engine
from allinone import format as F
from allinone.dvfs import CpufreqSource, DevfreqSource, ReplaySource, Unavailable, load_trace
from allinone.runtime import LevelError


def small_model() -> F.AioModel:
    """conv 3x3 (group 0, relu) -> maxpool -> linear, 3 levels."""
    rng = np.random.default_rng(0)

    def t(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.5).astype(np.float32)

    return F.AioModel(
        name="bad_inputs",
        input_shape=(3, 8, 8),
        groups=[8],
        keep_ratios=[1.0, 0.5, 0.25],
        widths=np.array([[8], [4], [2]], np.uint32),
        values=[
            F.Value(None, (3, 8, 8)),
            F.Value(0, (8, 8, 8)),
            F.Value(0, (8, 4, 4)),
            F.Value(None, (5, 1, 1)),
        ],
        nodes=[
            F.Node(
                "conv2d",
                "c1",
                [0],
                1,
                "relu",
                "c1.w",
                "c1.s",
                "c1.b",
                (3, 3),
                (1, 1),
                (1, 1),
                (1, 1),
                1,
            ),
            F.Node(
                "maxpool",
                "mp",
                [1],
                2,
                kernel=(2, 2),
                stride=(2, 2),
                padding=(0, 0),
                dilation=(1, 1),
            ),
            F.Node("linear", "fc", [2], 3, "none", "fc.w", "fc.s", "fc.b"),
        ],
        output=3,
        tensors={
            "c1.w": t(8, 3, 3, 3),
            "c1.s": t(3, 8),
            "c1.b": t(3, 8),
            "fc.w": t(5, 128),
            "fc.s": t(3, 5),
            "fc.b": t(3, 5),
        },
    )


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("bad") / "m.aio"
    F.save(small_model(), p)
    return p


@pytest.fixture
def engine(model_path: Path) -> Engine:
    return Engine(model_path, threads=2)


def good_input(n: int = 2) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((n, 3, 8, 8)).astype(np.float32)


def assert_still_works(engine: Engine) -> None:
    """After any rejected call the engine gives the same bits as a fresh one."""
    x = good_input()
    fresh = Engine(engine.path, threads=1)
    for k in range(engine.num_levels):
        np.testing.assert_allclose(engine.run_at(k, x), fresh.run_at(k, x), rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------- shapes and dtypes
@pytest.mark.parametrize(
    "shape, match",
    [
        ((3, 8), r"\(N, C, H, W\) or \(C, H, W\)"),
        ((1, 1, 3, 8, 8), r"\(N, C, H, W\) or \(C, H, W\)"),
        ((), r"\(N, C, H, W\) or \(C, H, W\)"),
        ((2, 4, 8, 8), "does not match"),
        ((2, 3, 8, 9), "does not match"),
        ((3, 8, 7), "does not match"),
        ((1, 0, 8, 8), "does not match"),
    ],
)
def test_wrong_shapes(engine: Engine, shape: tuple[int, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        engine.run(np.zeros(shape, np.float32))
    with pytest.raises(ValueError, match=match):
        engine.run_at(1, np.zeros(shape, np.float32))
    assert_still_works(engine)


def test_empty_batch_is_fine(engine: Engine) -> None:
    assert engine.run(np.zeros((0, 3, 8, 8), np.float32)).shape == (0, 5)


@pytest.mark.parametrize(
    "dtype", [np.float64, np.float16, np.int32, np.uint8, np.bool_, np.complex64, ">f4", object]
)
def test_wrong_dtypes(engine: Engine, dtype: object) -> None:
    x = good_input().astype(dtype)
    with pytest.raises(ValueError, match="float32"):
        engine.run(x)
    assert_still_works(engine)


@pytest.mark.parametrize("bad", [[[[0.0] * 8] * 8] * 3, 1.0, None, "x", b"\0" * 768])
def test_not_an_array(engine: Engine, bad: object) -> None:
    with pytest.raises(ValueError, match="numpy.ndarray"):
        engine.run(bad)  # type: ignore[arg-type]


def test_non_contiguous_and_unaligned(engine: Engine) -> None:
    x = good_input()
    for view in (
        np.asfortranarray(x),
        np.zeros((2, 3, 8, 16), np.float32)[..., ::2],
        np.zeros((4, 3, 8, 8), np.float32)[::2],
        x.transpose(0, 1, 3, 2),
    ):
        with pytest.raises(ValueError, match="C-contiguous"):
            engine.run(view)
    raw = np.zeros(x.nbytes + 1, np.uint8)[1:].view(np.float32).reshape(x.shape)
    with pytest.raises(ValueError, match="aligned"):
        engine.run(raw)
    assert_still_works(engine)


def test_read_only_and_foreign_buffers_run(engine: Engine) -> None:
    """Inputs are only read: a read-only array, a view of bytes and a memory map all run."""
    x = good_input()
    ref = engine.run_at(0, x)
    ro = x.copy()
    ro.flags.writeable = False
    np.testing.assert_array_equal(engine.run_at(0, ro), ref)
    from_bytes = np.frombuffer(x.tobytes(), np.float32).reshape(x.shape)  # read-only
    np.testing.assert_array_equal(engine.run_at(0, from_bytes), ref)
    assert not ro.flags.writeable  # untouched


# ------------------------------------------------------------------------------- NaN / Inf
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf_inputs_are_propagated_not_checked(engine: Engine, bad: float) -> None:
    """Policy (docs/reliability.md): inputs are not scanned; NaN/Inf flow through IEEE arithmetic
    (the output may hold NaN/Inf, or finite values where ReLU/max-pool drop them). No exception,
    no crash, and nothing carries over: the next finite input gives the same bits as before."""
    x = good_input()
    before = [engine.run_at(k, x) for k in range(engine.num_levels)]
    poisoned = x.copy()
    poisoned[0, 0, 0, 0] = bad
    poisoned[1] = bad  # a whole image
    for k in range(engine.num_levels):
        y = engine.run_at(k, poisoned)
        assert y.shape == before[k].shape
        # No promise about the values, but images of a batch stay independent: the all-NaN/Inf
        # image 1 does not change image 0's result, and each equals its own single run.
        np.testing.assert_array_equal(y[0], engine.run_at(k, poisoned[:1])[0])
        np.testing.assert_array_equal(y[1], engine.run_at(k, poisoned[1:])[0])
    for k in range(engine.num_levels):
        np.testing.assert_array_equal(engine.run_at(k, x), before[k])


# ----------------------------------------------------------------------------------- levels
@pytest.mark.parametrize("bad", [-1, 3, 4, 2**31, 2**63, -(2**63)])
def test_level_out_of_range(engine: Engine, bad: int) -> None:
    with pytest.raises(LevelError, match="out of range"):
        engine.set_level(bad)
    with pytest.raises(LevelError, match="out of range"):
        engine.run_at(bad, good_input())
    with pytest.raises(LevelError):
        engine.output_shape_at(bad)
    assert engine.level == 0


@pytest.mark.parametrize("bad", [1.0, "1", None, True, np.float32(1)])
def test_level_wrong_type(engine: Engine, bad: object) -> None:
    with pytest.raises(TypeError, match="level must be an int"):
        engine.set_level(bad)  # type: ignore[arg-type]
    assert engine.level == 0


def test_numpy_int_level_ok(engine: Engine) -> None:
    engine.set_level(np.int64(2))
    assert engine.level == 2


# ------------------------------------------------------------------------------ model files
def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="nope.aio"):
        Engine(tmp_path / "nope.aio")
    locked = tmp_path / "locked.aio"
    F.save(small_model(), locked)
    locked.chmod(0)
    try:
        if os.geteuid() != 0:  # root reads anything
            with pytest.raises(OSError, match="locked.aio"):
                Engine(locked)
    finally:
        locked.chmod(0o644)


def test_directory_is_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=str(tmp_path.name)):
        Engine(tmp_path)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "truncated"),
        (b"AIOMODEL", "truncated"),
        (b"\0" * 4096, "bad magic"),
        (b"GIF89a" + b"\0" * 200, "bad magic"),
        (bytes(range(256)) * 8, "bad magic"),
    ],
)
def test_garbage_model_files(tmp_path: Path, content: bytes, match: str) -> None:
    p = tmp_path / "g.aio"
    p.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        Engine(p)


def test_truncated_and_flipped_model(tmp_path: Path, model_path: Path) -> None:
    good = model_path.read_bytes()
    p = tmp_path / "t.aio"
    p.write_bytes(good[: len(good) - 1])
    with pytest.raises(ValueError, match="file truncated"):
        Engine(p)
    p.write_bytes(good[:300] + bytes([good[300] ^ 0x40]) + good[301:])
    with pytest.raises(ValueError, match="checksum mismatch"):
        Engine(p)


def huge_activation_model(side: int) -> F.AioModel:
    """A valid file of a few hundred bytes: conv 1->8 on a side x side input, then a global pool.
    Its one intermediate holds 8·side² floats."""
    rng = np.random.default_rng(0)
    return F.AioModel(
        name="huge",
        input_shape=(1, side, side),
        groups=[8],
        keep_ratios=[1.0],
        widths=np.array([[8]], np.uint32),
        values=[F.Value(None, (1, side, side)), F.Value(0, (8, side, side)), F.Value(0, (8, 1, 1))],
        nodes=[
            F.Node(
                "conv2d",
                "c",
                [0],
                1,
                "relu",
                "c.w",
                "c.s",
                "c.b",
                (3, 3),
                (1, 1),
                (1, 1),
                (1, 1),
                1,
            ),
            F.Node("global_avgpool", "gap", [1], 2),
        ],
        output=2,
        tensors={
            "c.w": rng.standard_normal((8, 1, 3, 3)).astype(np.float32),
            "c.s": np.ones((1, 8), np.float32),
            "c.b": np.zeros((1, 8), np.float32),
        },
    )


def test_resource_limits_refuse_hostile_but_valid_files(tmp_path: Path) -> None:
    p = tmp_path / "huge.aio"
    F.save(huge_activation_model(16384), p)  # 8 GiB of activations per image
    assert p.stat().st_size < 4096
    with pytest.raises(RuntimeError, match=r"8192\.0 MiB of activations.*max_activation_bytes"):
        Engine(p, threads=1)  # the default limit (1 GiB)
    small = tmp_path / "small.aio"
    F.save(huge_activation_model(64), small)  # 128 KiB: loads by default
    eng = Engine(small, threads=1)
    assert eng.run(np.ones((1, 64, 64), np.float32)).shape == (8,)
    with pytest.raises(RuntimeError, match="max_activation_bytes"):
        Engine(small, threads=1, max_activation_bytes=64 * 1024)
    with pytest.raises(RuntimeError, match="FLOPs per image at level 0.*max_flops"):
        Engine(small, threads=1, max_flops=1000)
    Engine(small, threads=1, max_activation_bytes=0, max_flops=10**9)  # 0: no limit
    with pytest.raises(ValueError, match="max_flops"):
        Engine(small, max_flops=-1)


@pytest.mark.parametrize("threads", [-1, -(2**31), 2**31, 1.5, "2"])
def test_bad_threads(model_path: Path, threads: object) -> None:
    with pytest.raises((ValueError, TypeError, OverflowError), match="thread|int"):
        Engine(model_path, threads=threads)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- traces
@pytest.mark.parametrize(
    "text, match",
    [
        ("", "header|empty"),
        ("t_s,cpu_mhz\n", "no rows|empty"),
        ("t_s,cpu_mhz\n0,fast\n", "line 2: not a number"),
        ("t_s,cpu_mhz\n0,2000\n0.1,\n", "line 3"),
        ("t_s,cpu_mhz\n0,2000\n0.1,1000,7\n", "expected 2 columns"),
        ("t_s,cpu_mhz\n0,nan\n", "line 2"),
        ("t_s,cpu_mhz\n0,inf\n", "line 2"),
        ("t_s,cpu_mhz\n0,-100\n", "line 2"),
        ("t_s,cpu_mhz\n0,0\n", "line 2"),
        ("t_s,cpu_mhz\n1,2000\n", "line 2: t_s must start at 0"),
        ("t_s,cpu_mhz\n0,2000\n1,2000\n0.5,1000\n", "line 4"),
        ("t_s,cpu_mhz\nnan,2000\n", "line 2"),
        ("t_s,cpu_mhz\n0,1e400\n", "line 2"),
        ("t_s,cpu_mhz\n0,2000\x00\n", "line 2"),
        ("mhz\n2000\n", "header"),
    ],
)
def test_trace_garbage_rows(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(Unavailable, match=match):
        load_trace(p)
    with pytest.raises(Unavailable, match=match):
        ReplaySource(str(p))


def test_trace_binary_and_missing(tmp_path: Path) -> None:
    p = tmp_path / "bin.csv"
    p.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(Unavailable):
        load_trace(p)
    with pytest.raises(Unavailable, match="cannot read"):
        ReplaySource(str(tmp_path / "missing.csv"))


def test_replay_non_utf8_row(tmp_path: Path) -> None:
    p = tmp_path / "bin.csv"
    p.write_bytes(b"t_s,cpu_mhz\n0,2000\n0.5,\xff\xfe\n")
    with pytest.raises(Unavailable, match="line 3"):
        ReplaySource(str(p))


# ----------------------------------------------------------------------------------- sysfs
def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


def fake_cpufreq(
    root: Path, cur: str | bytes = "1200000\n", maxf: str | bytes = "2400000\n"
) -> Path:
    pol = root / "devices/system/cpu/cpufreq/policy0"
    write(pol / "related_cpus", "0 1\n")
    write(pol / "cpuinfo_max_freq", maxf)
    write(pol / "scaling_cur_freq", cur)
    return pol


GARBAGE = [
    "",
    "\n",
    "lots\n",
    "-5\n",
    "0x1f\n",
    "1e99\n",
    "nan\n",
    "inf\n",
    "99999999999999999999999\n",
    "1200000 1300000\n",
    "12\x0000\n",
    pytest.param(b"\xff\xfe\x00\x01", id="non-utf8"),
]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_cpufreq_garbage_contents(tmp_path: Path, garbage: str | bytes) -> None:
    fake_cpufreq(tmp_path, maxf=garbage)
    with pytest.raises(Unavailable):
        CpufreqSource(str(tmp_path))
    # A source that was fine, whose current-frequency file turns to garbage, fails on read.
    root2 = tmp_path / "b"
    pol = fake_cpufreq(root2)
    src = CpufreqSource(str(root2))
    assert src.read().cpu_mhz == 1200.0
    write(pol / "scaling_cur_freq", garbage)
    with pytest.raises(Unavailable):
        src.read()


def test_cpufreq_file_replaced_by_directory(tmp_path: Path) -> None:
    pol = fake_cpufreq(tmp_path)
    src = CpufreqSource(str(tmp_path))
    (pol / "scaling_cur_freq").unlink()
    (pol / "scaling_cur_freq").mkdir()
    with pytest.raises(Unavailable):
        src.read()


@pytest.mark.parametrize("garbage", GARBAGE)
def test_devfreq_garbage_contents(tmp_path: Path, garbage: str | bytes) -> None:
    dev = tmp_path / "class/devfreq/gpu0"
    write(dev / "max_freq", "1000000000\n")
    write(dev / "cur_freq", "500000000\n")
    src = DevfreqSource(str(tmp_path))
    assert src.read().gpu_mhz == 500.0
    write(dev / "cur_freq", garbage)
    with pytest.raises(Unavailable):
        src.read()
