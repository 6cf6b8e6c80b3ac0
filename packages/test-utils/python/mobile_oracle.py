"""Lite-interpreter oracle, run by either torch (Debian's 1.13 or the pip 2.13).

  mobile_oracle.py models OUT             writes the mobile modules this torch can make into OUT, each as a zip
                                          (_save_for_lite_interpreter: NAME.ptl) and a flatbuffer (NAME.ff); one JSON
                                          line each: {"name", "ptl", "ff", "shape", "attributes"}: the input forward takes, and the
                                          plain attributes the module sets
  mobile_oracle.py compare JOBS          JOBS: a JSON list of [ORIG, CONV, SHAPE, NAMES]; for each, one line: loads both
                                          files with _load_for_lite_interpreter and torch.jit.load and prints {"lite",
                                          "jit", "parameters", "buffers", "state", "methods", "attributes", "extra"}:
                                          whether forward on the same input (seeded) gives equal outputs, the same
                                          parameter and buffer names, equal state_dict tensors (dtype, shape, strides,
                                          values), the same methods, equal values of the attributes NAMES lists, and
                                          the same extra files (one process for every job: torch imports once)

Files are handed to torch as bytes: torch maps a flatbuffer file read-only and a module that writes its buffers in
forward (BatchNorm in training mode) then crashes, with torch's own flatbuffer files too.
"""
import io
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from torch.jit.mobile import _load_for_lite_interpreter  # noqa: E402


def attribute_names(module):
    """The plain attributes a Python module sets in __init__ (what a scripted module keeps as attributes)."""
    return [n for n in vars(module) if not n.startswith("_") and n != "training"]


def models():
    """(name, scripted or traced module, input shape, attribute names) of every model this torch can make."""
    from fixture_classes import AllTypes, Stateful, WithConstant
    torch.manual_seed(0)
    all_types = AllTypes().eval()
    yield "all_types", torch.jit.script(all_types), [2, 4], attribute_names(all_types)
    stateful = Stateful()
    yield "stateful", torch.jit.script(stateful), [3, 2], attribute_names(stateful)
    yield "trace_constant", torch.jit.trace(WithConstant().eval(), torch.randn(2, 4)), [2, 4], []
    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    yield "conv_train", torch.jit.script(conv), [2, 3, 6, 6], []
    try:
        import torchvision
    except Exception:  # torch 2.13's torchvision wheel does not import with this CPU build
        return
    yield "resnet18_traced", torch.jit.trace(torchvision.models.resnet18().eval(), torch.randn(1, 3, 64, 64)), [1, 3, 64, 64], []
    yield "mobilenet_v3_scripted", torch.jit.script(torchvision.models.mobilenet_v3_small().eval()), [1, 3, 64, 64], []


# Extra files saved with every model: text and bytes that are not UTF-8.
EXTRA = {"meta.json": '{"made by": "mobile_oracle.py"}', "raw.bin": bytes([0, 255, 1, 128])}


def write_models(out):
    os.makedirs(out, exist_ok=True)
    for name, module, shape, names in models():
        ptl, ff = os.path.join(out, f"{name}.ptl"), os.path.join(out, f"{name}.ff")
        module._save_for_lite_interpreter(ptl, _extra_files=EXTRA)
        module._save_for_lite_interpreter(ff, _extra_files=EXTRA, _use_flatbuffer=True)
        print(json.dumps({"name": name, "ptl": ptl, "ff": ff, "shape": shape, "attributes": names}), flush=True)


def data(path):
    with open(path, "rb") as f:
        return io.BytesIO(f.read())


def same(a, b):
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and a.stride() == b.stride() and torch.equal(a, b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return isinstance(b, float) and str(a) == str(b)  # -0.0 and nan as themselves
    if hasattr(a, "__dict__"):  # a TorchScript class's object, as its Python class
        return type(a) is type(b) and same(vars(a), vars(b))
    return type(a) is type(b) and a == b


def compare(orig, conv, shape, names):
    import fixture_classes  # noqa: F401  (registers the TorchScript classes, as Box, that attributes hold)
    torch.manual_seed(0)
    x = torch.randn(shape)
    lite_a, lite_b = _load_for_lite_interpreter(data(orig)), _load_for_lite_interpreter(data(conv))
    torch.manual_seed(1)
    ya = lite_a(x)
    torch.manual_seed(1)
    yb = lite_b(x)
    jit_a, jit_b = torch.jit.load(data(orig)), torch.jit.load(data(conv))
    torch.manual_seed(1)
    ja = jit_a(x)
    torch.manual_seed(1)
    jb = jit_b(x)
    extra_a, extra_b = {n: "" for n in EXTRA}, {n: "" for n in EXTRA}
    torch.jit.load(data(orig), _extra_files=extra_a)
    torch.jit.load(data(conv), _extra_files=extra_b)
    sa, sb = jit_a.state_dict(), jit_b.state_dict()
    attrs_a, attrs_b = ({n: m._c.getattr(n) for n in names} for m in (jit_a, jit_b))
    print(json.dumps({
        "lite": same(ya, yb),
        "jit": same(ja, jb),
        "parameters": [n for n, _ in jit_a.named_parameters()] == [n for n, _ in jit_b.named_parameters()],
        "buffers": [n for n, _ in jit_a.named_buffers()] == [n for n, _ in jit_b.named_buffers()],
        "state": list(sa) == list(sb) and all(same(sa[k], sb[k]) for k in sa),
        "methods": jit_a._c._method_names() == jit_b._c._method_names(),
        "attributes": all(same(attrs_a[n], attrs_b[n]) for n in names),
        "extra": extra_a == extra_b and extra_a["raw.bin"] == EXTRA["raw.bin"],
    }), flush=True)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "models":
        write_models(args[0])
    elif cmd == "compare":
        for orig, conv, shape, names in json.loads(args[0]):
            compare(orig, conv, shape, names)
    else:
        sys.exit(f"unknown command {cmd}")
