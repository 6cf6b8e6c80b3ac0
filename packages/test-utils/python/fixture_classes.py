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


@torch.jit.script
class Box:
    """A TorchScript class (not a module) held as an attribute."""

    def __init__(self, width: int, label: str):
        self.width = width
        self.label = label


class AllTypes(nn.Module):
    """A scripted module with an attribute of each TorchScript type that a mobile module can hold."""
    counts: Dict[str, int]
    no_ints: List[int]
    maybe: Optional[torch.Tensor]

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.i: int = -7
        self.big: int = 2 ** 40
        self.f: float = 0.25
        self.neg_zero: float = -0.0
        self.b: bool = False
        self.s: str = "tw"
        self.empty: str = ""
        self.c: complex = complex(1.5, -2.0)
        self.t = torch.arange(6, dtype=torch.int32).reshape(2, 3)
        self.half = torch.tensor([1.5, -2.0], dtype=torch.float16)
        self.view = self.t[:, 1]
        self.maybe = None
        self.ints: List[int] = [3, -1]
        self.floats: List[float] = [0.5, 1e300]
        self.bools: List[bool] = [True, False]
        self.strs: List[str] = ["x", ""]
        self.tensors: List[torch.Tensor] = [torch.ones(2), torch.zeros(1)]
        self.nested: List[List[int]] = [[1], [2, 3]]
        self.no_ints = []
        self.counts = {"a": 1, "b": 2}
        self.names: Dict[int, str] = {1: "one", 2: "two"}
        self.by_name: Dict[str, torch.Tensor] = {"w": torch.full((2,), 3.0)}
        self.pair: Tuple[int, str, float] = (1, "p", 2.5)
        self.device = torch.device("cpu")
        self.box = Box(4, "box")

    def forward(self, x):
        y = self.lin(x) * self.f + self.i
        if self.b:
            y = y + 1
        y = y + self.t.sum() + self.half.float().sum() + self.view.sum()
        y = y + len(self.s) + len(self.strs) + sum(self.ints) + sum(self.floats[:1]) + float(len(self.bools))
        y = y + self.tensors[0].sum() + len(self.nested[1]) + len(self.no_ints) + self.counts["b"] + len(self.names[2])
        y = y + self.by_name["w"].sum() + self.pair[0] + self.pair[2] + self.box.width + len(self.box.label)
        maybe = self.maybe
        if maybe is not None:
            y = y + maybe
        return y.to(self.device) + self.neg_zero + float(self.big % 7)
