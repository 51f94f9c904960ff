"""The exporter: tracing and fusion, channel groups, ranking, levels, BatchNorm calibration."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from allinone import zoo  # noqa: E402
from allinone.exporter import (  # noqa: E402
    export,
    find_groups,
    prepare,
    slice_model,
    to_aio,
    trace,
)
from allinone.exporter.levels import budget_levels, flops, layer_macs, resolve_levels  # noqa: E402
from allinone.exporter.ranking import channel_scores  # noqa: E402
from allinone.format import load  # noqa: E402


def _groups(model: nn.Module, shape: tuple[int, ...]) -> tuple[Any, Any]:
    graph = trace(model, torch.randn(*shape))
    return graph, find_groups(graph)


# -- groups ---------------------------------------------------------------------------------------
def test_resnet20_residual_stages_share_a_group() -> None:
    graph, groups = _groups(zoo.resnet20(), (1, 3, 32, 32))
    convs = [ly for ly in graph.layers if ly.kind == "conv2d"]
    by_name = {ly.name: ly for ly in convs}
    g = groups.of_value
    stem = g[by_name["conv1"].output]
    # Every block of stage 1 adds into the stem's group; its inner conv has a group of its own.
    for b in range(3):
        assert g[by_name[f"layers.0.{b}.conv2"].output] == stem
        assert g[by_name[f"layers.0.{b}.conv1"].output] not in (stem, None)
    # Stage 2: the downsample shortcut and every block output share one group.
    s2 = g[by_name["layers.1.0.downsample.0"].output]
    assert s2 not in (stem, None)
    assert g[by_name["layers.1.0.conv2"].output] == s2
    assert g[by_name["layers.1.2.conv2"].output] == s2
    assert len(groups.full) == 12  # 3 residual groups + 9 inner ones
    assert g[0] is None and g[graph.output] is None


def test_residual_add_and_relu_fused_into_conv() -> None:
    graph, _ = _groups(zoo.resnet20(), (1, 3, 32, 32))
    kinds = [ly.kind for ly in graph.layers]
    assert "add" not in kinds and "act" not in kinds
    fused = [ly for ly in graph.layers if len(ly.inputs) == 2]
    assert len(fused) == 9 and all(ly.act == "relu" for ly in fused)
    # The downsample conv carries the residual (conv2's output), since it runs after conv2.
    ds = next(ly for ly in graph.layers if ly.name == "layers.1.0.downsample.0")
    assert len(ds.inputs) == 2


def test_depthwise_ties_input_and_output() -> None:
    graph, groups = _groups(zoo.mobilenet_v2(), (1, 3, 64, 64))
    dw = [ly for ly in graph.layers if ly.kind == "conv2d" and ly.groups > 1]
    assert len(dw) == 17
    for ly in dw:
        assert groups.of_value[ly.inputs[0]] == groups.of_value[ly.output] is not None


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "efficientnet_b0"])
def test_squeeze_excite_joins_the_gated_group(name: str) -> None:
    """The excite conv's outputs are in the gated tensor's group, the squeeze conv's inputs too
    (through the global pool); the squeeze conv's outputs are a group of their own."""
    graph, groups = _groups(zoo.get(name, num_classes=10), (1, 3, 64, 64))
    g = groups.of_value
    muls = [ly for ly in graph.layers if ly.kind == "mul"]
    assert len(muls) == (9 if name == "mobilenet_v3_small" else 16)
    for mul in muls:
        x, gate = mul.inputs
        assert g[x] == g[gate] == g[mul.output] is not None
        excite = graph.layers[graph.producer[gate]]
        assert excite.kind == "conv2d" and excite.act in ("hardsigmoid", "sigmoid")
        squeeze = graph.layers[graph.producer[excite.inputs[0]]]
        pool = graph.layers[graph.producer[squeeze.inputs[0]]]
        assert pool.kind == "global_avgpool" and g[pool.inputs[0]] == g[x]
        assert g[squeeze.inputs[0]] == g[x]
        assert g[squeeze.output] not in (g[x], None)


