#!/usr/bin/python3
"""Writes the PyTorch parity fixtures under tests/fixtures/ (run by hand; tests only read the files).

    /usr/bin/python3 tools/make_parity_fixtures.py      # needs python3-torch 1.13, python3-torchvision 0.14

For each model (FIXTURES below) it builds the PyTorch twin (tools/torch_models.py) with fixed random weights
(torch.manual_seed; torchvision's / PyTorch's initialisation, then non-trivial BatchNorm gamma, beta and running
statistics) and writes two safetensors files (format by hand: the safetensors package is not installed):

  <name>_weights.safetensors   the state_dict (F32; num_batches_tracked I64), metadata arch/width/input/classes
                               and crc32 of the data section (DESIGN.md's model-file keys, no `format`: a plain
                               PyTorch export)
  <name>_expected.safetensors  what plasmo must reproduce from those weights:
    input                      x [N, 3, S, S]; labels in the metadata (`labels`, class indices)
    train.*                    one train-mode forward + backward of the mean cross-entropy: logits, loss [1],
                               grad.input, grad.<param> for every parameter, <bn>.running_mean/_var and
                               <bn>.num_batches_tracked after the forward
    eval.*                     the same batch in eval mode from the original weights and statistics: logits,
                               loss, grad.input, features (the output of the last conv stage) and grad.features
                               (the Grad-CAM hook; Grad-CAM runs in eval mode)
    sgd.*                      torch.optim.SGD(lr 0.1, momentum 0.9) from the original state: step 1 with the
                               train.* gradients (momentum buffer starts at the gradient), a second train-mode
                               forward + backward (sgd.loss1 [1]), step 2 -> sgd.step2.<param> for every parameter.
                               Not for mobilenetv2 at this size: after a step its train-mode loss is chaotic in the
                               weights (a few BatchNorm channels see 8 values of variance ~eps): torch in float32 and
                               in float64 from the same start give step-2 gradients 20% apart, so no float32
                               implementation can be compared there. Its one-step check uses train.grad.*.
    recon.*                    (autoencoder) decoder(encoder(x)) with a sigmoid: output, loss (mean squared error
                               against x), grad.input and grad.<param> of encoder and decoder
The model files keep the class-index convention: 0 Uninfected, 1 Parasitized.

Sizes: every tensor is stored whole (float32), so the widths are small enough for all fixtures together to
stay under 2 MB (printed at the end): resnet18 at width 1/16 (channels 4, 8, 16, 32) and mobilenetv2 at width
0.05 (8 channels almost everywhere, 16 at the end, last_channel 1280 as at any width <= 1; it still has every
kind of block: residual with expand ratio 1 and 6, stride 2, stride 1 with a channel change). Width 0.25 does
not fit: its weights alone are 2.8 MB (resnet18) and 0.96 MB (mobilenetv2). Input 40 gives odd map sizes
(5 -> 3 -> 2) and a 2x2 last stage, so train-mode BatchNorm never sees fewer than 8 values per channel.
All fixtures: 1.67 MB. The script is deterministic: a second run rewrites the same bytes.
"""
import json
import os
import struct
import sys
import zlib

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import torch_models  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fixtures")
LR, MOMENTUM = 0.1, 0.9

# name, arch, width, input size, batch, labels, seed, SGD fixture
FIXTURES = [
    ("autoencoder", "autoencoder", 1.0, 32, 3, [1, 0, 1], 11, True),
    ("resnet18_w0.0625", "resnet18", 0.0625, 40, 2, [0, 1], 12, True),
    ("mobilenetv2_w0.05", "mobilenetv2", 0.05, 40, 2, [1, 0], 13, False),
]


def write_safetensors(path, tensors, metadata):
    """safetensors: u64 little-endian header length, JSON header {name: {dtype, shape, data_offsets}} plus
    __metadata__ (string values), padded with spaces to a multiple of 8, then the raw little-endian data."""
    header, blobs, offset = {}, [], 0
    for name, tensor in tensors.items():
        array = tensor.detach().cpu().contiguous().numpy()
        if array.dtype == np.float32:
            dtype, data = "F32", array.astype("<f4").tobytes()
        elif array.dtype == np.int64:
            dtype, data = "I64", array.astype("<i8").tobytes()
        else:
            raise TypeError(name + ": unsupported dtype " + str(array.dtype))
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    data = b"".join(blobs)
    meta = dict(metadata)
    meta["crc32"] = "%08x" % (zlib.crc32(data) & 0xFFFFFFFF)
    header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        f.write(data)
    return os.path.getsize(path)


def scalar(value):
    return value.detach().reshape(1).clone()


