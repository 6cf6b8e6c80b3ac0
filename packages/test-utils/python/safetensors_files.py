"""safetensors files the real library writes, for the fixtures (issue 27).

Run with torch 2.13 and safetensors 0.8:  .venv-torch/bin/python safetensors_files.py FIXTURES_DIR
Writes st_dtypes.safetensors (every dtype torch and safetensors share, scalars, an empty tensor, metadata)
and st_linear.safetensors (a small model's state_dict as transformers saves it), each with its truth
(safetensors.torch.load_file, summarized) and its manifest entry.
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_manifest  # noqa: E402
from summarize import summarize  # noqa: E402


def every_dtype():
    """A tensor of each dtype safetensors names, from random bits (the 1-byte float8s and float4 as viewed bytes)."""
    g = torch.Generator().manual_seed(0)
    out = {}
    for dtype in [torch.bool, torch.uint8, torch.int8, torch.int16, torch.uint16, torch.int32, torch.uint32, torch.int64,
                  torch.uint64, torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64,
                  torch.float8_e5m2, torch.float8_e4m3fn, torch.float8_e5m2fnuz, torch.float8_e4m3fnuz,
                  torch.float8_e8m0fnu, torch.float4_e2m1fn_x2]:
        raw = torch.randint(0, 256, (2, 3 * dtype.itemsize), dtype=torch.uint8, generator=g)
        if dtype == torch.bool:
            raw = raw % 2
        out[str(dtype).replace("torch.", "")] = raw.view(dtype)
    out["scalar"] = torch.tensor(2.5)
    out["empty"] = torch.zeros(0, 4)
    return out


def linear_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3), torch.nn.Linear(3, 2))
    return {k: v.contiguous() for k, v in model.state_dict().items()}


def main(out):
    files = [
        ("st_dtypes.safetensors", every_dtype(), {"format": "pt"}, "every dtype torch and safetensors share, a scalar, an empty tensor"),
        ("st_linear.safetensors", linear_model(), {"format": "pt"}, "a small model's state_dict, as transformers saves it"),
    ]
    entries = []
    for name, tensors, metadata, note in files:
        path = os.path.join(out, name)
        save_file(tensors, path, metadata=metadata)
        with open(path + ".truth.json", "w") as f:
            json.dump({"format": "safetensors", "value": summarize(load_file(path))}, f, indent=1, sort_keys=False)
            f.write("\n")
        entries.append({"file": name, "format": "safetensors", "truth": "torch", "weightsOnly": True,
                        "note": f"{note} (safetensors.torch.save_file)", "torch": "2.13"})
    fixture_manifest.update(out, entries)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fixtures")
