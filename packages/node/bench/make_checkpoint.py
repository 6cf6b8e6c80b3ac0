"""Writes a transformer-shaped state_dict of about SIZE_MIB MiB with real torch.save.

Usage: /usr/bin/python3 make_checkpoint.py OUT.pt SIZE_MIB
Tensor contents are zeros (fast to make; the benchmark measures structure, not values).
"""
import collections
import sys
import warnings

import torch

warnings.filterwarnings("ignore")
out, size_mib = sys.argv[1], int(sys.argv[2])
hidden, vocab = 1024, 32000
per_layer = 4 * hidden * hidden + 2 * hidden * 4 * hidden + 4 * hidden  # attention, mlp, norms
layers = max(1, (size_mib * 2**20 // 4 - vocab * hidden) // per_layer)
sd = collections.OrderedDict()
sd["embed.weight"] = torch.zeros(vocab, hidden)
for i in range(layers):
    p = f"layers.{i}."
    sd[p + "attn.qkv.weight"] = torch.zeros(3 * hidden, hidden)
    sd[p + "attn.out.weight"] = torch.zeros(hidden, hidden)
    sd[p + "mlp.up.weight"] = torch.zeros(4 * hidden, hidden)
    sd[p + "mlp.down.weight"] = torch.zeros(hidden, 4 * hidden)
    for n in ("norm1", "norm2"):
        sd[p + n + ".weight"] = torch.ones(hidden)
        sd[p + n + ".bias"] = torch.zeros(hidden)
sd["head.weight"] = sd["embed.weight"]  # tied weights share one storage
torch.save(sd, out)
print(len(sd))
