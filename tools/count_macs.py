#!/usr/bin/python3
"""PyTorch's parameter count and forward MACs per image for plasmo's models (run by hand, not by tests).

MACs = multiply-accumulates of Conv2d and Linear layers only, counted by forward hooks:
  Conv2d: out_channels * OH * OW * (in_channels / groups) * KH * KW      (bias adds not counted)
  Linear: in_features * out_features
BatchNorm, activations, pooling, upsampling and the residual adds are not counted (plasmo's `info` uses the
same rule). The numbers are written into tests/test_models.cpp as literals.

usage: /usr/bin/python3 tools/count_macs.py [ARCH WIDTH SIZE]...   (default: the table below)
"""
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import torch_models  # noqa: E402


def count(arch, width, size, reconstruction=False):
    model = torch_models.make(arch, width, size)
    model.eval()
    macs = [0]

    def conv_hook(module, inputs, output):
        per_image = output.numel() // output.shape[0]
        kh, kw = module.kernel_size
        macs[0] += per_image * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module, inputs, output):
        macs[0] += module.in_features * module.out_features

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, nn.Linear):
            m.register_forward_hook(linear_hook)
    with torch.no_grad():
        x = torch.zeros(1, 3, size, size)
        # autoencoder: the classifier path (encoder + fc1 + fc2), or encoder + decoder
        model.reconstruct(x) if reconstruction else model(x)
    params = sum(p.numel() for p in model.parameters())
    return params, macs[0]


DEFAULT = [
    ("autoencoder", 1.0, 32),
    ("resnet18", 1.0, 64),
    ("mobilenetv2", 1.0, 64),
    ("autoencoder", 1.0, 64),
    ("resnet18", 0.25, 64),
    ("resnet18", 0.5, 64),
    ("resnet18", 1.0, 224),
    ("mobilenetv2", 0.25, 64),
    ("mobilenetv2", 0.5, 64),
    ("mobilenetv2", 1.0, 224),
]


def main():
    args = sys.argv[1:]
    if args and len(args) % 3 != 0:
        sys.exit(__doc__)
    table = [(args[i], float(args[i + 1]), int(args[i + 2])) for i in range(0, len(args), 3)] or DEFAULT
    torch_models.check_resnet_matches_torchvision()
    print("%-12s %6s %5s %12s %15s" % ("arch", "width", "size", "params", "MACs/image"))
    for arch, width, size in table:
        params, macs = count(arch, width, size)
        print("%-12s %6g %5d %12d %15d" % (arch, width, size, params, macs))
        if arch == "autoencoder":
            print("%-12s %6s %5s %12s %15d  (reconstruction: encoder + decoder)" %
                  ("", "", "", "", count(arch, width, size, True)[1]))


if __name__ == "__main__":
    main()
