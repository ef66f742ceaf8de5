"""`sslab bench`'s model FLOPs and MFU: the count against one worked by hand, the share of a given peak."""

import pytest
import torch
from torch import nn

from sslab import bench, methods
from sslab.methods.base import Method
from sslab.train import Loop


class _Linear(Method):
    """A least-squares step on one Linear layer: its FLOPs are known in closed form."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__(methods.TrainConfig(), (1, 1, d_in), 2)
        self.encoder = nn.Linear(d_in, d_out, bias=False)

    def objective(self, inputs, generator=None):
        loss = self.encoder(inputs[0]).pow(2).mean()
        return loss, {"loss": loss.detach()}


def test_a_step_counts_the_forward_and_the_weight_gradient():
    b, d_in, d_out = 16, 24, 8
    m = _Linear(d_in, d_out)
    flops = bench.step_flops(m, (torch.rand(b, d_in),), None, "fp32")
    # forward x @ W^T: 2 b d_in d_out; backward: the weight's gradient alone (the input needs none), as much again
    assert flops == 2 * (2 * b * d_in * d_out)
    assert m.encoder.weight.grad is None  # the counting step leaves no gradient behind


def test_mfu_is_the_measured_rate_over_the_peak():
    case = bench.Case("supervised", "mnist", (("encoder", "backbone"), ("batch_size", 32)))
    r = bench.measure(case, torch.device("cpu"), Loop(precision="fp32", log_every=10**9), steps=2, n_extract=64,
                      peak_tflops=0.5)
    assert r["step_gflop"] > 0 and r["tflops"] == pytest.approx(r["step_gflop"] / r["step_ms"])
    assert r["mfu"] == pytest.approx(r["tflops"] / 0.5)
    assert "MFU" in bench.table([r]) and f"{r['mfu']:.1%}" in bench.table([r])
    assert bench.peak_tflops(torch.device("cpu"), "bf16") is None  # no table entry for a CPU: --peak-tflops
