"""Writes the committed test fixtures and their truth summaries.

Run with Debian's real torch:  /usr/bin/python3 generate_fixtures.py OUT_DIR

Each fixture FILE gets FILE.truth.json, the canonical summary
(shared/spec/summary-json.md). manifest.json lists every fixture with:
  truth:       "torch"    - summary of what torch.load (1.13) returns for the file
               "emulated" - the file uses records torch 1.13 cannot read (big-endian
                            byteorder, _rebuild_tensor_v3 dtypes); the truth is the
                            summary of the object that was written, as torch >= 2.1
                            would load it
  weightsOnly: whether torch's weights-only allowlist accepts every global
Seeds are fixed, so regenerating gives the same truth files and, except for the legacy
fixtures (their storage keys are heap addresses) and deflated.pt (zipfile stamps times),
the same bytes.
"""
import collections
import io
import json
import os
import pickle
import shutil
import struct
import sys
import tarfile
import warnings
import zipfile

import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_classes import Point  # noqa: E402
from summarize import module_summary, summarize, load as torch_load_any  # noqa: E402

warnings.filterwarnings("ignore")
OUT = sys.argv[1] if len(sys.argv) > 1 else "fixtures"
os.makedirs(OUT, exist_ok=True)
manifest = []


def record(name, truth_value=None, *, truth="torch", weights_only=True, fmt=None, note=""):
    """Writes NAME.truth.json from torch.load of the file, or from truth_value when emulated."""
    path = os.path.join(OUT, name)
    if truth == "torch":
        fmt, value = torch_load_any(path)
    v = truth_value if truth != "torch" else value
    summary = {"format": fmt, "value": module_summary(v) if fmt in ("torchscript", "mobile", "flatbuffer") else summarize(v)}
    with open(path + ".truth.json", "w") as f:
        json.dump(summary, f, indent=1, sort_keys=False)
        f.write("\n")
    manifest.append({"file": name, "format": fmt, "truth": truth, "weightsOnly": weights_only, "note": note})


def save(name, obj, **kw):
    torch.save(obj, os.path.join(OUT, name), **kw)


# ---------------------------------------------------------------- zip (torch.save)
torch.manual_seed(0)
save("linear.pt", nn.Linear(4, 3).state_dict())
record("linear.pt", note="nn.Linear state_dict")

torch.manual_seed(0)
mobilenet = torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=10)
save("mobilenet_v2_w025.pt", mobilenet.state_dict())
record("mobilenet_v2_w025.pt", note="torchvision MobileNetV2 (width 0.25) state_dict: BN buffers, int64 num_batches_tracked, >10 storages in lexicographic record order")

torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
for _ in range(2):
    loss = net(torch.randn(4, 3, 8, 8)).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
save("training_checkpoint.pt", {
    "epoch": 2,
    "model": net.state_dict(),
    "optimizer": opt.state_dict(),
    "scheduler": sched.state_dict(),
    "loss_history": [1.5, 0.75, float("nan")],
    "best": {"loss": 0.5, "step": 123456789012},
    "config": {"name": "run-7", "tags": ("cnn", "adam"), "seed": 0, "amp": False},
})
record("training_checkpoint.pt", note="model + Adam state (exp_avg, step tensors) + StepLR + metrics")
# The README's example checkpoint is this one.
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "examples")
if os.path.isdir(EXAMPLES):
    shutil.copyfile(os.path.join(OUT, "training_checkpoint.pt"), os.path.join(EXAMPLES, "checkpoint.pt"))

