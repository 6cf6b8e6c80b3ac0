"""Real-torch oracle for the interop tests.

  oracle.py check                 exit 0 if torch and torchvision import
  oracle.py summarize FILE...     one JSON line per file: {"file", "summary"} (torch.load)
  oracle.py dis FILE...           one JSON line per file: {"file", "text"}: pickletools.dis of
                                  data.pkl (zip) or of the whole file (bare pickle)
  oracle.py zipcheck FILE...      one JSON line per file: {"file", "crc_ok", "aligned", "names", "crcs"}:
                                  Python's zipfile verifies every CRC (crcs: the central directory's),
                                  and every record's data offset is checked to be a multiple of 64
  oracle.py jit-compare ORIG RESAVED REPLACEMENTS_JSON INPUT_SHAPE_JSON
                                  loads ORIG with torch.jit.load and sets the replaced parameters/buffers
                                  in place, loads RESAVED, runs both on the same input; prints
                                  {"equal": bool, "max_abs_diff": float, "state_equal": bool}
  oracle.py bytecode FILE          bytecode.pkl of a mobile zip, read with Python's pickle (torch.jit._pickle
                                  helpers; storages stubbed): {"version", "methods": [{"name", "instructions",
                                  "operators", "types", "register_size"}]}
  oracle.py resnet OUT             traces a randomly initialised torchvision resnet18 and writes it to OUT as
                                  resnet18.pt (torch.jit.save), .ptl (lite zip) and .ff (flatbuffer); prints the paths
  oracle.py random OUT SEED N     writes N random checkpoints with torch.save into OUT
                                  (zip and legacy formats, pickle protocols 2-4, random dtypes,
                                  shapes, views, parameters and nesting), one JSON line each
"""
import io
import json
import os
import pickletools
import random
import sys
import warnings
import zipfile

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def dis_text(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(path) as z:
            data = z.read(next(n for n in z.namelist() if n.endswith("/data.pkl")))
    out = io.StringIO()
    pickletools.dis(data, out)
    return out.getvalue()


def random_value(rng, torch, depth=0):
    kind = rng.choice(["tensor", "tensor", "tensor", "view", "param", "dict", "list", "scalar"] if depth < 3 else ["tensor", "scalar"])
    if kind in ("tensor", "view", "param"):
        dtype = rng.choice([torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
                            torch.int8, torch.uint8, torch.bool, torch.complex64])
        shape = [rng.randint(0, 5) for _ in range(rng.randint(0, 4))]
        t = (torch.randn(shape) * 100).to(dtype) if dtype is not torch.complex64 else torch.randn(shape, dtype=dtype)
        if kind == "view" and t.dim() >= 2:
            t = rng.choice([t.transpose(0, 1), t[..., ::2], t.narrow(0, 0, max(t.shape[0] - 1, 0))])
        if kind == "param" and t.is_floating_point():
            t = torch.nn.Parameter(t, requires_grad=rng.random() < 0.5)
        return t
    if kind == "dict":
        return {f"k{i}": random_value(rng, torch, depth + 1) for i in range(rng.randint(0, 4))}
    if kind == "list":
        return [random_value(rng, torch, depth + 1) for _ in range(rng.randint(0, 4))]
    return rng.choice([None, True, rng.randint(-2**70, 2**70), rng.random(), "text", (1, 2.5)])


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "check":
        import torch  # noqa: F401
        import torchvision  # noqa: F401
        return
    if cmd == "zipcheck":
        import struct
        for path in args:
            with zipfile.ZipFile(path) as z, open(path, "rb") as f:
                bad = z.testzip()
                offsets = []
                for info in z.infolist():
                    f.seek(info.header_offset + 26)
                    n, m = struct.unpack("<HH", f.read(4))
                    offsets.append(info.header_offset + 30 + n + m)
                print(json.dumps({"file": path, "crc_ok": bad is None, "aligned": all(o % 64 == 0 for o in offsets), "names": z.namelist(), "crcs": [i.CRC for i in z.infolist()]}))
        return
    if cmd == "jit-compare":
        import torch
        orig, resaved, replacements, shape = args[0], args[1], json.loads(args[2]), json.loads(args[3])
        m0, m1 = torch.jit.load(orig), torch.jit.load(resaved)
        tensors = dict(m0.named_parameters())
        tensors.update(dict(m0.named_buffers()))
        with torch.no_grad():
            for name, values in replacements.items():
                t = tensors[name]
                t.copy_(torch.tensor(values, dtype=t.dtype).reshape(t.shape))
        m0.eval()
        m1.eval()
        torch.manual_seed(0)
        x = torch.randn(shape)
        y0, y1 = m0(x), m1(x)
        s0, s1 = m0.state_dict(), m1.state_dict()
        print(json.dumps({"equal": bool(torch.equal(y0, y1)), "max_abs_diff": float((y0 - y1).abs().max()),
                          "state_equal": list(s0) == list(s1) and all(torch.equal(s0[k], s1[k]) for k in s0)}))
        return
    if cmd == "bytecode":
        import pickle
        import torch  # noqa: F401  (torch.jit._pickle, torch._utils)

        class U(pickle.Unpickler):
            def persistent_load(self, pid):
                return torch.UntypedStorage(0)
        with zipfile.ZipFile(args[0]) as z:
            data = z.read(next(n for n in z.namelist() if n.endswith("/bytecode.pkl")))
        try:
            value = U(io.BytesIO(data)).load()
        except Exception:  # tensor constants need real storages; fall back to structure only
            value = None
        version, *methods = value
        out = [{"name": m[0], "instructions": [list(i) for i in m[1][0][1]], "operators": [list(o) for o in m[1][1][1]],
                "types": list(m[1][3][1]), "register_size": m[1][4][1]} for m in methods]
        print(json.dumps({"version": version, "methods": out}))
        return
    if cmd == "resnet":
        import torch
        import torchvision
        out = args[0]
        os.makedirs(out, exist_ok=True)
        torch.manual_seed(0)
        traced = torch.jit.trace(torchvision.models.resnet18().eval(), torch.randn(1, 3, 64, 64))
        paths = [os.path.join(out, f"resnet18.{ext}") for ext in ("pt", "ptl", "ff")]
        traced.save(paths[0])
        traced._save_for_lite_interpreter(paths[1])
        traced._save_for_lite_interpreter(paths[2], _use_flatbuffer=True)
        for p in paths:
            print(json.dumps({"file": p}))
        return
    if cmd == "dis":
        for path in args:
            print(json.dumps({"file": path, "text": dis_text(path)}))
        return
    from summarize import load, module_summary, summarize
    if cmd == "summarize":
        for path in args:
            fmt, value = load(path)
            v = module_summary(value) if fmt in ("torchscript", "mobile", "flatbuffer") else summarize(value)
            print(json.dumps({"file": path, "summary": {"format": fmt, "value": v}}))
        return
    if cmd == "random":
        import torch
        out, seed, n = args[0], int(args[1]), int(args[2])
        os.makedirs(out, exist_ok=True)
        rng = random.Random(seed)
        torch.manual_seed(seed)
        for i in range(n):
            value = {f"entry{j}": random_value(rng, torch) for j in range(rng.randint(1, 6))}
            # shared storage across entries
            first = next((v for v in value.values() if isinstance(v, torch.Tensor) and v.numel() > 1), None)
            if first is not None:
                value["alias"] = first.flatten()[1:]
            legacy = rng.random() < 0.3
            path = os.path.join(out, f"random{i}.pt")
            torch.save(value, path, _use_new_zipfile_serialization=not legacy, pickle_protocol=rng.choice([2, 3, 4]))
            fmt, loaded = load(path)
            print(json.dumps({"file": path, "summary": {"format": fmt, "value": summarize(loaded)}}))
        return
    raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
