"""The fixtures' manifest.json, which the generators beside generate_fixtures.py add their entries to."""
import json
import os


def update(out, entries):
    """Adds ENTRIES to OUT/manifest.json, replacing any of the same file names."""
    path = os.path.join(out, "manifest.json")
    names = {e["file"] for e in entries}
    manifest = json.load(open(path)) if os.path.exists(path) else []
    manifest = [m for m in manifest if m["file"] not in names] + list(entries)
    with open(path, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
