"""Whether real torch.load runs a differential's payload. Usage: python executes.py FILE...

Each file is loaded with weights_only=False in a fresh temporary working directory (the payload of
test-utils/src/differentials.ts makes a folder named "pwned" there); prints a JSON object from file to
true (the payload ran) or false.
"""
import json
import os
import sys
import tempfile
import warnings

import torch

warnings.filterwarnings("ignore")
out = {}
start = os.getcwd()
for path in sys.argv[1:]:
    path = os.path.abspath(path)
    with tempfile.TemporaryDirectory() as sandbox:
        os.chdir(sandbox)
        try:
            torch.load(path, weights_only=False)
        except Exception:
            pass
        out[os.path.basename(path)] = os.path.isdir("pwned")
        os.chdir(start)
print(json.dumps(out))