def randomize_batchnorm(model, generator):
    """Non-trivial gamma, beta and running statistics, so eval mode and the running-stat update are tested."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                channels = m.num_features
                m.weight.copy_(0.5 + torch.rand(channels, generator=generator))
                m.bias.copy_(0.2 * torch.randn(channels, generator=generator))
                m.running_mean.copy_(0.2 * torch.randn(channels, generator=generator))
                m.running_var.copy_(0.5 + torch.rand(channels, generator=generator))
                m.num_batches_tracked.fill_(5)


def split_forward(arch, model, x):
    """(features, logits): features = output of the last conv stage (the Grad-CAM hook), logits [N, 2]."""
    if arch == "autoencoder":
        h = F.max_pool2d(F.relu(model.enc1(x)), 2)
        h = F.max_pool2d(F.relu(model.enc2(h)), 2)
        features = F.relu(model.enc3(h))  # before the last max-pool: 1/4 of the input size
        z = torch.flatten(F.max_pool2d(features, 2), 1)
        return features, model.fc2(F.relu(model.fc1(z)))
    if arch == "resnet18":
        features = model.features(x)
        return features, model.fc(torch.flatten(model.avgpool(features), 1))
    features = model.features(x)  # mobilenetv2
    pooled = torch.flatten(F.adaptive_avg_pool2d(features, (1, 1)), 1)
    return features, model.classifier(pooled)


def run_classifier(arch, model, x, labels, train):
    model.train(train)
    x = x.clone().requires_grad_(True)
    model.zero_grad(set_to_none=True)
    features, logits = split_forward(arch, model, x)
    features.retain_grad()
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    return x, features, logits, loss


def make_fixture(name, arch, width, size, batch, labels, seed, with_sgd):
    torch.manual_seed(seed)
    if arch == "mobilenetv2":
        model = torch_models.mobilenetv2(width, dropout=0.0)  # train-mode dropout masks cannot be matched
    else:
        model = torch_models.make(arch, width, size)
    generator = torch.Generator().manual_seed(seed + 1000)
    randomize_batchnorm(model, generator)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    params = list(model.named_parameters())
    labels = torch.tensor(labels, dtype=torch.int64)
    if arch == "autoencoder":
        x = torch.rand(batch, 3, size, size, generator=generator)  # pixels in [0, 1]: the MSE target
    else:
        x = torch.randn(batch, 3, size, size, generator=generator)  # normalised pixels

    meta = {"arch": arch, "width": repr(float(width)), "input": "3x%dx%d" % (size, size),
            "classes": "Uninfected,Parasitized"}
    total = write_safetensors(os.path.join(OUT, name + "_weights.safetensors"), initial, meta)

    expected = {"input": x}
    # train mode
    xg, features, logits, loss = run_classifier(arch, model, x, labels, True)
    expected.update({"train.logits": logits, "train.loss": scalar(loss), "train.grad.input": xg.grad})
    for pname, p in params:
        if p.grad is not None:
            expected["train.grad." + pname] = p.grad.clone()
    for bname, b in model.named_buffers():
        expected["train." + bname] = b.clone()

    # eval mode, from the original state
    model.load_state_dict(initial)
    xg, features, logits, loss = run_classifier(arch, model, x, labels, False)
    expected.update({"eval.logits": logits, "eval.loss": scalar(loss), "eval.features": features,
                     "eval.grad.features": features.grad, "eval.grad.input": xg.grad})

    # two SGD-momentum steps from the original state (parameters without a gradient, the autoencoder's
    # decoder in the classifier path, are skipped by torch.optim and stay as they are)
    if with_sgd:
        model.load_state_dict(initial)
        optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        optimizer.zero_grad(set_to_none=True)
        run_classifier(arch, model, x, labels, True)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        _, _, _, loss1 = run_classifier(arch, model, x, labels, True)
        optimizer.step()
        expected["sgd.loss1"] = scalar(loss1)
        for pname, p in params:
            expected["sgd.step2." + pname] = p.detach().clone()

    if arch == "autoencoder":
        model.load_state_dict(initial)
        model.zero_grad(set_to_none=True)
        xr = x.clone().requires_grad_(True)
        recon = model.reconstruct(xr)
        loss = F.mse_loss(recon, x)
        loss.backward()
        expected.update({"recon.output": recon, "recon.loss": scalar(loss), "recon.grad.input": xr.grad})
        for pname, p in params:
            if p.grad is not None:
                expected["recon.grad." + pname] = p.grad.clone()

    meta.update({"labels": ",".join(str(int(v)) for v in labels), "lr": repr(LR), "momentum": repr(MOMENTUM),
                 "torch": torch.__version__, "generator": "tools/make_parity_fixtures.py"})
    total += write_safetensors(os.path.join(OUT, name + "_expected.safetensors"), expected, meta)
    nparams = sum(p.numel() for _, p in params)
    print("%-20s %-12s width %-6g input %d batch %d: %d parameters, %d bytes" %
          (name, arch, width, size, batch, nparams, total))
    return total


def main():
    torch.set_num_threads(1)
    torch_models.check_resnet_matches_torchvision()
    os.makedirs(OUT, exist_ok=True)
    total = sum(make_fixture(*f) for f in FIXTURES)
    print("all fixtures: %d bytes" % total)
    if total >= 2_000_000:
        sys.exit("fixtures exceed 2 MB")


if __name__ == "__main__":
    main()
