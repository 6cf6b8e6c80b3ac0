"""Oracle of torch >= 2.6 (the pip torch 2.13 in .venv-torch) with its own defaults.

  oracle_torch2.py check                  exit 0 if torch >= 2.6 imports; prints its version
  oracle_torch2.py load FILE...           one JSON line per file: {"file", "summary"} from torch.load(FILE)
                                          with torch's defaults (weights_only=True since 2.6), or
                                          {"file", "error"} when it refuses or fails
  oracle_torch2.py load-mmap FILE...      the same with mmap=True
  oracle_torch2.py st-save SRC OUT...     safetensors' save_file of SRC's tensors (flattened, deduplicated, contiguous)
  oracle_torch2.py hub-save SRC DIR MAX SAFE   huggingface_hub's save_torch_state_dict of SRC's tensors into DIR, shards
                                          of at most MAX bytes (SAFE 1: safetensors, 0: torch.save); prints {"files"}
  oracle_torch2.py st-many OUT N           save_file of N small tensors (a header of megabytes); {"file", "summary"}
  oracle_torch2.py st-load FILE...        {"file", "summary"} of safetensors.torch.load_file(FILE)
  oracle_torch2.py load-unsafe FILE...    {"file", "summary"} from torch.load(FILE, weights_only=False), or
                                          pickle.load for a .pkl file (the fixtures torch 2.13 wrote)
  oracle_torch2.py save-dtypes OUT        torch.save of tensors of the dtypes torch 1.13 lacks (uint16/32/64,
                                          float8 variants) and a bfloat16 view; prints {"file", "summary"}
  oracle_torch2.py stream-save FILE OUT   torch.load FILE (defaults), then the real _streaming_save into OUT
  oracle_torch2.py stream-load FILE       the real _streaming_load of FILE; prints {"file", "summary"}
  oracle_torch2.py dcp-to-torch DIR OUT...   torch's dcp_to_torch_save of each DIR into its OUT; prints {"file", "summary"}
                                          of torch.load(OUT) (defaults: weights-only), or {"file", "error"}
  oracle_torch2.py torch-to-dcp SRC DIR...   torch's torch_save_to_dcp of each SRC into its DIR; prints {"file"} or {"file", "error"}
  oracle_torch2.py dcp-load DIR REF...    dcp.load of each DIR into a state shaped as torch.load(REF) with its tensors
                                          zeroed; prints {"file", "equal": [names], "different": [names], "unchecked": [quantized
                                          tensors, which cannot be zeroed]} against REF
"""
import json
import os
import pickle
import sys
import warnings

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
from summarize import summarize  # noqa: E402


def emit(path, value):
    print(json.dumps({"file": path, "summary": {"format": "zip", "value": summarize(value)}}))


def flat_tensors(src):
    """SRC's tensors by dotted name, as torchwire flattens nested dicts and lists; ValueError naming the rest."""
    from safetensors.torch import load_file
    value = load_file(src) if src.endswith(".safetensors") else torch.load(src, weights_only=False)
    flat, others = {}, []

    def walk(v, path):
        if isinstance(v, torch.Tensor):
            flat[path] = v
        elif isinstance(v, (dict, list)):
            for k, x in (v.items() if isinstance(v, dict) else enumerate(v)):
                walk(x, f"{path}.{k}" if path else str(k))
        else:
            others.append(path)
    walk(value, "")
    if others:
        raise ValueError(f"not tensors: {others}")
    return flat


def st_save(src, out):
    """safetensors' save_file of SRC's tensors (see st-save)."""
    from safetensors.torch import _remove_duplicate_names, save_file
    flat = flat_tensors(src)
    for names in _remove_duplicate_names(flat).values():
        for name in names:
            del flat[name]
    save_file({k: v.contiguous() for k, v in flat.items()}, out, metadata={"format": "pt"})


