"""Inputs of the unpickling benchmark. Usage: /usr/bin/python3 make_pickles.py OUT_DIR
  mixed.pkl   a 1M-item list of ints, floats, strs, tuples, None and bools (protocol 2)
  sd100k.pkl  data.pkl of torch.save of a 100k-tensor state_dict
  sd100k.pt   that whole checkpoint (the many-records save benchmark)
"""
import collections
import io
import os
import pickle
import sys
import warnings
import zipfile

import torch

warnings.filterwarnings("ignore")
out = sys.argv[1]
rows = [[i, float(i) * 0.5, str(i), (i, i + 1), None, True] for i in range(1_000_000 // 6)]
with open(os.path.join(out, "mixed.pkl"), "wb") as f:
    pickle.dump([x for row in rows for x in row], f, protocol=2)
sd = collections.OrderedDict((f"layer{i}.weight", torch.zeros(2)) for i in range(100_000))
buf = io.BytesIO()
torch.save(sd, buf)
with open(os.path.join(out, "sd100k.pt"), "wb") as f:
    f.write(buf.getvalue())
with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z, open(os.path.join(out, "sd100k.pkl"), "wb") as f:
    f.write(z.read(next(n for n in z.namelist() if n.endswith("data.pkl"))))
