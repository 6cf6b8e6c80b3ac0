"""torch.load's side of the key-listing benchmark.

Usage: /usr/bin/python3 torch_list_keys.py FILE RUNS
Prints JSON: {"times": [seconds...], "bytes_read": rchar delta of one load, "keys": n, "peakRssMiB": ru_maxrss}
torch.load reads every storage, so this is also torch's "read every tensor" figure.
"""
import json
import resource
import sys
import time
import warnings

import torch

warnings.filterwarnings("ignore")


def rchar():
    with open("/proc/self/io") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("rchar"))


path, runs = sys.argv[1], int(sys.argv[2])
times, read = [], 0
for i in range(runs):
    before = rchar()
    t0 = time.perf_counter()
    sd = torch.load(path, map_location="cpu")
    keys = [(k, tuple(v.shape)) for k, v in sd.items()]
    times.append(time.perf_counter() - t0)
    read = rchar() - before
    del sd
print(json.dumps({"times": times, "bytes_read": read, "keys": len(keys), "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