numbers = {
    "none": None, "true": True, "false": False,
    "ints": [0, 1, -1, 255, 256, 65535, 65536, -129, 2**31 - 1, -2**31, 2**31, 2**53 - 1, 2**53, -2**53, 2**63, -2**64, 10**30, -(10**40)],
    "floats": [0.0, -0.0, 1.0, 0.1, 1e-300, 1.7976931348623157e308, 5e-324, float("inf"), float("-inf"), float("nan")],
    "complex": [complex(1, -2), complex(0.5, float("inf"))],
    "strings": ["", "ascii", "ünïcödé", "emoji 🧪", "line\nbreak", "x" * 300],
    "bytearray": bytearray(b"\x00\x01\xfe\xff"),
    "bytes": b"bytes \x00\xff",
    "tuple": (1, (2, (3,)), ()),
    "list": [[], [[]], [1, [2, [3]]]],
    "set": {1, 2, 3},
    "frozen": frozenset({"a"}),
    "dict_keys": {1: "int key", (1, 2): "tuple key", 2.5: "float key", None: "none key", True: "bool key"},
    "ordered": collections.OrderedDict([("b", 1), ("a", 2)]),
    "size": torch.Size([2, 3, 0]),
    "dtypes": [torch.float32, torch.bfloat16, torch.int64, torch.bool, torch.complex64],
    "devices": [torch.device("cpu"), torch.device("cuda", 1), torch.device("meta")],
    "counter": collections.Counter("abca"),
}
save("numbers.pt", numbers)
# frozenset pickles as GLOBAL builtins.frozenset at protocol 2, which torch's allowlist lacks.
record("numbers.pt", weights_only=False, note="every Python scalar and container kind, torch.Size, dtype, device, Counter")

torch.manual_seed(1)
base = torch.randn(4, 6)
dtypes = {
    "float64": torch.randn(3, 2, dtype=torch.float64),
    "float32": base.clone(),
    "float16": base.half(),
    "bfloat16": base.bfloat16(),
    "int64": torch.arange(-3, 3, dtype=torch.int64) * (2**40),
    "int32": torch.arange(-5, 5, dtype=torch.int32) * 100000,
    "int16": torch.arange(-5, 5, dtype=torch.int16) * 1000,
    "int8": torch.arange(-5, 5, dtype=torch.int8),
    "uint8": torch.arange(250, 256, dtype=torch.uint8),
    "bool": torch.tensor([True, False, True]),
    "complex64": torch.randn(3, dtype=torch.complex64),
    "complex128": torch.randn(2, 2, dtype=torch.complex128),
    "qint8": torch.quantize_per_tensor(base, 0.05, 3, torch.qint8),
    "quint8": torch.quantize_per_tensor(base, 0.1, 10, torch.quint8),
    "qint32": torch.quantize_per_tensor(base, 0.001, 0, torch.qint32),
    "qint8_per_channel": torch.quantize_per_channel(base, torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64), torch.tensor([0, 1, -1, 2]), 0, torch.qint8),
    "quint4x2": torch.quantize_per_tensor(torch.rand(8), 0.1, 0, torch.quint4x2),
}
save("dtypes.pt", dtypes)
record("dtypes.pt", note="every dtype torch 1.13 saves, quantized per tensor and per channel")

a = torch.arange(24, dtype=torch.float32).reshape(4, 6)
views = {
    "base": a,
    "transposed": a.t(),
    "slice": a[1:3, ::2],
    "column": a[:, 2],
    "offset_row": a[3],
    "expanded": torch.ones(3).expand(4, 3),
    "scalar": torch.tensor(3.5),
    "empty": torch.empty(0, 5),
    "shared_again": a.view(6, 4),
    "narrowed_storage": a.flatten()[5:9],
    "meta": torch.empty(2, 3, device="meta"),
}
save("views.pt", views)
record("views.pt", note="views sharing one storage: transpose, slices, stride 0, storage offsets, 0-dim, empty, meta")

torch.manual_seed(2)
params = {
    "trainable": nn.Parameter(torch.randn(2, 2)),
    "frozen": nn.Parameter(torch.randn(2), requires_grad=False),
    "leaf_requires_grad": torch.randn(3).requires_grad_(),
    "plain": torch.zeros(1),
}
save("parameters.pt", params)
record("parameters.pt", note="Parameters with and without requires_grad, a leaf tensor with requires_grad")

for proto in (1, 3, 4, 5):
    torch.manual_seed(0)
    save(f"linear_protocol{proto}.pt", nn.Linear(4, 3).state_dict(), pickle_protocol=proto)
    record(f"linear_protocol{proto}.pt", weights_only=True, note=f"torch.save with pickle_protocol={proto}")

