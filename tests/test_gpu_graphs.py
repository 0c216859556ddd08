"""CUDA-graph replay of the interpreted networks: buffer handling (with a stand-in for the capture,
which needs a GPU), capturability of the shipped networks, and real graphs when CUDA is present."""

import numpy as np
import pytest

from conftest import cuda_available

torch = pytest.importorskip("torch")

from livefilter.detect.blazeface import MODEL_FILE as DETECT_MODEL  # noqa: E402
from livefilter.detect.facemesh import MODEL_FILE as MESH_MODEL  # noqa: E402
from livefilter.infra.onnx_session import model_path  # noqa: E402
from livefilter.gpu.graphs import GraphedModule  # noqa: E402
from livefilter.translate.onnx_torch import build_module  # noqa: E402


class FakeGraphs:
    """What a CUDA graph guarantees: the outputs of capture are the tensors replay() refreshes,
    and replay reads whatever the captured input buffer holds at that moment."""

    def __init__(self):
        self.captures = []

    def __call__(self, forward):
        out = forward()
        self.captures.append(out)

        class Graph:
            replays = 0

            def replay(self):
                Graph.replays += 1
                for dst, src in zip(out, forward()):
                    dst.copy_(src)

        return Graph(), out


def _mesh():
    return build_module(str(model_path(MESH_MODEL)), "cpu", torch.float32, all_outputs=True)


def test_replays_give_the_module_result_for_every_batch_size_and_capture_once_each():
    module, fake = _mesh(), FakeGraphs()
    graphed = GraphedModule(module, (3, 192, 192), "cpu", max_batch=2, enabled=True, capture_fn=fake)
    rng = np.random.default_rng(0)
    for n in (1, 2, 1, 3, 2, 3):
        x = torch.from_numpy(rng.random((n, 3, 192, 192), np.float32))
        got = graphed(x)
        with torch.no_grad():
            want = module(x)
        for g, w in zip(got, want):
            assert g.shape == w.shape and torch.allclose(g, w, atol=1e-5)
    # batch 1 and 2, then 3 outgrows the input buffer: every graph is captured again on the new one
    assert [len(c[0]) for c in fake.captures] == [1, 2, 3, 2]


def test_the_outputs_are_reused_buffers_valid_until_the_next_call():
    module, fake = _mesh(), FakeGraphs()
    graphed = GraphedModule(module, (3, 192, 192), "cpu", max_batch=1, enabled=True, capture_fn=fake)
    a = graphed(torch.rand(1, 3, 192, 192))
    first = a[0].clone()
    b = graphed(torch.rand(1, 3, 192, 192))
    assert b[0].data_ptr() == a[0].data_ptr() and not torch.equal(b[0], first)


def test_off_cuda_the_module_runs_as_is():
    module = _mesh()
    graphed = GraphedModule(module, (3, 192, 192), "cpu")
    assert not graphed.enabled
    x = torch.rand(2, 3, 192, 192)
    with torch.no_grad():
        want = module(x)
    assert all(torch.equal(g, w) for g, w in zip(graphed(x), want))


@pytest.mark.parametrize("file,shape", [(MESH_MODEL, (2, 3, 192, 192)), (DETECT_MODEL, (1, 3, 192, 192)),
                                        ("look", (2, 3, 0, 0))])
def test_the_interpreted_networks_trace_as_one_graph(file, shape):
    """A graph capture fails on anything that syncs with the host or branches on tensor values;
    torch.compile(fullgraph=True) refuses the same things, and runs here without a GPU."""
    from livefilter.looks.registry import LookRegistry

    if file == "look":  # the shipped student, with its image, style and strength inputs
        look = LookRegistry().default()
        path, s = look.model_path, look.input_size
        args = [torch.rand(2, 3, s, s), torch.tensor(look.style_code).expand(2, -1), torch.full((2, 1), 0.7)]
        args = [a for a, role in zip(args, ("image", "style", "strength")) if look.input_names.get(role)]
    else:
        path, args = model_path(file), [torch.rand(*shape)]
    module = build_module(str(path), "cpu", torch.float32, all_outputs=True)
    with torch.no_grad():
        traced = torch.compile(module, fullgraph=True, backend="eager")(*args)
        eager = module(*args)
    assert all(torch.equal(a, b) for a, b in zip(traced, eager))


@pytest.mark.gpu
def test_real_graphs_match_eager_on_cuda():
    assert cuda_available()
    module = build_module(str(model_path(MESH_MODEL)), "cuda", torch.float32, all_outputs=True)
    graphed = GraphedModule(module, (3, 192, 192), "cuda", max_batch=4)
    assert graphed.enabled
    for n in (1, 4, 2):
        x = torch.rand(n, 3, 192, 192, device="cuda")
        got = [t.clone() for t in graphed(x)]
        with torch.no_grad():
            want = module(x)
        assert all(torch.allclose(g, w, atol=1e-4) for g, w in zip(got, want))
