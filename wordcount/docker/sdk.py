"""The Docker SDK for Python, the daemon and images, for the Docker backend:
each way of not having them is one line saying what to do.

The SDK is an optional extra (`pip install 'wordcount-labs[docker]'`) and is
imported only when the Docker backend is used.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from wordcount.errors import UserError

log = logging.getLogger("myrds")

DEFAULT_IMAGE = "redis:7.4"  # what the course's `docker run` uses
LOCAL_IMAGE = "wordcount-labs/redis:local"  # what `python myrds.py image` builds
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
HOW_TO_START_DOCKER = (
    "start it (e.g. 'sudo systemctl start docker', or 'dockerd --bridge=none --iptables=false &' as root) "
    "or point DOCKER_HOST at a running daemon"
)


def sdk() -> Any:
    """The Docker SDK, imported only when the Docker backend is used: it is an
    optional extra, and it takes a second or more to import, which no worker
    and no local-backend run should pay. A missing SDK is one line, not a traceback."""
    try:
        import docker  # optional dependency: imported lazily on purpose (see above)
    except ImportError:
        raise UserError("the Docker backend needs the Docker SDK for Python: "
                        "pip install 'wordcount-labs[docker]'") from None
    return docker


def daemon_address() -> str:
    """Where we look for the daemon, for messages: $DOCKER_HOST or the default socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


def explain(exc: BaseException) -> str:
    """An SDK error as one short line: the daemon's own explanation if it gave one."""
    text = str(getattr(exc, "explanation", None) or exc)
    return " ".join(text.split())[:300]


def docker_client(timeout: float = 60) -> Any:
    """A docker.DockerClient that has answered a ping, or a one-line UserError."""
    docker = sdk()
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except docker.errors.DockerException as exc:
        raise UserError(f"cannot reach the Docker daemon at {daemon_address()} ({_why_unreachable(exc)}); "
                        f"{HOW_TO_START_DOCKER}") from None
    return client


def _why_unreachable(exc: BaseException) -> str:
    """The usual causes in plain words; the SDK wraps them in long reprs."""
    text = str(exc).lower()
    for causes, words in ((("filenotfounderror",), "no such socket"),
                          (("connection refused", "connectionrefused"), "connection refused"),
                          (("permissionerror", "permission denied"), "permission denied: are you in the docker group?")):
        if any(cause in text for cause in causes):
            return words
    return explain(exc)


def ensure_image(client: Any, image: str) -> None:
    """Use `image` if the daemon has it, else pull it; else say how to build one locally."""
    errors = sdk().errors
    try:
        client.images.get(image)
        return
    except errors.ImageNotFound:
        pass
    except errors.DockerException as exc:
        raise UserError(f"bad Docker image {image!r}: {explain(exc)}") from None
    log.info("image %s is not here; pulling it", image)
    try:
        client.images.pull(image)
    except errors.DockerException as exc:
        raise UserError(f"Docker image {image!r} is not on this machine and cannot be pulled "
                        f"({explain(exc)}); build one with 'python myrds.py image' and pass "
                        f"--docker-image {LOCAL_IMAGE}") from None
