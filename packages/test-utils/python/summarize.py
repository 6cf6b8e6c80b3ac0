"""The canonical summary (shared/spec/summary-json.md) of what real torch loads.

Usage: /usr/bin/python3 summarize.py FILE [FILE...]
Prints one JSON document per file: {"file": ..., "summary": {...}} lines,
computed with torch.load (weights_only=False) on the installed torch.
"""
import base64
import collections
import ctypes
import hashlib
import json
import math
import sys
import warnings

import torch

warnings.filterwarnings("ignore")


def _float(x):
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def tensor_bytes(t):
    """Elements in row-major order, little-endian, nothing between them (none for meta tensors)."""
    if t.is_meta:
        return b""
    if t.is_quantized:
        t = t.int_repr()
    t = t.detach().contiguous()
    n = t.numel() * t.element_size()
    return ctypes.string_at(t.data_ptr(), n) if n else b""


def tensor_fields(t, parameter):
    f = {
        "dtype": str(t.dtype).replace("torch.", ""),
        "shape": list(t.shape),
        "sha256": hashlib.sha256(tensor_bytes(t)).hexdigest(),
    }
    if parameter or t.requires_grad:
        f["requires_grad"] = bool(t.requires_grad)
    if t.is_quantized:
        scheme = str(t.qscheme()).replace("torch.", "")
        if scheme == "per_tensor_affine":
            f.update(qscheme=scheme, scale=t.q_scale(), zero_point=t.q_zero_point())
        else:
            f.update(
                qscheme="per_channel_affine",
                scales=[float(x) for x in t.q_per_channel_scales().tolist()],
                zero_points=[int(x) for x in t.q_per_channel_zero_points().tolist()],
                axis=t.q_per_channel_axis(),
            )
    return f


def summarize(v):
    # Before the builtins: numpy.float64 is a float, numpy.str_ a str.
    numpy_summary = _numpy(v)
    if numpy_summary is not None:
        return numpy_summary
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v if abs(v) <= 2**53 - 1 else {"int": str(v)}
    if isinstance(v, float):
        return {"float": _float(v)}
    if isinstance(v, complex):
        return {"complex": [_float(v.real), _float(v.imag)]}
    if isinstance(v, (bytes, bytearray)):
        return {"bytes": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, torch.nn.Parameter):
        return {"parameter": tensor_fields(v, True)}
    if isinstance(v, torch.Tensor):
        return {"tensor": tensor_fields(v, False)}
    if isinstance(v, torch.Size):
        return {"size": list(v)}
    if isinstance(v, torch.dtype):
        return {"dtype": str(v).replace("torch.", "")}
    if isinstance(v, torch.device):
        return {"device": str(v)}
    if type(v) is collections.OrderedDict:
        out = {"odict": [[summarize(k), summarize(x)] for k, x in v.items()]}
        attrs = vars(v)
        if attrs:
            out["attrs"] = {k: summarize(x) for k, x in attrs.items()}
        return out
    if type(v) is dict:
        return {"dict": [[summarize(k), summarize(x)] for k, x in v.items()]}
    if type(v) is list:
        return [summarize(x) for x in v]
    if type(v) is tuple:
        return {"tuple": [summarize(x) for x in v]}
    if type(v) is set:
        return {"set": [summarize(x) for x in v]}
    if type(v) is frozenset:
        return {"frozenset": [summarize(x) for x in v]}
    t = type(v)
    return {"object": f"{t.__module__}.{t.__qualname__}"}


def _numpy(v):
    """NumPy arrays, scalars and dtypes as docs/summary-json.md describes them; None for anything else."""
    np = sys.modules.get("numpy")
    if np is None:
        return None
    if type(v) is np.ndarray:
        fortran = bool(v.flags.f_contiguous and not v.flags.c_contiguous)
        fields = {"dtype": v.dtype.str, "shape": list(v.shape), "fortran": fortran}
        if v.dtype.kind == "O":
            fields["items"] = [summarize(x) for x in v.ravel(order="F" if fortran else "C")]
        else:
            fields["sha256"] = hashlib.sha256(v.tobytes(order="F" if fortran else "C")).hexdigest()
        return {"object": "numpy.ndarray", "ndarray": fields}
    if isinstance(v, np.generic):
        t = type(v)
        return {"object": f"numpy.{t.__name__}", "numpy": summarize(v.item())}
    if isinstance(v, np.dtype):
        return {"object": "numpy.dtype", "dtype": v.str}
    return None


def module_summary(m):
    """The module summary of a torch.jit.load-ed module (requires_grad is not compared there)."""
    def fields(t):
        f = tensor_fields(t, False)
        f.pop("requires_grad", None)
        return {"tensor": f}
    return {"module": {
        "type": m._c._type().qualified_name(),
        "parameters": [[n, fields(t)] for n, t in m.named_parameters()],
        "buffers": [[n, fields(t)] for n, t in m.named_buffers()],
        "methods": sorted(m._c._method_names()),
    }}


def detect_format(path):
    with open(path, "rb") as f:
        head = f.read(512)
    if head[4:8] == b"PTMF":
        return "flatbuffer"
    if head[:4] == b"PK\x03\x04":
        import zipfile
        with zipfile.ZipFile(path) as z:
            names = {n.split("/", 1)[1] for n in z.namelist() if "/" in n}
        return "mobile" if "bytecode.pkl" in names else "torchscript" if "constants.pkl" in names else "zip"
    if head[257:262] == b"ustar":
        return "tar"
    try:
        import pickle
        with open(path, "rb") as f:
            if pickle.load(f) == 0x1950A86A20F9469CFC6C:
                return "legacy"
    except Exception:
        pass
    return "pickle"


def load(path):
    fmt = detect_format(path)
    if fmt in ("torchscript", "mobile", "flatbuffer"):
        return fmt, torch.jit.load(path, map_location="cpu")
    if fmt == "pickle":
        import pickle
        with open(path, "rb") as f:
            return fmt, pickle.load(f)
    return fmt, torch.load(path, map_location="cpu")


if __name__ == "__main__":
    for path in sys.argv[1:]:
        fmt, value = load(path)
        print(json.dumps({"file": path, "summary": {"format": fmt, "value": module_summary(value) if fmt in ("torchscript", "mobile") else summarize(value)}}))