class _CatRelu(nn.Module):
    """A concatenation read by an activation (not a conv): read as one range, so unpruned."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 6, 3, padding=1)
        self.c = nn.Conv2d(10, 5, 1)
        self.d = nn.Conv2d(4, 5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.a(x)
        return self.c(torch.relu(torch.cat([a, self.b(x)], 1))) + self.d(a)


def test_concatenation_groups() -> None:
    """yolo_small: every levelled concatenation is read by a dense conv, the heads' one (the
    output) is not levelled and fixes the heads; a cat read by an activation stays unpruned."""
    graph, groups = _groups(zoo.get("yolo_small", num_classes=4), (1, 3, 64, 64))
    cats = [ly for ly in graph.layers if ly.kind == "concat"]
    levelled = [ly for ly in cats if ly.output in groups.concat]
    assert len(cats) == 17 and len(levelled) == 15
    for ly in graph.layers:
        for j, v in enumerate(ly.inputs):
            if v in groups.concat:
                assert ly.kind == "concat" or (ly.kind == "conv2d" and ly.groups == 1 and j == 0)
    heads = [ly for ly in graph.layers if ly.name.startswith("head")]
    assert len(heads) == 3 and all(groups.of_value[h.output] is None for h in heads)
    sppf = next(ly for ly in graph.layers if ly.name == "sppf.cv2.0")
    parts = groups.parts(sppf.inputs[0], graph.shapes)
    assert [off for _, off in parts] == [0, 128, 256, 384]
    assert len({groups.of_value[v] for v, _ in parts}) == 1  # x and its pools: one group

    graph, groups = _groups(_CatRelu(), (1, 3, 8, 8))
    by_name = {ly.name: ly for ly in graph.layers}
    assert groups.concat == {}
    assert groups.of_value[by_name["a"].output] is None
    assert groups.of_value[by_name["b"].output] is None


class _Grouped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.c = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c(F.relu(self.b(F.relu(self.a(x)))))


def test_general_grouped_conv_is_not_pruned() -> None:
    graph, groups = _groups(_Grouped(), (1, 3, 8, 8))
    b = next(ly for ly in graph.layers if ly.name == "b")
    assert groups.of_value[b.inputs[0]] is None and groups.of_value[b.output] is None
    assert groups.full == []


# -- unsupported ----------------------------------------------------------------------------------
class _Upsample(nn.Module):
    def __init__(self, **kw: Any) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.up = nn.Upsample(**kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.conv(x))


class _SpatialGate(nn.Module):
    """Spatial attention: a (N, 1, H, W) gate cannot be levelled as a per-channel gate."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.att = nn.Conv2d(4, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y * torch.sigmoid(self.att(y))


