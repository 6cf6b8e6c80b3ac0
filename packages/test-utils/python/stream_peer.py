"""A Python peer for the streaming format: real torch 1.13 plus a faithful
emulation of torch 2.x's torch.distributed._serialization (_Entry,
_PseudoZipFile, _streaming_save, _streaming_load), registered under the same
module path so the wire names the same class.

  stream_peer.py send HOST PORT FILE      torch.load FILE, _streaming_save it to HOST:PORT
  stream_peer.py receive HOST PORT        listen (PORT 0: any; prints {"port": N} first), accept one
                                          connection, _streaming_load it, print its summary
  stream_peer.py receive-bench HOST PORT  like receive, but prints {"seconds", "bytes", "peakRssMiB"} (timed from accept)
  stream_peer.py fetch URL                GET URL and _streaming_load the body, print its summary
  stream_peer.py save FILE OUT            torch.load FILE, _streaming_save it into the file OUT
  stream_peer.py load FILE                _streaming_load the file FILE, print its summary

Emulation notes: torch 1.13's _save writes data.pkl then storages (by data
pointer) in string key order and no .format_version / .storage_alignment /
byteorder records; the pseudo zip file reorders and adds them as torch >= 2.7
does, so the wire carries the same record set as _streaming_save on 2.x.
"""
import ctypes
import io
import json
import os
import pickle
import socket
import sys
import types
import warnings
from dataclasses import dataclass

import torch

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

MODULE = "torch.distributed._serialization"
serialization = types.ModuleType(MODULE)
sys.modules[MODULE] = serialization


@dataclass
class _Entry:
    key: str
    is_storage: bool
    length: int


_Entry.__module__ = MODULE
serialization._Entry = _Entry


class _PseudoZipFile:
    def __init__(self):
        self.records = {}

    def write_record(self, key, data, length):
        if isinstance(data, int):  # torch 1.13 passes a storage's data pointer
            data = _StorageBytes(ctypes.string_at(data, length) if length else b"")
        self.records[key] = (data, length)

    def _newest_order(self):
        """data.pkl, .format_version, .storage_alignment, byteorder, data/0..N-1 (numeric), as torch >= 2.7 writes."""
        recs = dict(self.records)
        out = {"data.pkl": recs.pop("data.pkl"), ".format_version": ("1", 1), ".storage_alignment": ("64", 2), "byteorder": (sys.byteorder, len(sys.byteorder))}
        for key in sorted(recs, key=lambda k: int(k[5:]) if k.startswith("data/") and k[5:].isdigit() else k):
            out[key] = recs[key]
        return out

    def write_to(self, f):
        records = self._newest_order()
        entries = [_Entry(key=k, is_storage=isinstance(d, _StorageBytes), length=n) for k, (d, n) in records.items()]
        pickle.dump(entries, f, protocol=2)
        for data, _ in records.values():
            if isinstance(data, _StorageBytes):
                f.write(data.data)
            elif isinstance(data, bytes):
                f.write(data)
            elif isinstance(data, str):
                f.write(data.encode("utf-8"))
            else:
                raise TypeError(f"unknown type: {type(data)}")

    def read_from(self, f):
        entries = _EntryUnpickler(f).load()
        for entry in entries:
            data = _read_exactly(f, entry.length)
            self.records[entry.key] = (data, entry.length)

    # The reader interface torch 1.13's _load uses.
    def get_record(self, key):
        return self.records[key][0]

    def get_storage_from_record(self, key, _numel, _type):
        data = self.records[key][0]
        return torch.frombuffer(bytearray(data), dtype=torch.uint8) if len(data) else torch.empty(0, dtype=torch.uint8)

    def get_all_records(self):
        return list(self.records)

    def has_record(self, key):
        return key in self.records

    def serialization_id(self):
        return "torchft"


class _StorageBytes:
    def __init__(self, data):
        self.data = data


class _EntryUnpickler(pickle.Unpickler):
    """Only _Entry may be named in a header, as _weights_only_unpickler with _Entry allowlisted."""

    def find_class(self, module, name):
        if (module, name) == (MODULE, "_Entry"):
            return _Entry
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a stream header")


def _read_exactly(f, n):
    chunks, left = [], n
    while left > 0:
        chunk = f.read(left)
        if not chunk:
            raise EOFError(f"stream ended {left} bytes early")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _streaming_save(obj, f, pickle_protocol=2):
    zip_file = _PseudoZipFile()
    torch.serialization._save(obj, zip_file, pickle, pickle_protocol)
    zip_file.write_to(f)


def _streaming_load(f):
    zip_file = _PseudoZipFile()
    zip_file.read_from(f)
    return torch.serialization._load(zip_file, None, pickle, encoding="utf-8")


serialization._PseudoZipFile = _PseudoZipFile
serialization._streaming_save = _streaming_save
serialization._streaming_load = _streaming_load


def main():
    from summarize import load as load_any, summarize
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "send":
        host, port, path = args[0], int(args[1]), args[2]
        _, value = load_any(path)
        with socket.create_connection((host, port)) as s, s.makefile("wb") as f:
            _streaming_save(value, f)
            f.flush()
            s.shutdown(socket.SHUT_WR)
            s.recv(1)  # wait for the receiver to close
    elif cmd == "receive":
        host, port = args[0], int(args[1])
        with socket.create_server((host, port)) as server:
            print(json.dumps({"port": server.getsockname()[1]}), flush=True)
            conn, _ = server.accept()
            with conn, conn.makefile("rb") as f:
                value = _streaming_load(f)
        print(json.dumps({"summary": {"format": "zip", "value": summarize(value)}}), flush=True)
    elif cmd == "receive-bench":
        import resource
        import time
        host, port = args[0], int(args[1])
        with socket.create_server((host, port)) as server:
            print(json.dumps({"port": server.getsockname()[1]}), flush=True)
            conn, _ = server.accept()
            t0 = time.perf_counter()
            with conn, conn.makefile("rb") as f:
                zip_file = _PseudoZipFile()
                zip_file.read_from(f)
                torch.serialization._load(zip_file, None, pickle, encoding="utf-8")
            seconds = time.perf_counter() - t0
        total = sum(n for _, n in zip_file.records.values())
        print(json.dumps({"seconds": seconds, "bytes": total, "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)
    elif cmd == "fetch":
        import urllib.request
        with urllib.request.urlopen(args[0]) as response:
            value = _streaming_load(response)
        print(json.dumps({"summary": {"format": "zip", "value": summarize(value)}}))
    elif cmd == "save":
        _, value = load_any(args[0])
        with open(args[1], "wb") as f:
            _streaming_save(value, f)
    elif cmd == "load":
        with open(args[0], "rb") as f:
            value = _streaming_load(f)
        print(json.dumps({"summary": {"format": "zip", "value": summarize(value)}}))
    else:
        raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
