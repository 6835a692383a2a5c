"""The compact U-Net: output the size of the input, cost as designed."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from edge_inspect.training.unet import UNet, UNetConfig, count_macs  # noqa: E402


@pytest.mark.parametrize(("base", "depth", "classes"), [(16, 3, 1), (8, 2, 3)])
def test_output_has_the_input_size_and_one_map_per_class(base: int, depth: int, classes: int) -> None:
    model = UNet(UNetConfig(base=base, depth=depth, classes=classes)).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 1, 64, 64))
    assert tuple(out.shape) == (2, classes, 64, 64)


def test_reference_design_is_a_few_gflops_at_512() -> None:
    # the reference (depth 4, 16 channels, stride-2 stem) is small by design: a plain 4-level,
    # 16-channel U-Net at 512x512 is ~24 GFLOPs
    gflops = 2 * count_macs(UNetConfig(depth=4), 512) / 1e9
    assert 3.0 < gflops < 6.0


def test_mac_count_agrees_with_the_convolutions() -> None:
    config = UNetConfig(base=8, depth=2)
    model = UNet(config)
    counted = 0

    def hook(module: torch.nn.Conv2d, _inputs: object, output: torch.Tensor) -> None:  # type: ignore[name-defined]
        nonlocal counted
        kh, kw = module.kernel_size
        counted += output.numel() * module.in_channels * kh * kw // module.groups

    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            module.register_forward_hook(hook)
    with torch.no_grad():
        model.eval()(torch.zeros(1, 1, 64, 64))
    assert count_macs(config, 64) == counted
