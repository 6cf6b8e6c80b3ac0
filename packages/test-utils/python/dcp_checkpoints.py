"""Distributed checkpoints (torch.distributed.checkpoint) as real torch writes them, for the fixtures (issue 28).

Run with torch 2.13:  .venv-torch/bin/python dcp_checkpoints.py OUT_DIR
Writes three DCP directories under OUT_DIR, each with its truth beside it (DIR.truth.json: what
torch's dcp_to_torch_save writes, read back with torch.load and summarized):
  dcp_single/  one process (dcp.save(no_dist=True)): a nested training state: dtypes, a scalar, an
               empty tensor, an optimizer's state and param_groups, non-tensor values;
  dcp_2rank/   two ranks on gloo: DTensors sharded Shard(0), Shard(1) (one of them unevenly),
               replicated, a plain tensor every rank holds, each rank's own value;
  dcp_4rank_fsdp/  four ranks: an FSDP2 (fully_shard) model and its Adam state after one step,
               through torch.distributed.checkpoint.state_dict.get_state_dict.
Every file is small (the tensors are tiny): the directories are committed.
"""
import json
import os
import shutil
import sys
import tempfile
import warnings

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
import torch.multiprocessing as mp
from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from summarize import summarize  # noqa: E402

warnings.filterwarnings("ignore")


def single_state():
    """A training checkpoint's shape: a model, an optimizer, counters and names."""
    g = torch.Generator().manual_seed(0)
    model = {
        "embed.weight": torch.randn(5, 4, generator=g),
        "norm.weight": torch.randn(4, generator=g).to(torch.bfloat16),
        "head.weight": torch.randn(3, 4, generator=g).to(torch.float16),
        "ids": torch.arange(7, dtype=torch.int64),
        "mask": torch.tensor([True, False, True]),
        "scale": torch.tensor(0.5, dtype=torch.float64),
        "empty": torch.zeros(0, 3),
        "view": torch.arange(12, dtype=torch.int32).reshape(3, 4)[1:, 1:3],
    }
    optim = {
        "state": {"embed.weight": {"step": torch.tensor(3.0), "exp_avg": torch.randn(5, 4, generator=g)}},
        "param_groups": [{"lr": 0.01, "betas": (0.9, 0.999), "params": ["embed.weight"]}],
    }
    return {"model": model, "optim": optim, "epoch": 3, "run": "dcp-fixture", "history": [1.5, 0.75]}


def init(rank, world, store):
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)


def finish():
    """Every rank done before any leaves (gloo's teardown once aborted a rank that left early)."""
    dist.barrier()
    dist.destroy_process_group()


def two_ranks(rank, world, store, out):
    """DTensors over a 2-rank mesh, saved to OUT."""
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor, init_device_mesh
    init(rank, world, store)
    mesh = init_device_mesh("cpu", (world,))
    g = torch.Generator().manual_seed(1)
    rows = torch.randn(6, 4, generator=g)
    cols = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    uneven = torch.randn(5, 3, generator=g).to(torch.bfloat16)
    both = torch.arange(10, dtype=torch.int64)
    sd = {
        "rows": distribute_tensor(rows, mesh, [Shard(0)]),
        "cols": distribute_tensor(cols, mesh, [Shard(1)]),
        "uneven": distribute_tensor(uneven, mesh, [Shard(0)]),
        "replicated": distribute_tensor(both.float(), mesh, [Replicate()]),
        "plain": both,
        "meta": {"world": world, "tag": "two"},
    }
    dcp.save(sd, checkpoint_id=out)
    finish()


def fsdp_ranks(rank, world, store, out):
    """An FSDP2 model and its Adam state after one step, over 4 ranks, saved to OUT."""
    from torch.distributed.checkpoint.state_dict import get_state_dict
    from torch.distributed.fsdp import fully_shard
    init(rank, world, store)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    for layer in (model[0], model[2]):
        fully_shard(layer)
    fully_shard(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(2)
    model(torch.randn(4, 8, generator=g)).sum().backward()
    opt.step()
    model_sd, optim_sd = get_state_dict(model, opt)
    dcp.save({"model": model_sd, "optim": optim_sd, "step": 1}, checkpoint_id=out)
    finish()


def spawn(fn, world, out, attempts=3):
    """Runs FN on WORLD processes; again (from scratch) if one of them dies."""
    for attempt in range(attempts):
        shutil.rmtree(out, ignore_errors=True)
        try:
            with tempfile.TemporaryDirectory() as d:
                mp.spawn(fn, args=(world, os.path.join(d, "store"), out), nprocs=world, join=True)
            return
        except mp.ProcessExitedException:
            if attempt == attempts - 1:
                raise


def truth(directory):
    """What dcp_to_torch_save makes of DIRECTORY, loaded back by torch.load and summarized."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "out.pt")
        dcp_to_torch_save(directory, path)
        value = torch.load(path, weights_only=False)
    with open(directory.rstrip("/") + ".truth.json", "w") as f:
        json.dump({"format": "dcp", "value": summarize(value)}, f, indent=1)
        f.write("\n")


def main(out):
    os.makedirs(out, exist_ok=True)
    single = os.path.join(out, "dcp_single")
    shutil.rmtree(single, ignore_errors=True)
    dcp.save(single_state(), checkpoint_id=single, no_dist=True)
    for name, fn, world in (("dcp_2rank", two_ranks, 2), ("dcp_4rank_fsdp", fsdp_ranks, 4)):
        spawn(fn, world, os.path.join(out, name))
    for name in ("dcp_single", "dcp_2rank", "dcp_4rank_fsdp"):
        truth(os.path.join(out, name))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fixtures/dcp")
