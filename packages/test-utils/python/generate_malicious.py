"""Writes malicious sample files for `torchwire scan` tests: pickles whose
loading in Python would call dangerous functions. pickle.dumps only records
a reduction; nothing here calls the functions named.

Run: /usr/bin/python3 generate_malicious.py OUT_DIR
manifest.json lists each file with the dangerous globals a scanner must
report ("expect", as module.name with Python 3 names) and the verdict.
"""
import builtins
import ctypes
import importlib
import io
import json
import marshal
import operator
import os
import pickle
import pkgutil
import pty
import runpy
import shutil
import socket
import subprocess
import sys
import warnings
import webbrowser
import zipfile

import torch

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
manifest = []


class Call:
    """Pickles as a call of `fn(*args)`."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def name_of(fn):
    return f"{fn.__module__}.{fn.__qualname__}"


class _Stop(Exception):
    pass


def loaded_names(data):
    """The globals Python's own Unpickler would import for this pickle (after its 2 -> 3 renames), stopping
    at the first: find_class receives the names from the stream, and pickle's renaming is applied as it would be."""
    import _compat_pickle
    names = []

    class Recorder(pickle._Unpickler):  # the pure-Python unpickler exposes self.proto
        def find_class(self, module, name):
            if self.proto < 3:
                if (module, name) in _compat_pickle.NAME_MAPPING:
                    module, name = _compat_pickle.NAME_MAPPING[(module, name)]
                elif module in _compat_pickle.IMPORT_MAPPING:
                    module = _compat_pickle.IMPORT_MAPPING[module]
            names.append(f"{module}.{name}")
            raise _Stop()

    try:
        Recorder(io.BytesIO(data)).load()
    except _Stop:
        pass
    return names


def write(name, data, expect, note, loads=False):
    """expect=None: the global Python's Unpickler would import first (bare pickles).
    loads=True: what torch.load unpickles is benign (the payload sits where nothing loads it), so a
    weights-only load succeeds; scan must still flag the file."""
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    manifest.append({"file": name, "expect": loaded_names(data) if expect is None else expect, "verdict": "dangerous",
                     "weightsOnlyLoads": loads, "note": note})


targets = [
    (os.system, ("echo pwned",)), (subprocess.Popen, (["ls"],)), (builtins.eval, ("1+1",)), (builtins.exec, ("pass",)),
    (builtins.getattr, ("", "join")), (builtins.__import__, ("os",)), (builtins.open, ("/etc/passwd",)),
    (pickle.loads, (b"N.",)), (marshal.loads, (b"N",)), (runpy.run_path, ("x.py",)), (pty.spawn, ("sh",)),
    (socket.create_connection, (("127.0.0.1", 1),)), (webbrowser.open, ("http://127.0.0.1/",)),
    (importlib.import_module, ("os",)), (ctypes.CDLL, ("libc.so.6",)), (operator.attrgetter, ("system",)),
    (operator.methodcaller, ("system", "ls")), (pkgutil.resolve_name, ("os:system",)), (shutil.rmtree, ("/tmp/none",)),
    (torch.hub.load, ("repo", "model")),
]
for i, (fn, args) in enumerate(targets):
    protocol = i % 6
    write(f"reduce_{fn.__module__}_{fn.__qualname__}_p{protocol}.pkl", pickle.dumps(Call(fn, *args), protocol=protocol),
          None, f"REDUCE of {name_of(fn)}, pickle protocol {protocol}")

# Hand-written opcode tricks.
write("inst_os_system.pkl", b"(S'ls'\nios\nsystem\n.", ["os.system"], "INST names the callable inline (protocol 0)")
write("obj_os_system.pkl", b"(cos\nsystem\nS'ls'\no.", ["os.system"], "OBJ calls the class after the MARK")
write("newobj_subprocess.pkl", b"\x80\x02csubprocess\nPopen\n]q\x00X\x02\x00\x00\x00lsq\x01a\x85\x81.", ["subprocess.Popen"], "NEWOBJ instantiates subprocess.Popen")
write("stack_global_memo.pkl",
      b"\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94" b"00" b"h\x00h\x01\x93\x8c\x031+1\x85R.",
      ["builtins.eval"], "STACK_GLOBAL whose strings were memoized, popped, then fetched back with BINGET")
write("stack_global_dup.pkl", b"\x80\x04\x8c\x02os\x94\x8c\x06system\x942" b"0" b"\x93\x8c\x02ls\x85R.",
      ["os.system"], "STACK_GLOBAL after DUP/POP juggling")
write("trailing_second_pickle.pkl", pickle.dumps({"benign": 1}, protocol=2) + pickle.dumps(Call(os.system, "ls"), protocol=2),
      ["posix.system"], "a benign pickle followed by a second, malicious one in the same file")

# Globals hidden in checkpoints.
buf = io.BytesIO()
torch.save({"model": {"layers": [torch.zeros(2), {"hook": Call(builtins.exec, "print(1)")}]}}, buf)
write("nested_in_zip.pt", buf.getvalue(), ["builtins.exec"], "torch.save zip with a malicious object deep in data.pkl")
buf = io.BytesIO()
torch.save({"weight": torch.zeros(2), "x": Call(subprocess.call, ["ls"])}, buf, _use_new_zipfile_serialization=False)
write("legacy_malicious.pt", buf.getvalue(), ["subprocess.call"], "legacy-format checkpoint with a malicious object")
from stream_peer import _streaming_save  # noqa: E402
buf = io.BytesIO()
_streaming_save({"w": torch.ones(2), "payload": Call(os.system, "ls")}, buf)
write("malicious.stream", buf.getvalue(), ["posix.system"], "_streaming_save format with a malicious data.pkl")
zbuf = io.BytesIO()
torch.save({"run": Call(runpy.run_module, "os")}, zbuf)
write("polyglot_pickle_zip.pt", pickle.dumps({"benign": True}, protocol=2) + zbuf.getvalue(), ["runpy.run_module"],
      "a benign pickle for pickle.load with a malicious zip checkpoint appended (a polyglot)")
zbuf = io.BytesIO()
with zipfile.ZipFile(zbuf, "w") as z:
    z.writestr("archive/data.pkl", pickle.dumps({"w": 1}, protocol=2))
    z.writestr("archive/extra/evil.pkl", pickle.dumps(Call(os.execv, "/bin/sh", ["sh"]), protocol=2))
    z.writestr("archive/version", "3\n")
write("hidden_record.pt", zbuf.getvalue(), ["posix.execv"], "a malicious pickle in a record other than data.pkl", loads=True)

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
    f.write("\n")
print(f"wrote {len(manifest)} malicious samples to {OUT}")
