"""probe.nethook.Trace/TraceDict against a minimal baukit-style reference written on torch's
forward hooks: same retained outputs and inputs, same edits, same activation gradients."""

from __future__ import annotations

import numpy as np
import pytest

import probe
from probe.nethook import Trace, TraceDict

torch = pytest.importorskip("torch")


class RefTrace:
    """baukit's Trace semantics (retain input/output, edit, retain_grad) on torch hooks."""

    def __init__(self, model, layer, retain_input=False, retain_grad=False, edit_output=None):
        self.output = self.input = None
        module = dict(model.named_modules())[layer]

        def hook(m, inputs, output):
            if retain_input:
                self.input = inputs[0].detach()
            if edit_output is not None:
                output = edit_output(output)
            if retain_grad:
                output.retain_grad()
                self.output = output
                return output.clone()
            self.output = output
            return output

        self.handle = module.register_forward_hook(hook)

    def close(self):
        self.handle.remove()


def build_pair(widths, seed):
    rng = np.random.default_rng(seed)
    p_layers, t_layers = [], []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        w = rng.standard_normal((b, a)).astype(np.float32) / np.sqrt(a)
        bias = rng.standard_normal(b).astype(np.float32) * 0.1
        pl, tl = probe.nn.Linear(a, b), torch.nn.Linear(a, b)
        with probe.no_grad():
            pl.weight.copy_(probe.tensor(w))
            pl.bias.copy_(probe.tensor(bias))
        with torch.no_grad():
            tl.weight.copy_(torch.from_numpy(w))
            tl.bias.copy_(torch.from_numpy(bias))
        p_layers.append(pl)
        t_layers.append(tl)
        if i < len(widths) - 2:
            p_layers.append(probe.nn.ReLU())
            t_layers.append(torch.nn.ReLU())
    return probe.nn.Sequential(*p_layers), torch.nn.Sequential(*t_layers)


CASES = [([4, 8, 3], "0"), ([4, 8, 3], "1"), ([5, 6, 6, 2], "2"), ([5, 6, 6, 2], "3"),
         ([3, 16, 8, 4, 1], "4")]


@pytest.mark.parametrize("widths, layer", CASES)
@pytest.mark.parametrize("edit", [None, "scale", "ablate"])
def test_trace_matches_reference(widths, layer, edit):
    pnet, tnet = build_pair(widths, seed=len(widths) * 10 + int(layer))
    x = np.random.default_rng(1).standard_normal((7, widths[0])).astype(np.float32)
    edits = {None: None, "scale": lambda output: output * 1.5,
             "ablate": lambda output: output * 0 + 0.25}
    fn = edits[edit]

    px = probe.tensor(x, requires_grad=True)
    with Trace(pnet, layer, retain_input=True, retain_grad=True, edit_output=fn) as tr:
        py = pnet(px)
    py.pow(2).sum().backward()

    tx = torch.tensor(x, requires_grad=True)
    ref = RefTrace(tnet, layer, retain_input=True, retain_grad=True, edit_output=fn)
    ty = tnet(tx)
    ref.close()
    ty.pow(2).sum().backward()

    np.testing.assert_allclose(py.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tr.output.detach().numpy(), ref.output.detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tr.input.detach().numpy(), ref.input.numpy(), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(tr.output.grad.numpy(), ref.output.grad.numpy(), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("widths", [[4, 8, 3], [5, 6, 6, 2]])
def test_tracedict_matches_reference(widths):
    pnet, tnet = build_pair(widths, seed=3)
    names = [n for n, _ in tnet.named_modules() if n]
    x = np.random.default_rng(2).standard_normal((4, widths[0])).astype(np.float32)
    with TraceDict(pnet, names, detach=True) as td:
        pnet(probe.tensor(x))
    refs = [RefTrace(tnet, n) for n in names]
    with torch.no_grad():
        tnet(torch.tensor(x))
    for ref in refs:
        ref.close()
    for name, ref in zip(names, refs):
        np.testing.assert_allclose(td[name].output.numpy(), ref.output.numpy(), rtol=1e-5,
                                   atol=1e-6)
