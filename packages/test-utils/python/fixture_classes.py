"""Plain user classes pickled into fixtures; they load as opaque objects."""


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y


import torch
import torch.nn as nn
from typing import Dict, List, Optional, Tuple


class Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.register_buffer("running", torch.zeros(2))

    def forward(self, x):
        return self.lin(x) + self.running


class Custom(nn.Module):
    """A scripted module with attributes of many TorchScript types."""
    counts: Dict[str, int]

    def __init__(self):
        super().__init__()
        self.inner = Inner()
        self.seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
        self.scale = nn.Parameter(torch.ones(1))
        self.name = "custom"
        self.k = 3
        self.ratio = 0.5
        self.flag = True
        self.ids: List[int] = [1, 2, 3]
        self.names: List[str] = ["a", "b"]
        self.counts = {"a": 1, "b": 2}
        self.pair: Tuple[int, str] = (1, "x")
        self.maybe: Optional[int] = None
        self.table = torch.arange(4.0)

    def forward(self, x):
        return self.seq(self.inner(x)) * self.scale + self.k

    @torch.jit.export
    def helper(self, y: int) -> int:
        return y + self.k + len(self.ids)


class Stateful(nn.Module):
    """A scripted module with __getstate__ / __setstate__."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(2, 2))
        self.note = "saved"

    def forward(self, x):
        return x @ self.weight

    @torch.jit.export
    def __getstate__(self):
        return (self.weight, self.note, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, str, bool]):
        self.weight = state[0]
        self.note = state[1]
        self.training = state[2]


class WithConstant(nn.Module):
    """Traced: the tensor created in forward becomes a tensor constant."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return self.lin(x) + torch.tensor([1.0, 2.0, 3.0, 4.0])
