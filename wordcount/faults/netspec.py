"""The network-fault vocabulary of the streaming job: grammar, validation and
the one settings value (`stream.net`) that carries it to every process.

    --net CLAUSE[,CLAUSE...]      (repeatable; each flag is one rule group)
      CLAUSE := FAULT[ '[' KIND(,KIND)* ']' ]=VALUE  |  to=WHO  |  from=WHO
      FAULT  := loss | dup | reorder   (VALUE: a probability 0..1)
              | delay                  (VALUE: seconds; each datagram waits uniform 0..VALUE)
      KIND   := a message type of message.py (hello, heartbeat, checkpoint, ...)
      WHO    := coordinator | worker | mapper | reducer | a worker id
    --partition WORKER@START+DURATION   (seconds after WORKER started; repeatable)
    --net-seed S                        (default: --chaos, else --seed, else 0)

A group applies to UDP datagrams whose receiver matches `to` and whose sender
matches `from` (both default to everyone), so `--net loss=0.2` is 20% loss on
every direction and `--net 'loss[heartbeat]=0.5,to=coordinator'` loses half
the heartbeats only. Every datagram is judged once, by its receiver, with
random.Random seeded from (seed, receiver id, incarnation): the n-th datagram
a process receives meets the same fate in every run with that seed.

A partition cuts the first incarnation of WORKER off for DURATION seconds,
START seconds after that process started (its own clock, so no two clocks
need agree): every datagram it sends or receives is dropped and its TCP
connections stall (their bytes arrive when it heals, as kernel
retransmissions would). A replacement runs "on another host" and is not cut
off; since the coordinator cannot kill what it cannot reach, the cut-off
incarnation is placed `remote` (see wordcount/placement.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import message as m
from wordcount.errors import UserError
from wordcount.faults.points import DATAGRAM_FAULTS, DELAY, NET_WHO
from wordcount.ids import WorkerId

FAULTS = DATAGRAM_FAULTS
ROLES = NET_WHO
_CLAUSE = re.compile(r"^(?P<fault>[a-z]+)(?:\[(?P<kinds>[a-z_,]*)\])?=(?P<value>.+)$")
_PARTITION = re.compile(r"^(?P<who>[a-z]+-\d+)@(?P<start>[0-9.]+)\+(?P<duration>[0-9.]+)$")
NET_HELP = ("use CLAUSE[,CLAUSE...] with CLAUSE one of loss=P, dup=P, reorder=P, delay=S (optionally "
            "per kind, e.g. loss[heartbeat,hello]=0.5), to=WHO, from=WHO (WHO: coordinator, worker, mapper, "
            "reducer or a worker id)")


def _split(text: str) -> list[str]:
    """Clauses separated by commas that are not inside [...]."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [c.strip() for c in [*out, cur] if c.strip()]


def matches(who: str, worker: str) -> bool:
    """Does `worker` (an id, or "coordinator") fall under WHO?"""
    if who in ("", worker):
        return True
    if who == "worker":
        return worker != m.COORDINATOR
    return who in ("mapper", "reducer") and worker.startswith(who + "-")


@dataclass(frozen=True)
class Rule:
    fault: str
    value: float
    kinds: frozenset[str] = frozenset()  # empty: every kind

    def applies(self, kind: str) -> bool:
        return not self.kinds or kind in self.kinds


@dataclass(frozen=True)
class Group:
    """The rules of one --net flag and the directions they apply to."""

    rules: tuple[Rule, ...]
    to: str = ""
    frm: str = ""

    def rules_for(self, receiver: str, sender: str, kind: str) -> list[Rule]:
        if not (matches(self.to, receiver) and matches(self.frm, sender)):
            return []
        return [r for r in self.rules if r.applies(kind)]


@dataclass(frozen=True)
class Partition:
    worker: str
    start_s: float
    duration_s: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def __str__(self) -> str:
        return f"{self.worker}@{self.start_s:g}+{self.duration_s:g}"


