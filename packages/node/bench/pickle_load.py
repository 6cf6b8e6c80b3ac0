"""CPython's C unpickler on a benchmark input. Usage: /usr/bin/python3 pickle_load.py FILE RUNS
Globals resolve to inert stand-ins and persistent ids to None, so only unpickling is measured (no torch objects).
Prints JSON {"times": [...], "peakRssMiB"}."""
import collections
import io
import json
import pickle
import resource
import sys
import time


class Inert:
    def __init__(self, *args):
        pass

    def __setstate__(self, state):
        pass


class Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        return collections.OrderedDict if (module, name) == ("collections", "OrderedDict") else Inert

    def persistent_load(self, pid):
        return None


data = open(sys.argv[1], "rb").read()
times = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    Unpickler(io.BytesIO(data)).load()
    times.append(time.perf_counter() - t)
print(json.dumps({"times": times, "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
