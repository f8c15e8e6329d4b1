"""A real network on one machine: every "host" of a job is its own network
namespace, with its own address on a private bridge, and the kernel loses,
duplicates or cuts its traffic (nftables).

    with NetLab(["coord", "redis", "m0", "r0"]) as lab:
        lab.address("m0")           -> "10.213.0.12"
        lab.launch("m0")            -> ["ip", "netns", "exec", "wcn-4242-1-m0"]
        lab.lossy(20, dup=5)        # every host drops 20% of the UDP it receives, duplicates 5% it sends
        lab.cut("m0") / lab.heal("m0")  # drop everything to and from that host

Layout: one bridge namespace holding bridge br0 and one veth end per host;
the other end is `eth0` in the host's namespace, with 10.213.0.(10+i)/24.
Those addresses exist only inside namespaces this module created, so no
traffic can leave the machine (and none reaches the root namespace either).
Everything is removed -- namespaces, and with them their veths and nft
tables -- on every exit path: `__exit__`, atexit, SIGTERM/SIGHUP, and at the
next start for labs whose creating process died (the creator's pid is in
every namespace name). `unavailable()` says why a machine cannot do this
(not root, no `ip`/`nft`, namespaces refused), for a clear pytest skip.
"""
from __future__ import annotations

import atexit
import itertools
import logging
import os
import re
import shutil
import signal
import subprocess
from typing import Sequence

log = logging.getLogger("netns")
SUBNET = "10.213.0"
PREFIX = "wcn"
_LIVE: list["NetLab"] = []
_COUNTER = itertools.count(1)


def _ip(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], input=stdin, text=True, capture_output=True, check=check, timeout=20)


def _nft(ns: str, script: str) -> None:
    _ip("netns", "exec", ns, "nft", "-f", "-", stdin=script)


def unavailable() -> str | None:
    """Why network namespaces cannot be used here, or None if they can."""
    if os.geteuid() != 0:
        return "needs root (ip netns, veth, nftables)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed"
    probe = f"{PREFIX}-{os.getpid()}-probe"
    try:
        made = _ip("netns", "add", probe, check=False)
        if made.returncode:
            return f"'ip netns add' failed: {made.stderr.strip()}"
        nft = subprocess.run(["ip", "netns", "exec", probe, "nft", "list", "ruleset"], capture_output=True,
                             text=True, timeout=20)
        if nft.returncode:
            return f"nftables unusable in a namespace: {nft.stderr.strip()}"
    finally:
        _ip("netns", "del", probe, check=False)
    return None


def remove_orphans() -> None:
    """Delete namespaces of labs whose creating process is gone (it was SIGKILLed)."""
    listing = _ip("netns", "list", check=False).stdout
    for name in re.findall(rf"^({PREFIX}-(\d+)-\S+)", listing, flags=re.M):
        ns, pid = name[0], int(name[1])
        if not os.path.exists(f"/proc/{pid}"):
            log.warning("removing namespace %s left by dead process %d", ns, pid)
            _ip("netns", "del", ns, check=False)


class NetLab:
    def __init__(self, hosts: Sequence[str]) -> None:
        if len(set(hosts)) != len(hosts) or len(hosts) > 200:
            raise ValueError(f"hosts must be distinct and at most 200: {hosts}")
        self.hosts = list(hosts)
        self.tag = f"{PREFIX}-{os.getpid()}-{next(_COUNTER)}"
        self.bridge = f"{self.tag}-br"
        self.made: list[str] = []

    # -- names and addresses -------------------------------------------------------------
    def ns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def address(self, host: str) -> str:
        return f"{SUBNET}.{10 + self.hosts.index(host)}"

    def launch(self, host: str) -> list[str]:
        """argv prefix that runs a command on `host`."""
        return ["ip", "netns", "exec", self.ns(host)]

    # -- life cycle ------------------------------------------------------------------------
    def __enter__(self) -> "NetLab":
        remove_orphans()
        _LIVE.append(self)
        _install_handlers()
        try:
            self._create()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    def _add_ns(self, name: str) -> None:
        _ip("netns", "add", name)
        self.made.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def _create(self) -> None:
        self._add_ns(self.bridge)
        _ip("-n", self.bridge, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.bridge, "link", "set", "br0", "up")
        for i, host in enumerate(self.hosts):
            ns, port = self.ns(host), f"p{i}"
            self._add_ns(ns)
            _ip("-n", self.bridge, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("-n", self.bridge, "link", "set", port, "master", "br0", "up")
            _ip("-n", ns, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
        log.info("network lab %s: %s", self.tag, {h: self.address(h) for h in self.hosts})

    def teardown(self) -> None:
        """Delete every namespace (their veths and nft tables go with them). Idempotent."""
        for name in reversed(self.made):
            _ip("netns", "del", name, check=False)
        self.made = []
        if self in _LIVE:
            _LIVE.remove(self)

    # -- faults ---------------------------------------------------------------------------------
    def lossy(self, loss_pct: int, dup: int = 0, hosts: Sequence[str] | None = None) -> None:
        """Kernel faults on UDP: each host drops `loss_pct`% of the datagrams it
        receives (so every direction loses that much, judged once) and sends a
        second copy of `dup`% of the ones it sends."""
        for host in hosts or self.hosts:
            rules = [f'table inet wcloss {{\n chain in {{\n type filter hook input priority 0; policy accept;\n'
                     f' iifname "eth0" meta l4proto udp numgen random mod 100 < {loss_pct} drop\n }}\n}}\n']
            if dup:
                rules.append(f'table ip wcdup {{\n chain out {{\n type filter hook output priority 0; policy accept;\n'
                             f' oifname "eth0" meta l4proto udp numgen random mod 100 < {dup} '
                             f'dup to ip daddr device "eth0"\n }}\n}}\n')
            _nft(self.ns(host), "".join(rules))

    def cut(self, host: str) -> None:
        """Partition `host`: nothing in or out of its eth0 (UDP and TCP alike)."""
        _nft(self.ns(host), 'table inet wccut {\n chain in {\n type filter hook input priority -10; policy accept;\n'
             ' iifname "eth0" drop\n }\n chain out {\n type filter hook output priority -10; policy accept;\n'
             ' oifname "eth0" drop\n }\n}\n')

    def heal(self, host: str) -> None:
        _ip("netns", "exec", self.ns(host), "nft", "delete", "table", "inet", "wccut")


def teardown_all() -> None:
    for lab in list(_LIVE):
        lab.teardown()


_HANDLED: dict[int, object] = {}


def _on_signal(signum: int, frame: object) -> None:
    """Clean up, then die of the signal as we would have without this handler."""
    teardown_all()
    signal.signal(signum, _HANDLED.get(signum, signal.SIG_DFL))  # type: ignore[arg-type]
    os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    if _HANDLED:
        return
    atexit.register(teardown_all)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        _HANDLED[sig] = signal.signal(sig, _on_signal)
