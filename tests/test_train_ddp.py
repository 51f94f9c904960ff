"""Data-parallel training: 2 CPU processes under torchrun, DistributedDataParallel on gloo.

Each test launches ``python -m torch.distributed.run --nproc_per_node=2`` on synthetic data (a
few seconds of training; most of the time is the processes importing torch).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from support import PACKAGE_PARENT  # noqa: E402

from allinone.format import load  # noqa: E402

# One process of the run: train a tiny nested VGG on a shard of synthetic data, then save the
# final state, the images this process trained on, and the loss of every level before/after.
WORKER = textwrap.dedent(
    """
    import sys
    import torch
    import torch.nn.functional as F
    from allinone import zoo
    from allinone.train import NestedModel, NestedTrainer
    from allinone.train.distributed import (
        fit_distributed, init_distributed, shutdown_distributed, steps_per_epoch, wrap_ddp,
    )

    out = sys.argv[1]
    torch.set_num_threads(1)
    rank, world = init_distributed("gloo")
    torch.manual_seed(100 + rank)  # different initial weights: DDP must broadcast rank 0's
    n, size = 96, 12
    g = torch.Generator().manual_seed(0)  # the same data set on every rank
    x = 0.3 * torch.randn(n, 1, size, size, generator=g)
    y = torch.randint(0, 4, (n,), generator=g)
    for i in range(n):
        r, c = divmod(int(y[i]), 2)
        x[i, 0, r * 6 : r * 6 + 6, c * 6 : c * 6 + 6] += 1.0
    x[:, 0, 0, 0] = torch.arange(n) * 1e-3  # image id, read back below
    model = zoo.VGGSmall(in_channels=1, num_classes=4, cfg=(8, "M", 16, "M"), hidden=16)
    nested = NestedModel(model, [1.0, 0.75, 0.5, 0.25], x[:2])

    def level_losses():
        torch.manual_seed(0)  # same dropout on every rank
        nested.train()
        nested.temperature = 0.0
        with torch.no_grad():
            res = []
            for k in range(nested.n_levels):
                nested.set_level(k)
                res.append(float(F.cross_entropy(nested(x), y)))
        nested.set_level(0)
        return res

    epochs, batch = 8, 8
    steps = epochs * steps_per_epoch(n, batch, world)
    trainer = NestedTrainer(
        nested, total_steps=steps, lr=0.1, hard_from=0.5, seed=0, module=wrap_ddp(nested)
    )
    before = level_losses()  # after wrap_ddp: rank 0's weights on every rank
    seen = []
    step = trainer.step

    def recording_step(b):
        seen.append(torch.round(b[0][:, 0, 0, 0] * 1e3).long())
        return step(b)

    trainer.step = recording_step
    means = fit_distributed(trainer, x.numpy(), y.numpy(), epochs, batch, seed=0, progress=False)
    torch.save(
        {
            "state": nested.state_dict(),
            "seen": torch.cat(seen),
            "steps": trainer.steps_done,
            "before": before,
            "after": level_losses(),
            "means": means,
        },
        f"{out}/rank{rank}.pt",
    )
    shutdown_distributed()
    """
)


def torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": PACKAGE_PARENT, "OMP_NUM_THREADS": "1"}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args,
    ]  # fmt: skip
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"torchrun failed:\n{res.stdout}\n{res.stderr}"
    return res


def test_two_processes_train_the_same_weights_on_disjoint_shards(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    torchrun(str(script), str(tmp_path), cwd=tmp_path)
    r0 = torch.load(tmp_path / "rank0.pt")
    r1 = torch.load(tmp_path / "rank1.pt")

    # Same weights, BatchNorm statistics and mask scores on both ranks at the end.
    assert r0["state"].keys() == r1["state"].keys()
    for name, t in r0["state"].items():
        assert torch.equal(t, r1["state"][name]), f"{name} differs between the ranks"
    # ... and they started from rank 0's weights (same losses before training on both ranks).
    assert r0["before"] == r1["before"]

    # Each epoch the two shards are disjoint and together cover all 96 images.
    assert r0["steps"] == r1["steps"] == 8 * 6  # 48 images per rank, batches of 8
    s0, s1 = r0["seen"].view(8, 48), r1["seen"].view(8, 48)
    for e in range(8):
        a, b = set(s0[e].tolist()), set(s1[e].tolist())
        assert not a & b and a | b == set(range(96)), f"epoch {e}: shards overlap or miss images"
    assert not torch.equal(s0[0], s0[1]), "the sampler did not reshuffle between epochs"

    # Training worked: every level's loss fell, and the mean training loss went down.
    for k, (b, a) in enumerate(zip(r0["before"], r0["after"], strict=True)):
        assert a < 0.8 * b, f"level {k}: loss {b:.3f} -> {a:.3f}"
    assert r0["means"] == r1["means"]  # averaged over ranks
    assert r0["means"][-1] < r0["means"][0]


def test_cli_under_torchrun_writes_the_model_once(tmp_path):
    from test_train import fake_fashion_mnist

    data = fake_fashion_mnist(tmp_path, n_train=64, n_test=16)
    out = tmp_path / "m.aio"
    res = torchrun(
        "-m", "allinone", "train", "--model", "vgg_small", "--data-dir", str(data),
        "--levels", "1,0.5", "--epochs", "1", "--batch-size", "16", "-o", str(out),
        cwd=tmp_path,
    )  # fmt: skip
    assert res.stdout.count("MFLOPs") == 1, res.stdout  # only rank 0 prints the table
    assert "2 processes (DDP, gloo)" in res.stdout
    m = load(out)
    assert m.widths.shape[0] == 2 and m.labels[0] == "T-shirt/top"