class _MulConst(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * 0.5


class _SoftmaxW(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.conv(x), dim=-1)


class _Cat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return torch.cat([y, y], 2)


class _BNAfterPool(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.pool = nn.MaxPool2d(2)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.pool(self.conv(x)))


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            lambda: _Upsample(scale_factor=1.5),
            r"unsupported resize from \(14, 14\) to \(21, 21\) "
            "at node 'up'",
        ),
        (lambda: _Upsample(scale_factor=2, mode="bicubic"), "unsupported resize mode 'bicubic'"),
        (
            lambda: _Upsample(scale_factor=2, mode="bilinear", align_corners=True),
            r"align_corners=True\) at node 'up'",
        ),
        (
            _SpatialGate,
            r"unsupported op 'mul' of shapes \[4, 14, 14\] and \[1, 14, 14\] at "
            "node 'mul'",
        ),
        (_MulConst, "unsupported op 'mul' of a tensor and a constant at node 'mul'"),
        (_SoftmaxW, "unsupported op 'softmax' over dim -1 at node 'softmax'"),
        (_Cat, "unsupported op 'cat' over dim 2 at node 'cat'"),
        (_BNAfterPool, "BatchNorm2d at node 'bn' must directly follow a Conv2d"),
    ],
)
def test_unsupported_op_names_the_node(model: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        trace(model(), torch.randn(1, 3, 16, 16))


class _SharedPreAct(nn.Module):
    """The conv output is used raw AND (through an alias) activated: relu must not be fused."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.drop = nn.Dropout()
        self.out = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.out(torch.relu(self.drop(y)) + y)


def test_activation_not_fused_when_value_is_shared(close: Any) -> None:
    graph = trace(_SharedPreAct(), torch.randn(1, 3, 8, 8))
    conv = next(ly for ly in graph.layers if ly.name == "conv")
    assert conv.act == "none"
    assert [ly.kind for ly in graph.layers] == ["conv2d", "act", "add", "conv2d"]


# -- levels ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ((0.5, 1.0), "nested"),
        ((1.0, 0.0), r"not in \(0, 1\]"),
        (({0: 20},), r"width 20 of group 0 is not in \[1, 16\]"),
        (({7: 2},), "group 7 does not exist"),
        (([16, 8],), "2 widths given, the model has 3 groups"),
        (([8, 4, 8], [8, 6, 8]), "group 1 has width 4 at level 0 but 6 at level 1"),
        (("half",), "expected a keep ratio"),
        ((), "at least one level"),
    ],
)
def test_bad_levels_are_rejected(levels: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_levels(levels, [16, 8, 8])


def test_level_widths_rounding_and_nesting() -> None:
    widths, ratios = resolve_levels((1.0, 0.75, 0.5, 0.3, 0.01), [64, 24, 6], round_to=8)
    assert widths.tolist() == [[64, 24, 6], [48, 16, 5], [32, 16, 3], [16, 7, 2], [1, 1, 1]]
    assert ratios == [1.0, 0.75, 0.5, 0.3, 0.01]
    assert (np.diff(widths.astype(np.int64), axis=0) <= 0).all()
    mixed, _ = resolve_levels((1.0, {0: 40}, [32, 12, 3]), [64, 24, 6])
    assert mixed.tolist() == [[64, 24, 6], [40, 24, 6], [32, 12, 3]]


def test_exported_file_is_nested(tmp_path: Path) -> None:
    model = zoo.vgg_small(in_channels=1)
    aio = export(model, tmp_path / "v.aio", torch.randn(1, 1, 28, 28), round_to=4)
    back = load(tmp_path / "v.aio")
    w = np.asarray(back.widths, dtype=np.int64)
    assert w.shape == (4, len(back.groups)) and (np.diff(w, axis=0) <= 0).all()
    assert w[0].tolist() == back.groups and (w[1:] % 4 == 0).all()
    assert back.values[back.output].group is None and back.values[0].group is None
    assert aio.keep_ratios == [1.0, 0.75, 0.5, 0.25]


def test_budget_levels_fall_about_ten_percent() -> None:
    model = zoo.resnet20(in_channels=1)
    x = torch.randn(1, 1, 28, 28)
    levels = budget_levels(model, x, n_levels=12, step=0.9)
    graph = trace(model, x)
    groups = find_groups(graph)
    f = [flops(graph, groups, w) for w in levels]
    assert len(levels) == 12 and levels[0] == groups.full
    assert np.all(np.diff(np.asarray(levels), axis=0) <= 0)
    for k in range(1, 12):
        assert f[k] <= f[0] * 0.9**k
        assert f[k] >= f[0] * 0.9**k * 0.9  # not much more than asked


def test_latency_budget_spares_what_is_cheap_on_the_device(tmp_path: Path) -> None:
    from allinone.exporter.latency import LayerLatency, measure_layer_latency

    model = zoo.vgg_small(in_channels=1).eval()
    x = torch.randn(1, 1, 28, 28)
    graph = trace(model, x)
    groups = find_groups(graph)
    full = layer_macs(graph, groups, groups.full)
    # Measured by the engine: every conv/linear, four widths plus (0, 0), times positive.
    table = measure_layer_latency(model, x, threads=1, repeats=3)
    assert set(table.points) == set(full)
    for pts in table.points.values():
        assert len(pts) == 5 and pts[0] == (0.0, 0.0) and all(ms > 0 for _, ms in pts[1:])
    table.save(tmp_path / "t.json")
    assert LayerLatency.load(tmp_path / "t.json").points == table.points
    # A synthetic table where the first conv is 50x slower per MAC than the rest: a latency budget
    # thins its group first, a FLOP budget does not single it out.
    first = graph.layers[0].name
    fake = LayerLatency(
        {n: [(0.0, 0.0), (float(m), m * (50.0 if n == first else 1.0))] for n, m in full.items()}
    )
    g0 = groups.of_value[graph.layers[0].output]
    by_latency = budget_levels(model, x, n_levels=3, step=0.8, latency=fake)
    by_flops = budget_levels(model, x, n_levels=3, step=0.8)
    assert by_latency[1][g0] < by_flops[1][g0]
    for k in (1, 2):  # and each level meets its latency budget under that table
        ms = fake.predict_ms(layer_macs(graph, groups, by_latency[k]))
        assert ms <= fake.predict_ms(full) * 0.8**k
    with pytest.raises(KeyError, match="not in the latency table"):
        fake.layer_ms("nope", 1.0)
    with pytest.raises(ValueError, match="descending"):
        measure_layer_latency(model, x, keeps=(0.5, 1.0))


# -- ranking --------------------------------------------------------------------------------------
def test_channels_sorted_by_importance(randomize_bn: Any) -> None:
    model = randomize_bn(zoo.resnet20())
    x = torch.randn(1, 3, 32, 32)
    for importance in ("l1", "bn_gamma"):
        state = prepare(model, x, importance=importance)
        scores = channel_scores(state.graph, state.groups, importance)
        for g, perm in enumerate(state.perms):
            assert sorted(perm.tolist()) == list(range(state.groups.full[g]))
            assert np.all(np.diff(scores[g][perm]) <= 0)
    gamma = model.get_submodule("layers.0.0.bn1").weight.detach().abs().numpy()
    state = prepare(model, x, importance="bn_gamma")
    conv = next(ly for ly in state.graph.layers if ly.name == "layers.0.0.conv1")
    assert state.order(conv.output).tolist() == np.argsort(-gamma, kind="stable").tolist()
    custom = {0: np.arange(16.0)}
    assert prepare(model, x, importance=custom).perms[0].tolist() == list(range(15, -1, -1))


# -- references -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["resnet20", "vgg_small", "mobilenet_v2"])
def test_slice_level0_equals_original(name: str, randomize_bn: Any, close: Any) -> None:
    model = randomize_bn(zoo.get(name, in_channels=3, num_classes=10))
    x = torch.randn(2, 3, 32, 32)
    state = prepare(model, x)
    with torch.no_grad():
        close(slice_model(state, 0)(x).numpy(), model(x).numpy(), rel=1e-5, what=name)


def test_file_level0_equals_original_via_engine(
    randomize_bn: Any, close: Any, tmp_path: Path
) -> None:
    from allinone import Engine

    model = randomize_bn(zoo.resnet20(in_channels=1))
    x = torch.randn(3, 1, 28, 28)
    export(model, tmp_path / "r.aio", x)
    with torch.no_grad():
        ref = model(x).numpy()
    close(Engine(str(tmp_path / "r.aio")).run_at(0, x.numpy()), ref, what="level 0")


class _Functional(nn.Module):
    """Functional ops, every activation, pools with odd options, bias convs, a grouped conv."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 16, 3, padding="same", bias=True)
        self.b = nn.Conv2d(16, 16, 3, padding=2, dilation=2, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.act = nn.Hardswish()
        self.pool = nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)
        self.mp = nn.MaxPool2d(3, 2, 1, ceil_mode=True)
        self.g = nn.Conv2d(16, 16, 3, padding=1, groups=4)
        self.c = nn.Conv2d(16, 24, 1)
        self.head = nn.Linear(24 * 5 * 5, 12)
        self.out = nn.Linear(12, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.a(x))
        z = self.act(self.bn(self.b(y)))
        y = torch.add(y, z)  # two non-conv operands -> add node
        y = F.silu(y)
        y = self.pool(y)
        y = F.relu6(self.g(y))
        y = self.mp(self.c(y))
        y = torch.relu(y)
        y = F.avg_pool2d(F.max_pool2d(y, 3, 1, 1), 2, stride=1, padding=1, count_include_pad=True)
        y = F.silu(self.head(y.view(y.size(0), -1)))
        return self.out(y) + 0 * y.mean(dim=1, keepdim=True).sum()


class _FunctionalPlain(_Functional):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.a(x))
        z = self.act(self.bn(self.b(y)))
        y = F.silu(torch.add(y, z))
        y = F.relu6(self.g(self.pool(y)))
        y = torch.relu(self.mp(self.c(y)))
        y = F.avg_pool2d(F.max_pool2d(y, 3, 1, 1), 2, stride=1, padding=1, count_include_pad=True)
        y = F.silu(self.head(y.view(y.size(0), -1)))
        return self.out(y)


