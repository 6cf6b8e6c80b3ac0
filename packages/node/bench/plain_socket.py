"""The loopback ceiling for the streaming benchmark: a file's bytes over TCP
with no format and no copy into user space on the sending side.

  plain_socket.py receive        listen on a free loopback port (printed as {"port"}), read one connection
                                 into a reused 4 MiB buffer, print {"seconds" (from the first byte), "bytes",
                                 "peakRssMiB"}
  plain_socket.py send PORT FILE send FILE to 127.0.0.1:PORT with socket.sendfile (the kernel's sendfile(2))
"""
import json
import resource
import socket
import sys
import time


def receive():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    print(json.dumps({"port": server.getsockname()[1]}), flush=True)
    conn, _ = server.accept()
    view = memoryview(bytearray(4 << 20))
    total, start = 0, None
    while True:
        n = conn.recv_into(view)
        if start is None:
            start = time.perf_counter()
        if n == 0:
            break
        total += n
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "bytes": total, "peakRssMiB": peak}), flush=True)


def send(port, path):
    with socket.create_connection(("127.0.0.1", int(port))) as conn, open(path, "rb") as f:
        conn.sendfile(f)


if __name__ == "__main__":
    receive() if sys.argv[1] == "receive" else send(sys.argv[2], sys.argv[3])