save("objects.pt", {"point": Point(1, 2.5), "empty_bytes": b"", "points": [Point(0, 0)]})
record("objects.pt", weights_only=False, note="user class instances and b'' (not weights-only loadable)")

torch.manual_seed(0)
save("whole_module.pt", nn.Sequential(nn.Linear(2, 2), nn.ReLU()))
record("whole_module.pt", weights_only=False, note="torch.save of a whole nn.Module: opaque objects")

# ---------------------------------------------------------------- legacy (non-zip)
torch.manual_seed(3)
legacy_obj = {"weight": torch.randn(3, 4), "half": torch.randn(5).half(), "view": None, "ids": torch.arange(4), "epoch": 7}
legacy_obj["view"] = legacy_obj["weight"][1:, ::2]
save("legacy.pt", legacy_obj, _use_new_zipfile_serialization=False)
record("legacy.pt", fmt="legacy", note="torch.save(_use_new_zipfile_serialization=False)")

torch.manual_seed(0)
save("legacy_protocol4.pt", nn.Linear(4, 3).state_dict(), _use_new_zipfile_serialization=False, pickle_protocol=4)
record("legacy_protocol4.pt", note="legacy format, pickle protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL)")

save("legacy_dtypes.pt", {k: v for k, v in dtypes.items() if not k.startswith("q")}, _use_new_zipfile_serialization=False)
record("legacy_dtypes.pt", note="legacy format, every non-quantized dtype")


