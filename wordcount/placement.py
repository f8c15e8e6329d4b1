"""Where each process of a job runs: its host address and how it is started.

The setting `stream.placement` (and `batch.placement` for Lab 1 workers) maps
a key to a place:

    {"mapper-0.0": {"host": "10.0.0.11", "launch": ["ssh", "node1"], "remote": true},
     "mapper":     {"host": "10.0.0.12", "launch": ["ip", "netns", "exec", "node2"]},
     "reducer-1":  {"host": "10.0.0.13"}}

Keys, most specific first: "ID.INCARNATION" (one incarnation: e.g. the first
one on one machine, its replacements elsewhere), "ID", the role ("mapper",
"reducer", "worker" for Lab 1), "*". `host` is the address the process binds
and the others reach it at (default: `stream.host`); `launch` is an argv
prefix the parent puts before the process's own command line (a remote
shell, `ip netns exec NS`, a container runner); `remote` says the parent
cannot kill it (it is on another machine), so a replacement is started
without killing the old process, which must notice by itself that it was
superseded (docs/lab2.md, "Partitions and zombies").
"""
from __future__ import annotations

from dataclasses import dataclass

from wordcount.errors import UserError

PLACE_KEYS = {"host": str, "launch": list, "remote": bool}


@dataclass(frozen=True)
class Place:
    host: str = ""  # "" = the default host
    launch: tuple[str, ...] = ()
    remote: bool = False


def check_placement(value: dict, where: str) -> dict:
    """Validate a placement setting; one line per mistake."""
    for key, place in value.items():
        if not isinstance(place, dict):
            raise UserError(f"{where}: placement {key!r} must be an object like {{\"host\": \"10.0.0.2\"}}")
        for name, item in place.items():
            kind = PLACE_KEYS.get(name)
            if kind is None:
                raise UserError(f"{where}: placement {key!r} has unknown key {name!r} (known: {', '.join(PLACE_KEYS)})")
            if not isinstance(item, kind) or (name == "launch" and not all(isinstance(a, str) for a in item)):
                raise UserError(f"{where}: placement {key!r}.{name} must be a {kind.__name__}"
                                f"{' of strings' if kind is list else ''} (got {item!r})")
    return value


def lookup_keys(worker: str, incarnation: int | None = None) -> list[str]:
    """'mapper-0', 1 -> ['mapper-0.1', 'mapper-0', 'mapper', '*']; Lab 1 'w3' -> ['w3', 'worker', '*']."""
    role = worker.rsplit("-", 1)[0] if "-" in worker else "worker"
    keys = [f"{worker}.{incarnation}"] if incarnation is not None else []
    return [*keys, worker, role, "*"]


def place_of(placement: dict, worker: str, incarnation: int | None = None) -> Place:
    for key in lookup_keys(worker, incarnation):
        if key in placement:
            p = placement[key]
            return Place(p.get("host", ""), tuple(p.get("launch", ())), bool(p.get("remote", False)))
    return Place()


def host_of(placement: dict, worker: str, default: str, incarnation: int | None = None) -> str:
    return place_of(placement, worker, incarnation).host or default


def with_remote(placement: dict, worker: str, incarnation: int) -> dict:
    """`placement` with one incarnation of `worker` marked remote (keeping where it runs)."""
    place = place_of(placement, worker, incarnation)
    entry = {"remote": True, **({"host": place.host} if place.host else {}),
             **({"launch": list(place.launch)} if place.launch else {})}
    return {**placement, f"{worker}.{incarnation}": entry}