def _who(value: str, text: str) -> str:
    if value in ROLES or WorkerId.try_parse(value) is not None:
        return value
    raise UserError(f"bad --net {text!r}: {value!r} is not coordinator, worker, mapper, reducer or a worker id")


def _rule(clause: str, text: str) -> Rule:
    match = _CLAUSE.match(clause)
    if not match or match["fault"] not in FAULTS:
        raise UserError(f"bad --net {text!r}: {clause!r} is not a clause; {NET_HELP}")
    kinds = frozenset(k for k in (match["kinds"] or "").split(",") if k)
    unknown = sorted(kinds - set(m.TYPES))
    if unknown:
        raise UserError(f"bad --net {text!r}: unknown message kind {unknown[0]!r}; kinds: {', '.join(m.TYPES)}")
    try:
        value = float(match["value"])
    except ValueError:
        raise UserError(f"bad --net {text!r}: {match['value']!r} in {clause!r} is not a number") from None
    top = 60.0 if match["fault"] == DELAY else 1.0
    if not 0 <= value <= top:
        what = "seconds between 0 and 60" if top > 1 else "a probability between 0 and 1"
        raise UserError(f"bad --net {text!r}: {match['fault']} must be {what} (got {value:g})")
    return Rule(match["fault"], value, kinds)


def parse_group(text: str) -> Group:
    """One --net flag; every mistake is one line naming the bad clause."""
    rules: list[Rule] = []
    ends = {"to": "", "from": ""}
    for clause in _split(text):
        key, sep, value = clause.partition("=")
        if sep and key in ends:
            ends[key] = _who(value, text)
        else:
            rules.append(_rule(clause, text))
    if not rules:
        raise UserError(f"bad --net {text!r}: no fault given; {NET_HELP}")
    return Group(tuple(rules), ends["to"], ends["from"])


def parse_partition(text: str, ids: list[str] | None = None) -> Partition:
    match = _PARTITION.match(text.strip())
    bad = f"bad --partition {text!r}: use WORKER@START+DURATION (seconds after WORKER started), e.g. mapper-0@1.5+3"
    if not match:
        raise UserError(bad)
    try:
        start, duration = float(match["start"]), float(match["duration"])
    except ValueError:
        raise UserError(bad) from None
    if ids is not None and match["who"] not in ids:
        raise UserError(f"bad --partition {text!r}: {match['who']!r} is not a worker of this job ({', '.join(ids)})")
    if duration <= 0:
        raise UserError(f"bad --partition {text!r}: DURATION must be > 0")
    return Partition(match["who"], start, duration)


@dataclass(frozen=True)
class NetSpec:
    """Everything `stream.net` says, parsed."""

    groups: tuple[Group, ...] = ()
    partitions: tuple[Partition, ...] = ()
    seed: int = 0

    @property
    def active(self) -> bool:
        return bool(self.groups or self.partitions)

    def partitioned(self, worker: str, uptime: float) -> Partition | None:
        """The partition cutting `worker`'s first incarnation off `uptime` s after it started, if any."""
        return next((p for p in self.partitions
                     if p.worker == worker and p.start_s <= uptime < p.end_s), None)


NET_KEYS = {"faults": list, "partitions": list, "seed": int}


def from_setting(value: dict, where: str = "settings") -> NetSpec:
    """The `stream.net` setting: {"faults": [--net texts], "partitions": [...], "seed": S}."""
    for key, item in value.items():
        kind = NET_KEYS.get(key)
        if kind is None:
            raise UserError(f"{where}: unknown key {key!r} in setting 'stream.net' (known: {', '.join(NET_KEYS)})")
        if not isinstance(item, kind) or isinstance(item, bool):
            raise UserError(f"{where}: 'stream.net.{key}' has the wrong type ({item!r})")
    return NetSpec(tuple(parse_group(t) for t in value.get("faults", [])),
                   tuple(parse_partition(t) for t in value.get("partitions", [])),
                   int(value.get("seed", 0)))


def to_setting(faults: list[str], partitions: list[str], seed: int) -> dict:
    return {"faults": list(faults), "partitions": list(partitions), "seed": seed}
