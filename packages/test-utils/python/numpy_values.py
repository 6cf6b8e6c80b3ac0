"""NumPy values in a training checkpoint, for the fixtures (issue 26).

Run with each real torch and the NumPy beside it, which name NumPy's modules differently:
  /usr/bin/python3 numpy_values.py FIXTURES_DIR                  (torch 1.13, NumPy 1: numpy.core)
  .venv-torch/bin/python numpy_values.py FIXTURES_DIR            (torch 2.13, NumPy 2: numpy._core)
Writes numpy_values_np<MAJOR>.pt, its truth (torch.load with weights_only=False, summarized) and its
manifest entry; and the same values without the tensor as bare pickles of protocols 2 and 4
(numpy_values_np<MAJOR>_p<N>.pkl, what pickle.dumps writes), whose truth is pickle.loads'.
"""
import json
import os
import pickle
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_manifest  # noqa: E402
from summarize import summarize  # noqa: E402


def checkpoint():
    """What training code saves beside the weights: the RNG state, metrics, labels, odd arrays."""
    rng = np.random.RandomState(0)
    return {
        "weight": torch.arange(6, dtype=torch.float32).reshape(2, 3),
        "numpy_rng": rng.get_state(),
        "best_metric": np.float64(0.875),
        "steps": np.int64(1200),
        "small": np.float32(0.25),
        "half": np.float16(1.5),
        "done": np.bool_(True),
        "name": np.str_("run-7"),
        "labels": np.array([3, 1, 4, 1, 5], dtype=np.int64),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
        "big_endian": np.array([1.0, -2.0], dtype=">f4"),
        "flags": np.array([True, False]),
        "words": np.array(["ab", "cde"]),
        "objects": np.array(["x", None, 3], dtype=object),
        "empty": np.zeros((0, 4), dtype=np.uint8),
        "dtype": np.dtype("<i2"),
    }


def write_truth(path, fmt, value):
    with open(path + ".truth.json", "w") as f:
        json.dump({"format": fmt, "value": summarize(value)}, f, indent=1, sort_keys=False)
        f.write("\n")


def main(out):
    major = np.__version__.split(".")[0]
    versions = f"NumPy {np.__version__}, torch {torch.__version__.split('+')[0]}"
    name = f"numpy_values_np{major}.pt"
    path = os.path.join(out, name)
    torch.save(checkpoint(), path)
    write_truth(path, "zip", torch.load(path, weights_only=False))
    # NumPy 2's pickles name numpy._core, which NumPy 1 (beside torch 1.13) cannot import: their truth is 2.13's.
    written_by = {"torch": "2.13"} if major == "2" else {}
    entries = [{"file": name, "format": "zip", "truth": "torch", "weightsOnly": False,
                "note": f"arrays, scalars and a dtype of {versions}", **written_by}]
    for protocol in (2, 4):
        pkl = f"numpy_values_np{major}_p{protocol}.pkl"
        values = {k: v for k, v in checkpoint().items() if k != "weight"}
        with open(os.path.join(out, pkl), "wb") as f:
            f.write(pickle.dumps(values, protocol=protocol))
        with open(os.path.join(out, pkl), "rb") as f:
            write_truth(os.path.join(out, pkl), "pickle", pickle.load(f))
        entries.append({"file": pkl, "format": "pickle", "truth": "torch", "weightsOnly": False,
                        "note": f"the same without the tensor, pickle.dumps protocol {protocol} ({versions})", **written_by})
    fixture_manifest.update(out, entries)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fixtures")
