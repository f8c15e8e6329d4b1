"""`client.py stream --net ... --partition ... --net-seed S`: network faults
from the command line into the `stream.net` setting every process reads, and
the run record's account of the zombies they made.

The grammar is in wordcount/faults/netspec.py; this module only turns flags
(on top of whatever config.json's `stream.net` says) into that setting and
places every partitioned first incarnation `remote`: the coordinator cannot
kill what it cannot reach.
"""
from __future__ import annotations

import argparse
from dataclasses import replace

from wordcount.config import Settings
from wordcount.faults import netspec
from wordcount.ids import all_names
from wordcount.placement import with_remote

NET_EPILOG = """\
network faults (in-process, at the socket layer; no root needed):
  --net CLAUSE[,CLAUSE...]     repeatable; each flag is one group of rules
      loss=P, dup=P, reorder=P  probability per UDP datagram (judged by its receiver)
      delay=S                   each datagram waits uniform 0..S seconds
      FAULT[KIND,...]=V         only for those message kinds, e.g. 'loss[heartbeat,hello]=0.5'
      to=WHO, from=WHO          only datagrams to/from WHO: coordinator, worker, mapper, reducer, an id
      e.g. --net loss=0.2,dup=0.05,reorder=0.1   (20% loss on every direction)
  --partition WORKER@START+DURATION
      cut WORKER's first incarnation off (UDP dropped, TCP stalled) from START to
      START+DURATION seconds after it started; it counts as remote (it cannot be
      killed), so it must notice it was superseded and exit by itself. Repeatable.
  --net-seed S                 seed of the faults (default: --chaos, else --seed, else 0)
"""


def add_net_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--net", action="append", default=[], metavar="SPEC",
                        help="inject network faults, e.g. loss=0.2,dup=0.05,reorder=0.1 (see below)")
    parser.add_argument("--partition", action="append", default=[], metavar="WORKER@START+DURATION",
                        help="cut a worker off the network for a while (see below)")
    parser.add_argument("--net-seed", type=int, metavar="S", help="seed of the network faults")


def net_seed(args: argparse.Namespace, configured: int) -> int:
    for seed in (args.net_seed, args.chaos, args.seed):
        if seed is not None:
            return seed
    return configured


def apply_net(args: argparse.Namespace, settings: Settings) -> Settings:
    """Settings with the flags' faults added to `stream.net` and partitioned
    incarnations placed remote. Validates every flag first."""
    st = settings.stream
    configured = dict(st.net)
    faults = [*configured.get("faults", []), *args.net]
    partitions = [*configured.get("partitions", []), *args.partition]
    ids = all_names(st.mappers, st.reducers)
    for text in faults:
        netspec.parse_group(text)
    parsed = [netspec.parse_partition(text, ids) for text in partitions]
    placement = dict(st.placement)
    for p in parsed:
        placement = with_remote(placement, p.worker, 0)
    net = netspec.to_setting(faults, partitions, net_seed(args, int(configured.get("seed", 0))))
    return replace(settings, stream=replace(st, net=net, placement=placement))


def describe(settings: Settings) -> str:
    net = settings.stream.net
    parts = [*net.get("faults", []), *(f"partition {p}" for p in net.get("partitions", []))]
    return f"{'; '.join(parts)} (seed {net.get('seed', 0)})" if parts else ""


def zombie_record(zombies: list[dict]) -> dict:
    """The run record's zombies: superseded processes the coordinator could not
    kill, and how many exited by themselves."""
    exited = sum(bool(z["exited_by_itself"]) for z in zombies)
    return {"zombies": zombies, "zombies_exited": exited, "zombies_stopped": len(zombies) - exited}
