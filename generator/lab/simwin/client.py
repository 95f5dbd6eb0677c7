"""The lab's `netsh`: asks the lab's service (service.py) and prints its answer as netsh would.

Run by `bin/netsh` as `python -S client.py ARGS...`: standard library only, no package import, so
one netsh call costs an interpreter start and a socket round-trip. Exit code and output are
netsh's, so `$LASTEXITCODE` behaves as on Windows.
"""

import json
import os
import socket
import sys


def main(argv: list[str]) -> int:
    path = os.environ.get("SSLBIND_LAB_SERVICE")
    if not path:
        sys.stderr.write("netsh: SSLBIND_LAB_SERVICE is not set: this shim runs only in a lab shell\n")
        return 1
    shell = os.environ.get("SSLBIND_LAB_SHELL_ID", "")
    request = {"call": "netsh", "argv": argv, "pid": os.getppid(), "shell": shell}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        sock.sendall(json.dumps(request).encode("utf-8") + b"\n")  # our end stays open: we wait
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    if not chunks:  # the service dropped us: a fault killed the pwsh that called
        return 137
    answer = json.loads(b"".join(chunks))
    if "failed" in answer:
        sys.stderr.write(f"netsh (sslbind lab): {answer['failed']}\n")
        return 1
    sys.stdout.write(answer["text"])
    sys.stdout.flush()
    return int(answer["code"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
