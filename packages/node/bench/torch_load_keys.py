"""torch.load's side of the start-up benchmark: a whole process that loads a checkpoint and prints its keys.

Usage: python torch_load_keys.py FILE [--mmap]
torch.load with the installed torch's defaults (weights_only=True on torch >= 2.6), or with mmap=True; prints every
key and shape, as `torchwire inspect --all` prints the tree.
"""
import sys
import warnings

import torch

warnings.filterwarnings("ignore")
sd = torch.load(sys.argv[1], map_location="cpu", mmap="--mmap" in sys.argv[2:])
for key, value in sd.items():
    print(key, tuple(value.shape))