def dcp_load(directory, ref):
    """dcp.load of DIRECTORY into zeros shaped as REF's tensors (see dcp-load); non-tensor values loaded as they are."""
    import torch.distributed.checkpoint as dcp
    expected = torch.load(ref, weights_only=False)

    unchecked = []

    def zeroed(v):
        if isinstance(v, torch.Tensor):
            # A quantized tensor cannot be zeroed (no zero_ for QuantizedCPU): loaded into as it is, and said so.
            return v.clone() if v.is_quantized and v.dtype != torch.quint4x2 else v if v.is_quantized else torch.zeros_like(v)
        if isinstance(v, dict):
            return {k: zeroed(x) for k, x in v.items()}
        if isinstance(v, list):
            return [zeroed(x) for x in v]
        return v
    state = zeroed(expected)
    dcp.load(state, checkpoint_id=directory, no_dist=True)
    equal, different = [], []

    def compare(a, b, path):
        if isinstance(b, torch.Tensor) and b.is_quantized:
            unchecked.append(path)
        elif isinstance(b, torch.Tensor):
            same = isinstance(a, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(torch.uint8) if a.dtype.itemsize == 1 else a, b.view(torch.uint8) if b.dtype.itemsize == 1 else b)
            (equal if same else different).append(path)
        elif isinstance(b, dict):
            for k in b:
                compare(a.get(k), b[k], f"{path}.{k}" if path else str(k))
        elif isinstance(b, list):
            for i, x in enumerate(b):
                compare(a[i] if i < len(a) else None, x, f"{path}.{i}" if path else str(i))
        else:
            nan = isinstance(a, float) and isinstance(b, float) and a != a and b != b
            (equal if nan or a == b else different).append(path)
    compare(state, expected, "")
    return {"equal": equal, "different": different, "unchecked": unchecked}


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "check":
        major, minor = (int(x) for x in torch.__version__.split(".")[:2])
        if (major, minor) < (2, 6):
            sys.exit(f"torch {torch.__version__} is older than 2.6")
        print(torch.__version__)
    elif cmd in ("load", "load-mmap"):
        for path in args:
            try:
                value = torch.load(path, mmap=cmd == "load-mmap")
            except Exception as e:  # refused (weights-only) or unreadable: said, not raised
                print(json.dumps({"file": path, "error": f"{type(e).__name__}: {str(e).splitlines()[-1] if str(e) else ''}"}))
                continue
            emit(path, value)
    elif cmd == "load-unsafe":
        for path in args:
            if path.endswith(".pkl"):
                with open(path, "rb") as f:
                    print(json.dumps({"file": path, "summary": {"format": "pickle", "value": summarize(pickle.load(f))}}))
            else:
                emit(path, torch.load(path, weights_only=False))
    elif cmd == "st-save":
        # What safetensors' own save writes for a file's tensors, as torchwire's convert takes them: nested dicts
        # and lists flattened to dotted names, tensors over one storage written once (save_model's rule), made
        # contiguous, metadata {"format": "pt"}. For each SRC OUT pair, prints {"file"}, or {"error"} (a leaf
        # that is no tensor, or a file torch does not load).
        for src, out in zip(args[0::2], args[1::2]):
            try:
                st_save(src, out)
                print(json.dumps({"file": out}))
            except Exception as e:  # said, not raised
                print(json.dumps({"file": out, "error": f"{type(e).__name__}: {e}"}))
    elif cmd == "hub-save":
        # huggingface_hub's save_torch_state_dict (transformers' save_pretrained) of SRC's tensors into DIR:
        # safetensors shards (SAFE 1) or torch.save shards (SAFE 0), split at MAX bytes. Prints {"files"}.
        from huggingface_hub import save_torch_state_dict
        src, out, max_size, safe = args
        os.makedirs(out, exist_ok=True)
        save_torch_state_dict(flat_tensors(src), out, max_shard_size=int(max_size), safe_serialization=safe == "1")
        print(json.dumps({"files": sorted(os.listdir(out))}))
    elif cmd == "st-many":
        # save_file of N small tensors of mixed dtypes under long names: a header of megabytes. Prints {"file", "summary"}.
        from safetensors.torch import load_file, save_file
        out, n = args
        g = torch.Generator().manual_seed(0)
        dtypes = [torch.float32, torch.bfloat16, torch.int64, torch.uint8, torch.float16]
        # No empty tensors: load_file orders tensors by offset, and those at one offset (empty ones) in a random order.
        tensors = {f"model.layers.{i}.{'x' * 40}.weight": torch.randint(0, 100, (i % 5 + 1, 3), generator=g).to(dtypes[i % 5]) for i in range(int(n))}
        save_file(tensors, out, metadata={"format": "pt", "note": "many"})
        print(json.dumps({"file": out, "summary": {"format": "safetensors", "value": summarize(load_file(out))}}))
    elif cmd == "st-load":
        from safetensors.torch import load_file
        for path in args:
            print(json.dumps({"file": path, "summary": {"format": "safetensors", "value": summarize(load_file(path))}}))
    elif cmd == "save-dtypes":
        torch.manual_seed(0)
        base = torch.randn(4, 6) * 10
        value = {
            "u16": torch.arange(0, 60000, 5000, dtype=torch.int32).to(torch.uint16),
            "u32": torch.tensor([0, 1, 2**32 - 1], dtype=torch.int64).to(torch.uint32),
            "u64": torch.tensor([0, 2**62], dtype=torch.int64).to(torch.uint64),
            "e4m3": base.to(torch.float8_e4m3fn),
            "e5m2": base.to(torch.float8_e5m2),
            "bf16_view": base.to(torch.bfloat16).t()[1:],
        }
        torch.save(value, args[0])
        emit(args[0], torch.load(args[0]))
    elif cmd == "stream-save":
        from torch.distributed._serialization import _streaming_save
        with open(args[1], "wb") as f:
            _streaming_save(torch.load(args[0]), f)
    elif cmd == "stream-load":
        from torch.distributed._serialization import _streaming_load
        with open(args[0], "rb") as f:
            emit(args[0], _streaming_load(f))
    elif cmd == "dcp-to-torch":
        from torch.distributed.checkpoint.format_utils import dcp_to_torch_save
        for src, out in zip(args[0::2], args[1::2]):
            try:
                dcp_to_torch_save(src, out)
                emit(out, torch.load(out))
            except BaseException as e:  # said, not raised (DCP's CheckpointException is no Exception)
                print(json.dumps({"file": out, "error": f"{type(e).__name__}: {e}"}))
    elif cmd == "torch-to-dcp":
        from torch.distributed.checkpoint.format_utils import torch_save_to_dcp
        for src, out in zip(args[0::2], args[1::2]):
            try:
                torch_save_to_dcp(src, out)
                print(json.dumps({"file": out}))
            except BaseException as e:  # said, not raised (DCP's CheckpointException is no Exception)
                print(json.dumps({"file": out, "error": f"{type(e).__name__}: {e}"}))
    elif cmd == "dcp-load":
        for directory, ref in zip(args[0::2], args[1::2]):
            print(json.dumps({"file": directory, **dcp_load(directory, ref)}))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