# ---------------------------------------------------------------- tar (PyTorch 0.1.x), emulated writer
def save_tar(obj, path):
    """Writes the 0.1.x tar layout that torch.load still reads (members sys_info, pickle, tensors, storages)."""
    storages, tensors = {}, {}

    def storage_key(s):
        for k, (st, _) in storages.items():
            if st.data_ptr() == s.data_ptr() and st.nbytes() == s.nbytes():
                return k
        k = len(storages)
        storages[k] = (s, getattr(torch, torch.storage._dtype_to_storage_type_map()[s.dtype]))
        return k

    def persistent_id(o):
        if torch.is_tensor(o):
            key = 1000 + len(tensors)
            for k, t in tensors.items():
                if t is o:
                    key = k
            tensors[key] = o
            storage_key(o.storage())
            return str(key)
        return None

    def member(tar, name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    main = io.BytesIO()
    p = pickle.Pickler(main, protocol=2)
    p.persistent_id = persistent_id
    p.dump(obj)
    tens = io.BytesIO()
    pickle.dump(len(tensors), tens, protocol=2)
    for key, t in tensors.items():
        pickle.dump((key, storage_key(t.storage()), getattr(torch, t.type().split(".")[-1])), tens, protocol=2)
        tens.write(struct.pack("<i", t.dim()) + b"\0" * 4)
        tens.write(struct.pack(f"<{t.dim()}q", *t.shape))
        tens.write(struct.pack(f"<{t.dim()}q", *t.stride()))
        tens.write(struct.pack("<q", t.storage_offset()))
    stor = io.BytesIO()
    pickle.dump(len(storages), stor, protocol=2)
    for key, (s, cls) in storages.items():
        pickle.dump((key, "cpu", cls), stor, protocol=2)
        stor.write(struct.pack("<q", s.size()))
        stor.write(bytes(s._untyped()) if hasattr(s, "_untyped") else bytes(s.untyped()))
    pickle.dump([], stor, protocol=2)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        sys_info = pickle.dumps({"protocol_version": 1000, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
        member(tar, "sys_info", sys_info)
        member(tar, "pickle", main.getvalue())
        member(tar, "tensors", tens.getvalue())
        member(tar, "storages", stor.getvalue())


torch.manual_seed(4)
t = torch.randn(3, 4)
save_tar({"weight": t, "view": t[:, 1], "bias": torch.arange(3, dtype=torch.float64), "step": 10}, os.path.join(OUT, "tar_format.pt"))
record("tar_format.pt", weights_only=True, note="PyTorch 0.1.x tar layout, written by an emulation of the old writer, loaded by real torch 1.13")

# ---------------------------------------------------------------- bare pickles, protocols 0-5
plain = {"ints": [0, -1, 300, 2**40, -(2**70)], "float": 2.5, "text": "pickle ü", "tuple": (1, "a"), "nested": {"k": [None, True, False]},
         "set": {3}, "frozen": frozenset({4}), "bytes": b"\x00\x80", "bytearray": bytearray(b"ab"), "complex": 1 + 2j}
# A list longer than a pickler's batch of 1000 appends (protocol 0 appends one item at a time).
plain["long"] = [i * 7 for i in range(1200)]
for proto in range(6):
    with open(os.path.join(OUT, f"plain_protocol{proto}.pkl"), "wb") as f:
        pickle.dump(plain, f, protocol=proto)
    # Below protocol 4 a frozenset pickles as GLOBAL builtins.frozenset, which the allowlist lacks.
    record(f"plain_protocol{proto}.pkl", weights_only=proto >= 4, note=f"a bare Python pickle, protocol {proto}")


# ---------------------------------------------------------------- zip records of newer torch, emulated
def torch_zip(path, records):
    """Writes records (name, bytes) in order with torch's own writer (miniz, 64-byte alignment, version last)."""
    w = torch._C.PyTorchFileWriter(path)
    for name, data in records:
        w.write_record(name, data, len(data))
    w.write_end_of_file()


def storages_of(path):
    with zipfile.ZipFile(path) as z:
        prefix = z.namelist()[0].split("/")[0]
        return prefix, {n[len(prefix) + 1:]: z.read(n) for n in z.namelist()}


# torch >= 2.7 layout: .format_version, .storage_alignment, byteorder, storages in numeric order, serialization id.
torch.manual_seed(0)
src = os.path.join(OUT, "mobilenet_v2_w025.pt")
_, recs = storages_of(src)
keys = sorted((k for k in recs if k.startswith("data/")), key=lambda k: int(k[5:]))
small = {"weight": torch.arange(6.0).reshape(2, 3), "bias": torch.ones(2)}
buf = io.BytesIO()
torch.save(small, buf)
_, recs = storages_of_buf = (None, None)
with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
    prefix = z.namelist()[0].split("/")[0]
    recs = {n[len(prefix) + 1:]: z.read(n) for n in z.namelist()}
layout27 = [("data.pkl", recs["data.pkl"]), (".format_version", b"1"), (".storage_alignment", b"64"), ("byteorder", b"little")]
layout27 += [(k, recs[k]) for k in sorted((k for k in recs if k.startswith("data/")), key=lambda k: int(k[5:]))]
layout27 += [(".data/serialization_id", b"0123456789" * 4)]
torch_zip(os.path.join(OUT, "torch27_layout.pt"), layout27)
record("torch27_layout.pt", note="record set of torch >= 2.7 (.format_version, .storage_alignment, byteorder, .data/serialization_id); 1.13 ignores the extra records")

# big-endian: byteorder=big, every storage swapped by its element size.
big = {"f32": torch.arange(6, dtype=torch.float32).reshape(2, 3) / 3, "i64": torch.tensor([1, -2, 2**40]), "f16": torch.tensor([1.5, -2.25]).half(),
       "c64": torch.tensor([1 + 2j, -3.5j], dtype=torch.complex64), "u8": torch.tensor([1, 2, 255], dtype=torch.uint8)}
buf = io.BytesIO()
torch.save(big, buf)
with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
    prefix = z.namelist()[0].split("/")[0]
    recs = {n[len(prefix) + 1:]: z.read(n) for n in z.namelist()}
import pickletools  # noqa: E402
width = {}
for op, arg, pos in pickletools.genops(recs["data.pkl"]):
    pass
# storage keys follow pickling order: the dict order above
for key, (name, tensor) in enumerate(big.items()):
    width[f"data/{key}"] = tensor.element_size() // (2 if tensor.is_complex() else 1)


def swap(data, w):
    if w == 1:
        return data
    return b"".join(data[i:i + w][::-1] for i in range(0, len(data), w))


be = [("data.pkl", recs["data.pkl"]), ("byteorder", b"big")] + [(k, swap(v, width[k])) for k, v in sorted(recs.items()) if k.startswith("data/")]
torch_zip(os.path.join(OUT, "big_endian.pt"), be)
record("big_endian.pt", big, truth="emulated", fmt="zip", note="byteorder=big with byte-swapped storages (torch >= 2.1 swaps on load; 1.13 cannot)")

# deflated records: Python's zipfile re-packs a torch archive with DEFLATE (torch.load inflates them).
with zipfile.ZipFile(os.path.join(OUT, "linear.pt")) as zin, zipfile.ZipFile(os.path.join(OUT, "deflated.pt"), "w", zipfile.ZIP_DEFLATED) as zout:
    for n in zin.namelist():
        zout.writestr(n, zin.read(n))
record("deflated.pt", note="linear.pt re-packed by Python's zipfile with DEFLATE entries")


# _rebuild_tensor_v3 dtypes of torch >= 2.1/2.3, emulated: stand-in globals pickled under torch's names.
class _Global:
    def __init__(self, module, name):
        self.__module__, self.__qualname__, self.name = module, name, name

    def __reduce__(self):
        return self.name

    def __call__(self, *args):
        raise TypeError("stand-in global; never called")


import torch._utils as tu  # noqa: E402
v3 = {"_rebuild_tensor_v3": _Global("torch._utils", "_rebuild_tensor_v3")}
for name in ("uint16", "uint32", "uint64", "float8_e4m3fn", "float8_e5m2"):
    v3[name] = _Global("torch", name)
setattr(tu, "_rebuild_tensor_v3", v3["_rebuild_tensor_v3"])
for name in ("uint16", "uint32", "uint64", "float8_e4m3fn", "float8_e5m2"):
    setattr(torch, name, v3[name])

raw = {
    "uint16": (struct.pack("<6H", 0, 1, 2, 40000, 65535, 7), (2, 3), 2),
    "uint32": (struct.pack("<3I", 0, 4000000000, 1), (3,), 4),
    "uint64": (struct.pack("<2Q", 2**64 - 1, 5), (2,), 8),
    "float8_e4m3fn": (bytes([0x38, 0x40, 0xb8, 0x00]), (2, 2), 1),
    "float8_e5m2": (bytes([0x3c, 0x40]), (2,), 1),
}


class _V3Tensor:
    def __init__(self, key, dtype, shape):
        self.key, self.dtype, self.shape = key, dtype, shape

    def __reduce__(self):
        stride = tuple(int(torch.tensor(self.shape[i + 1:]).prod()) for i in range(len(self.shape)))
        # tuple(list(...)): fresh tuples, as torch's tuple(self.size()) makes them
        return (v3["_rebuild_tensor_v3"], (_PidStorage(self.key, len(raw[self.dtype][0])), 0, tuple(list(self.shape)), stride, False, collections.OrderedDict(), v3[self.dtype]))


class _PidStorage:
    def __init__(self, key, nbytes):
        self.key, self.nbytes = key, nbytes


class _V3Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _PidStorage):
            return ("storage", torch.UntypedStorage, obj.key, "cpu", obj.nbytes)
        return None


v3obj = collections.OrderedDict((name, _V3Tensor(str(i), name, raw[name][1])) for i, name in enumerate(raw))
pkl = io.BytesIO()
_V3Pickler(pkl, protocol=2).dump(v3obj)
records = [("data.pkl", pkl.getvalue()), ("byteorder", b"little")] + [(f"data/{i}", raw[name][0]) for i, name in enumerate(raw)]
torch_zip(os.path.join(OUT, "v3_dtypes.pt"), records)
import hashlib  # noqa: E402
v3truth = {"format": "zip", "value": {"odict": [[name, {"tensor": {"dtype": name, "shape": list(raw[name][1]), "sha256": hashlib.sha256(raw[name][0]).hexdigest()}}] for name in raw]}}
with open(os.path.join(OUT, "v3_dtypes.pt.truth.json"), "w") as f:
    json.dump(v3truth, f, indent=1)
    f.write("\n")
manifest.append({"file": "v3_dtypes.pt", "format": "zip", "truth": "emulated", "weightsOnly": True,
                 "note": "_rebuild_tensor_v3 with uint16/32/64 and float8 dtypes (torch >= 2.1/2.3), pickled under torch's names"})

# ---------------------------------------------------------------- TorchScript (torch.jit.save), mobile zip
from fixture_classes import Custom, Stateful, WithConstant  # noqa: E402
from torchvision.models.resnet import BasicBlock  # noqa: E402

torch.manual_seed(0)
torch.jit.script(Custom()).save(os.path.join(OUT, "script_custom.pt"))
record("script_custom.pt", weights_only=False, note="scripted module: submodules, parameter, buffer, str/int/float/bool/List/Dict/Tuple/Optional attributes, tensor attribute, exported method")
torch.manual_seed(0)
torch.jit.script(Stateful()).save(os.path.join(OUT, "script_stateful.pt"))
record("script_stateful.pt", weights_only=False, note="scripted module with __getstate__/__setstate__")
torch.manual_seed(0)
torch.jit.script(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))).save(os.path.join(OUT, "script_sequential.pt"))
record("script_sequential.pt", weights_only=False, note="scripted nn.Sequential (module names 0, 1, ...)")
torch.manual_seed(0)
resnet_like = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), BasicBlock(8, 8), BasicBlock(8, 8)).eval()
torch.jit.trace(resnet_like, torch.randn(1, 3, 8, 8)).save(os.path.join(OUT, "trace_resblocks.pt"))
record("trace_resblocks.pt", weights_only=False, note="traced stack of torchvision ResNet BasicBlocks (a traced ResNet-18 is 45 MB)")
torch.manual_seed(0)
torch.jit.trace(WithConstant(), torch.randn(2, 4)).save(os.path.join(OUT, "trace_constant.pt"))
record("trace_constant.pt", weights_only=False, note="traced module with a tensor constant (constants.pkl, constants/0)")
torch.manual_seed(0)
# torchvision's MobileNetV2, with fewer inverted-residual stages so each of its three files stays small.
small_mobilenet = torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=10, inverted_residual_setting=[[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 2, 2], [6, 64, 2, 2]])
torch.jit.script(small_mobilenet).save(os.path.join(OUT, "script_mobilenet_v2_small.pt"))
record("script_mobilenet_v2_small.pt", weights_only=False, note="scripted torchvision MobileNetV2 (width 0.25, four inverted-residual stages)")
# The same modules in the lite-interpreter zip flavour (bytecode.pkl) and as flatbuffer (PTMF) modules.
for stem in ["script_custom", "script_stateful", "script_sequential", "trace_resblocks", "trace_constant", "script_mobilenet_v2_small"]:
    module = torch.jit.load(os.path.join(OUT, f"{stem}.pt"))
    mobile, flat = stem.replace("script_", "mobile_").replace("trace_", "mobile_trace_") + ".ptl", stem.replace("script_", "flatbuffer_").replace("trace_", "flatbuffer_trace_") + ".ff"
    module._save_for_lite_interpreter(os.path.join(OUT, mobile))
    record(mobile, weights_only=False, note=f"{stem} saved with _save_for_lite_interpreter (zip with bytecode.pkl)")
    module._save_for_lite_interpreter(os.path.join(OUT, flat), _use_flatbuffer=True)
    record(flat, weights_only=False, note=f"{stem} saved as a flatbuffer module (PTMF)")

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
    f.write("\n")
print(f"wrote {len(manifest)} fixtures to {OUT}")

# Generators that add their own fixtures and manifest entries: these with torch 1.13 here; then, with torch 2.13
# (.venv-torch/bin/python), numpy_values.py (NumPy 2) and safetensors_files.py.
import numpy_values  # noqa: E402
import old_torchscript  # noqa: E402

old_torchscript.main(OUT)
numpy_values.main(OUT)