def test_functional_ops_all_backends(randomize_bn: Any, close: Any, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    from allinone import Engine
    from allinone.onnx_export import export_level

    with pytest.raises(ValueError, match="unsupported op 'mean' over dims 1 at node 'mean'"):
        trace(_Functional(), torch.randn(1, 3, 13, 13))
    torch.manual_seed(0)
    model = randomize_bn(_FunctionalPlain())
    x = torch.randn(2, 3, 13, 13)
    aio = export(model, tmp_path / "f.aio", x, levels=(1.0, 0.6, 0.3))
    kinds = [n.op for n in aio.nodes]
    assert "add" in kinds and "act" in kinds
    assert kinds.count("avgpool") == 2 and kinds.count("maxpool") == 2
    engine = Engine(str(tmp_path / "f.aio"))
    for k in range(3):
        with torch.no_grad():
            ref = slice_model(aio, k)(x).numpy()
        if k == 0:
            with torch.no_grad():
                close(ref, model(x).numpy(), rel=1e-5, what="slice 0 vs original")
        export_level(aio, k, tmp_path / f"f{k}.onnx")
        sess = ort.InferenceSession(
            str(tmp_path / f"f{k}.onnx"), providers=["CPUExecutionProvider"]
        )
        close(sess.run(None, {"input": x.numpy()})[0], ref, what=f"level {k} ORT")
        close(engine.run_at(k, x.numpy()), ref, what=f"level {k} engine")


class _MeanHead(nn.Module):
    """torch.mean over (2, 3), x.shape[0] reshape, nn.Flatten, Identity: all supported."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 8, 3, stride=2, padding=(1, 0))
        self.bn = nn.BatchNorm2d(8)
        self.skip = nn.Identity()
        self.flat = nn.Flatten()
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.skip(torch.relu(self.bn(self.conv(x))))
        y = torch.mean(y, (2, 3), keepdim=True)
        return self.fc(self.flat(y.reshape(y.shape[0], -1, 1, 1)))


def test_mean_and_reshape_heads(randomize_bn: Any, close: Any) -> None:
    ort = pytest.importorskip("onnxruntime")
    from allinone.onnx_export import level_graph

    model = randomize_bn(_MeanHead())
    x = torch.randn(2, 2, 9, 10)
    state = prepare(model, x, levels=(1.0, 0.5))
    assert [ly.kind for ly in state.graph.layers] == ["conv2d", "global_avgpool", "linear"]
    aio = to_aio(state, "mean_head")
    for k in range(2):
        with torch.no_grad():
            ref = slice_model(state, k)(x).numpy()
        sess = ort.InferenceSession(
            level_graph(aio, k).SerializeToString(), providers=["CPUExecutionProvider"]
        )
        close(sess.run(None, {"input": x.numpy()})[0], ref, what=f"level {k}")


# -- calibration ----------------------------------------------------------------------------------
def test_per_level_calibration_changes_bn_stats(
    randomize_bn: Any, close: Any, tmp_path: Path
) -> None:
    ort = pytest.importorskip("onnxruntime")
    from allinone.onnx_export import export_level

    torch.manual_seed(0)
    model = randomize_bn(zoo.vgg_small(in_channels=1))
    x = torch.randn(2, 1, 28, 28)
    calib = [torch.randn(8, 1, 28, 28) for _ in range(3)]
    plain = export(model, tmp_path / "p.aio", x)
    cal = export(model, tmp_path / "c.aio", x, calib=calib)
    state = cal.export_state
    name = "features.3"  # the second conv's BatchNorm: its input shrinks with the level
    bn = next(ly for ly in state.graph.layers if ly.conv == name).bn
    # Level 0 stats are what train-mode BatchNorm (momentum None) accumulates on the full model.
    ref_model = copy.deepcopy(model)
    for m in ref_model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
            m.train()
    with torch.no_grad():
        for b in calib:
            ref_model(b)
    mean0, var0 = state.bn_stats[0][bn]
    ref_bn = ref_model.get_submodule(bn)
    np.testing.assert_allclose(mean0, ref_bn.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var0, ref_bn.running_var.numpy(), rtol=1e-5, atol=1e-6)
    # Each level has its own statistics, different from the original and from level 0's.
    orig = model.get_submodule(bn).running_mean.numpy()
    idx = state.kept(next(ly for ly in state.graph.layers if ly.conv == name).output, 2)
    assert not np.allclose(state.bn_stats[2][bn][0][idx], orig[idx], atol=1e-3)
    assert not np.allclose(state.bn_stats[2][bn][0][idx], mean0[idx], atol=1e-3)
    # The file's folded scale changes; ORT on the file still equals the calibrated reference.
    scale = f"{name}.scale"
    assert not np.allclose(cal.tensors[scale][2], plain.tensors[scale][2])
    back = load(tmp_path / "c.aio")
    from allinone import Engine

    engine = Engine(str(tmp_path / "c.aio"))
    for k in range(4):
        with torch.no_grad():
            ref = slice_model(cal, k)(x).numpy()
        export_level(back, k, tmp_path / f"c{k}.onnx")
        sess = ort.InferenceSession(
            str(tmp_path / f"c{k}.onnx"), providers=["CPUExecutionProvider"]
        )
        close(sess.run(None, {"input": x.numpy()})[0], ref, what=f"calibrated level {k} ORT")
        close(engine.run_at(k, x.numpy()), ref, what=f"calibrated level {k} engine")


def test_onnx_export_does_not_import_torch(tmp_path) -> None:
    import subprocess
    import sys

    code = "import sys, allinone.onnx_export; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
