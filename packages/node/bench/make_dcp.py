"""Writes a 4-rank distributed checkpoint of a torch.save state_dict with real torch 2.13 (the DCP benchmark's input).

Usage: .venv-torch/bin/python make_dcp.py SRC.pt OUT_DIR [RANKS]
Each of RANKS processes (gloo, CPU) holds its Shard(0) piece of every tensor as a DTensor (the state is
memory-mapped, so no rank copies the whole) and dcp.save writes the folder: a .metadata and one
__{rank}_0.distcp per rank. A tensor too small to split (fewer rows than ranks) is replicated. Tied
tensors (one storage under two names) are saved under each name, as DCP saves them.
"""
import os
import sys
import tempfile
import warnings

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
import torch.multiprocessing as mp

warnings.filterwarnings("ignore")


def rank_main(rank, world, store, src, out):
    from torch.distributed.tensor import DTensor, Replicate, Shard, init_device_mesh
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    mesh = init_device_mesh("cpu", (world,))
    sd = torch.load(src, mmap=True)
    state = {}
    for name, t in sd.items():
        if t.dim() > 0 and t.shape[0] % world == 0:
            state[name] = DTensor.from_local(t.chunk(world)[rank], mesh, [Shard(0)], run_check=False)
        else:
            state[name] = DTensor.from_local(t, mesh, [Replicate()], run_check=False)
    dcp.save(state, checkpoint_id=out)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    src, out = sys.argv[1], sys.argv[2]
    world = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(rank_main, args=(world, os.path.join(d, "store"), src, out), nprocs=world, join=True)
    print(len(os.listdir(out)))
