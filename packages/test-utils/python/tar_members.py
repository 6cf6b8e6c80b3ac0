"""What Python's tarfile (torch.load's tar reader) lists in each file.

Usage: python tar_members.py FILE...
Prints one JSON object per line: {"file", "members": [[name, offset, size]]} (regular files only, in order), or
{"file", "error"} when tarfile refuses the file.
"""
import json
import sys
import tarfile

for path in sys.argv[1:]:
    try:
        with tarfile.open(path, mode="r:", format=tarfile.PAX_FORMAT) as tar:
            members = [[m.name, m.offset_data, m.size] for m in tar.getmembers() if m.isreg()]
        print(json.dumps({"file": path, "members": members}))
    except Exception as e:  # tarfile refused it
        print(json.dumps({"file": path, "error": type(e).__name__}))
