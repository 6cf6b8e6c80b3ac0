"""TorchScript archives laid out as torch of about 1.3 wrote them (archive version 1), for the fixtures.

torch 1.3's C++ pickler closed each storage's persistent id with a sixth item, the view metadata
(always None): ('storage', torch.FloatStorage, '0', 'cpu', 16384, None). torch 1.13's TorchScript
unpickler reads the first five items and ignores the rest. `write_version1` copies an archive
torch.jit.save wrote, with that sixth item added to every storage id of data.pkl and constants.pkl
and `version` set to 1; torch 1.13 loads the result (the fixture's truth comes from it).

Run with Debian's real torch:  /usr/bin/python3 old_torchscript.py FIXTURES_DIR
(adds script_version1.pt, its truth and its manifest entry; generate_fixtures.py calls it too).
"""
import json
import os
import pickletools
import sys
import zipfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_manifest  # noqa: E402
from summarize import load as torch_load_any, module_summary  # noqa: E402

MEMO_PUTS = {"BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE"}


def six_item_ids(pickle_bytes):
    """The pickle with None inserted before the TUPLE that closes each storage id (the TUPLE BINPERSID takes)."""
    ops = list(pickletools.genops(pickle_bytes))
    inserts = []
    for i, (op, _, pos) in enumerate(ops):
        if op.name != "TUPLE":
            continue
        j = i + 1
        while j < len(ops) and ops[j][0].name in MEMO_PUTS:
            j += 1
        if j < len(ops) and ops[j][0].name == "BINPERSID":
            inserts.append(pos)
    out = bytearray(pickle_bytes)
    for pos in reversed(inserts):
        out[pos:pos] = b"N"
    assert inserts, "no storage ids found"
    return bytes(out)


def write_version1(src, dst):
    """Copies the archive SRC to DST as archive version 1 with six-item storage ids (stored records, torch's order)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            name = info.filename.split("/", 1)[1]
            if name in ("data.pkl", "constants.pkl") and b"storage" in data:
                data = six_item_ids(data)
            if name == "version":
                data = b"1\n"
            # The original's time stamp (torch writes none): the same bytes at every run.
            zout.writestr(zipfile.ZipInfo(info.filename, date_time=info.date_time), data)


def main(out):
    torch.manual_seed(0)
    modern = os.path.join(out, "script_sequential.pt")
    name = "script_version1.pt"
    path = os.path.join(out, name)
    write_version1(modern, path)
    fmt, value = torch_load_any(path)
    with open(path + ".truth.json", "w") as f:
        json.dump({"format": fmt, "value": module_summary(value)}, f, indent=1, sort_keys=False)
        f.write("\n")
    fixture_manifest.update(out, [{
        "file": name, "format": fmt, "truth": "torch", "weightsOnly": False,
        "note": "script_sequential.pt as archive version 1 (torch ~1.3): storage ids of six items, the last None"}])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fixtures")
