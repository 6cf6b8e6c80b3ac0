"""torch.save's side of the save benchmark.

Usage: /usr/bin/python3 torch_save.py IN OUT
Loads IN (a state_dict), then times torch.save to OUT. Prints JSON:
{"seconds", "peakRssMiB" (of the whole process, which holds the loaded tensors), "bytes"}
"""
import io
import json
import os
import resource
import subprocess
import sys
import time
import warnings

import torch

warnings.filterwarnings("ignore")
src, out = sys.argv[1], sys.argv[2]
sd = torch.load(src, map_location="cpu")
# A warm-up save, as save_worker.ts does: the timed save then runs with everything it uses loaded.
torch.save({"w": torch.zeros(4)}, io.BytesIO())
# Fresh pages for the page cache, as save_worker.ts's warmFreeMemory: touched by a child process that exits right
# before the timed save (a child, so that this process's ru_maxrss stays its own).
subprocess.run([sys.executable, "-c", f"b'\\x01' * {int(os.path.getsize(src) * 1.25)}"], check=True)
t0 = time.perf_counter()
torch.save(sd, out)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "bytes": os.path.getsize(out)}))
