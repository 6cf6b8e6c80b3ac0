"""What torch's own zip reader (PyTorchStreamReader, over miniz) sees in each file.

Usage: python torch_records.py FILE...
Prints one JSON object per line: {"file", "records": [names], "data": base64 of data.pkl (or null)}, or
{"file", "error"} when torch's reader refuses the file.
"""
import base64
import json
import sys
import warnings

import torch

warnings.filterwarnings("ignore")
for path in sys.argv[1:]:
    try:
        reader = torch._C.PyTorchFileReader(path)
        records = sorted(reader.get_all_records())
        data = reader.get_record("data.pkl") if reader.has_record("data.pkl") else None
        print(json.dumps({"file": path, "records": records, "data": None if data is None else base64.b64encode(data).decode()}))
    except Exception as e:  # torch's reader refused it
        print(json.dumps({"file": path, "error": str(e).splitlines()[0] if str(e) else type(e).__name__}))
