#!/usr/bin/python3
"""Cross-checks plasmo's safetensors layout against PyTorch, without the `safetensors` package.

    /usr/bin/python3 tools/write_safetensors_fixture.py OUT.safetensors   # write the fixture, read it back
    /usr/bin/python3 tools/write_safetensors_fixture.py --check FILE...   # load any file with torch, verify

The fixture is the file tests/test_safetensors.cpp builds byte by byte as `python_file()` (also
fuzz/corpus/safetensors/python_f16_bf16.safetensors): what `safetensors.torch.save_file(tensors,
metadata={"format": "pt"})` writes for the tensors below, following the format's rules by hand:
  - data order: dtype alignment descending (I64, F32, BF16, F16), then name; offsets tile the data;
  - header: compact JSON, "__metadata__" first, then the tensors in data order, padded with spaces so
    8 + len(header) is a multiple of 8; an 8-byte little-endian length in front.
Reading back goes through torch.frombuffer, so values are compared as torch sees them. Never needed by
the test suite (tests never need torch).
"""
import json
import struct
import sys
import zlib

import torch

DTYPES = {  # safetensors name -> (torch dtype, bytes per element, alignment rank as the reference orders)
    "I64": (torch.int64, 8, 3),
    "F32": (torch.float32, 4, 2),
    "BF16": (torch.bfloat16, 2, 1),
    "F16": (torch.float16, 2, 0),
}
NAME_OF = {torch_dtype: name for name, (torch_dtype, _, _) in DTYPES.items()}


def fixture_tensors():
    return {
        "bn.num_batches_tracked": torch.tensor(5, dtype=torch.int64),
        "fc.weight": torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float32),
        "half.bf16": torch.tensor([1.0, -3.5, 3.140625], dtype=torch.bfloat16),
        "half.f16": torch.tensor([[1.0, -2.0, 0.5], [65504.0, 2.0**-24, float("-inf")]], dtype=torch.float16),
    }


def tensor_bytes(tensor):
    # Raw little-endian element bytes (bfloat16 has no numpy dtype: view it as int16 first).
    flat = tensor.contiguous().reshape(-1)
    if tensor.dtype in (torch.bfloat16, torch.float16):
        flat = flat.view(torch.int16)
    return flat.numpy().astype(flat.numpy().dtype.newbyteorder("<")).tobytes()


def encode(tensors, metadata):
    order = sorted(tensors, key=lambda name: (-DTYPES[NAME_OF[tensors[name].dtype]][2], name))
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = b""
    for name in order:
        blob = tensor_bytes(tensors[name])
        header[name] = {
            "dtype": NAME_OF[tensors[name].dtype],
            "shape": list(tensors[name].shape),
            "data_offsets": [len(data), len(data) + len(blob)],
        }
        data += blob
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def decode(blob, source):
    """Loads a file with torch, checking the rules plasmo checks; returns (metadata, {name: tensor})."""
    (length,) = struct.unpack("<Q", blob[:8])
    assert 8 + length <= len(blob), f"{source}: header length past the end"
    header = json.loads(blob[8 : 8 + length].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    data = blob[8 + length :]
    covered = 0
    tensors = {}
    for name, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"]):
        begin, end = info["data_offsets"]
        assert begin == covered, f"{source}: {name} does not start where the previous tensor ended"
        torch_dtype, size, _ = DTYPES[info["dtype"]]
        count = 1
        for dim in info["shape"]:
            count *= dim
        assert end - begin == count * size, f"{source}: {name} size mismatch"
        raw = bytearray(data[begin:end])
        tensors[name] = (
            torch.frombuffer(raw, dtype=torch_dtype).reshape(info["shape"])
            if count
            else torch.zeros(info["shape"], dtype=torch_dtype)
        )
        covered = end
    assert covered == len(data), f"{source}: data section not fully covered"
    if "crc32" in metadata:
        actual = format(zlib.crc32(data), "08x")
        assert metadata["crc32"] == actual, f"{source}: crc32 {metadata['crc32']} != {actual}"
    return metadata, tensors


def same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(-1), b.view(-1))


def main(argv):
    if len(argv) >= 2 and argv[0] == "--check":
        for path in argv[1:]:
            with open(path, "rb") as handle:
                metadata, tensors = decode(handle.read(), path)
            print(f"{path}: ok, metadata {metadata}")
            for name, tensor in tensors.items():
                print(f"  {name}: {NAME_OF[tensor.dtype]} {list(tensor.shape)}")
        return 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    tensors = fixture_tensors()
    blob = encode(tensors, {"format": "pt"})
    with open(argv[0], "wb") as handle:
        handle.write(blob)
    metadata, loaded = decode(blob, argv[0])
    assert metadata == {"format": "pt"}
    for name, tensor in tensors.items():
        assert same(loaded[name], tensor), f"{name}: {loaded[name]} != {tensor}"
    print(f"{argv[0]}: {len(blob)} bytes, {len(tensors)} tensors read back equal through torch")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
