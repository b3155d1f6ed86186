"""Real IKEv2 negotiation between network namespaces, for the VPN tests (not a test module).

Topology: every site is a network namespace with one veth ``wan0`` to a shared router namespace
(``inet``, the "internet"), an outside address from a documentation range (192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24) and its inside addresses as /32s on ``lo`` (this kernel has no
dummy interfaces). Nothing is connected to the host's network, and :meth:`Site.ping` refuses any
address the lab did not create, so no packet can target anything outside the lab.

Each site can run one charon. This kernel has no ESP, so charon uses strongSwan's user-space ESP
(the ``kernel-libipsec`` plugin, a TUN device ``ipsec0`` plus routes in table 220), and each daemon
gets its own strongswan.conf (via ``STRONGSWAN_CONF``), its own vici socket in the lab's temp
dir, and a private mount namespace with a fresh ``/run`` (every charon writes
``/run/charon.pid``). See /work/shared/notes/ipsec-netns.md.

Typical use::

    with VpnLab() as lab:
        a = lab.add_site("onprem", "192.0.2.10/24", inside=["10.10.0.1"])
        b = lab.add_site("aws1", "198.51.100.10/29", inside=["10.20.0.10"])
        ca, cb = lab.start_charon(a), lab.start_charon(b)
        cb.load(peer_conf)
        ca.load(onprem_conf)
        sas = ca.wait_established(["tun1"], timeout=10)
        assert a.ping("10.20.0.10", src="10.10.0.1").received == 3

Everything the lab made (daemons by pid, namespaces, temp dir) is removed on exit, also when the
body raises. Debian packages needed: see :data:`APT_PACKAGES`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from components.vpn.swanctl import IkeRetransmission
from tests.oracles import unavailable

__all__ = [
    "APT_PACKAGES",
    "Charon",
    "ChildSa",
    "HarnessError",
    "IkeSa",
    "NegotiatedProposal",
    "PingResult",
    "Site",
    "VpnLab",
    "netns_unavailable_reason",
    "parse_swanctl_pretty",
    "require_netns",
    "wait_until",
]

APT_PACKAGES = (
    "strongswan-charon",
    "strongswan-swanctl",
    "libstrongswan-standard-plugins",  # openssl + gcm: only a Recommends of libstrongswan
    "libcharon-extra-plugins",
    "iproute2",
    "iputils-ping",
)
"""Debian packages the harness needs (CI installs them itself)."""

CHARON = Path("/usr/lib/ipsec/charon")
LIBIPSEC_PLUGIN = Path("/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so")
# Without these charon starts but offers no ECP group or AES-GCM ("configured DH group ECP_384 not supported").
OPENSSL_PLUGIN = Path("/usr/lib/ipsec/plugins/libstrongswan-openssl.so")
GCM_PLUGIN = Path("/usr/lib/ipsec/plugins/libstrongswan-gcm.so")

# Exactly the plugins PSK-authenticated IKEv2 with user-space ESP needs. Loading an explicit list
# (load_modular = no) keeps the daemon independent of /etc/strongswan.d, and leaves out
# bypass-lan, which would route the peers' own outside network into ipsec0 so IKE never
# completes. sha1 stays: IKEv2 NAT detection hashes with SHA-1 whatever the proposals say (and it
# lets a deliberately weak test peer put SHA-1 on the wire).
_CHARON_PLUGINS = "random nonce openssl aes sha1 sha2 hmac gcm kdf kernel-libipsec kernel-netlink socket-default vici"
# swanctl only parses the config and talks vici; a short list keeps it from warning about every
# plugin of the distribution default that is not installed.
_SWANCTL_PLUGINS = "random nonce openssl pem pkcs1 x509 pubkey"

_DOC_RANGES = tuple(ipaddress.IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
_SITE_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
_ROUTER = "inet"
_PING_SUMMARY_RE = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")
# A fresh /run per daemon (each writes /run/charon.pid); "$0" is the charon path passed after it.
_MOUNT_RUN_AND_EXEC = 'mount -t tmpfs -o mode=0755 tmpfs /run && exec "$0"'
_KV_RE = re.compile(r"^(\S+) =(?: (.*))?$")


T = TypeVar("T")


class HarnessError(RuntimeError):
    """A step of the lab failed; the message carries the command output or daemon log tail."""


def _run(
    argv: Sequence[str], *, timeout: float = 30.0, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if check and proc.returncode != 0:
        raise HarnessError(
            f"`{shlex.join(argv)}` exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def wait_until(predicate: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll ``predicate`` until it returns something other than None/False; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# --- environment check -----------------------------------------------------------------------


def netns_unavailable_reason() -> str | None:
    """Why the lab cannot run here, or None when it can (root, tools, TUN, a working ``ip netns``)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, TUN devices, mounts)"
    for tool in ("ip", "swanctl", "ping", "unshare", "mount", "sh"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found; install: apt-get install -y {' '.join(APT_PACKAGES)}"
    for path in (CHARON, LIBIPSEC_PLUGIN, OPENSSL_PLUGIN, GCM_PLUGIN):
        if not path.exists():
            return f"{path} not found; install: apt-get install -y {' '.join(APT_PACKAGES)}"
    if not Path("/dev/net/tun").exists():
        return "/dev/net/tun is missing (kernel-libipsec needs a TUN device)"
    probe = f"hlv-probe-{os.getpid()}-{secrets.token_hex(2)}"
    added = _run(["ip", "netns", "add", probe], check=False)
    if added.returncode != 0:
        return f"`ip netns add` failed: {added.stderr.strip()}"
    _run(["ip", "netns", "del", probe], check=False)
    return None


def require_netns() -> None:
    """Skip the calling test when the lab cannot run, but fail it in CI (``CI=true``): there the
    packages are installed on purpose and a skip would hide a broken VPN."""
    reason = netns_unavailable_reason()
    if reason is not None:
        unavailable("VPN negotiation lab", reason)


# --- swanctl output --------------------------------------------------------------------------


def parse_swanctl_pretty(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse ``swanctl --pretty`` output into ``(message name, tree)`` pairs.

    The pretty format puts one item per line (``key = value``, ``name {``, ``}``, ``key = [``,
    list items, ``]``), so values containing spaces stay intact, unlike ``--raw``.
    """
    messages: list[tuple[str, dict[str, Any]]] = []
    stack: list[dict[str, Any]] = []
    items: list[str] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if items is not None:
            if line == "]":
                items = None
            else:
                items.append(line)
            continue
        kv = _KV_RE.match(line)
        if kv and stack:
            key, value = kv.group(1), kv.group(2) or ""
            if value == "[":
                items = []
                stack[-1][key] = items
            else:
                stack[-1][key] = value
        elif line.endswith("{"):
            section: dict[str, Any] = {}
            name = line[:-1].strip()
            if stack:
                stack[-1][name] = section
            else:
                messages.append((name, section))
            stack.append(section)
        elif line == "}" and stack:
            stack.pop()
        else:
            raise HarnessError(f"unexpected line {number} in swanctl output: {raw!r}")
    if stack or items is not None:
        raise HarnessError("swanctl output ended inside a section")
    return messages


@dataclass(frozen=True)
class NegotiatedProposal:
    """Algorithms an SA actually uses, in strongSwan's names (e.g. ``AES_GCM_16``, ``ECP_384``).

    ``dh_group`` is None on a CHILD_SA created with the IKE_SA: PFS only applies from its first rekey.
    """

    encryption: str | None
    key_size: int | None
    integrity: str | None
    prf: str | None
    dh_group: str | None

    @classmethod
    def from_vici(cls, sa: dict[str, Any]) -> NegotiatedProposal:
        keysize = sa.get("encr-keysize")
        return cls(
            encryption=sa.get("encr-alg"),
            key_size=int(keysize) if keysize else None,
            integrity=sa.get("integ-alg"),
            prf=sa.get("prf-alg"),
            dh_group=sa.get("dh-group"),
        )

    def __str__(self) -> str:
        """Like swanctl's summary line, e.g. ``AES_GCM_16-256/PRF_HMAC_SHA2_384/ECP_384``."""
        enc = f"{self.encryption}-{self.key_size}" if self.key_size else self.encryption
        return "/".join(p for p in (enc, self.integrity, self.prf, self.dh_group) if p)


@dataclass(frozen=True)
class ChildSa:
    name: str
    unique_id: int
    reqid: int
    state: str
    """``INSTALLED`` when usable (strongSwan's CHILD_SA counterpart of ``ESTABLISHED``)."""
    mode: str
    proposal: NegotiatedProposal
    bytes_in: int
    packets_in: int
    bytes_out: int
    packets_out: int
    local_ts: tuple[str, ...]
    remote_ts: tuple[str, ...]

    @classmethod
    def from_vici(cls, sa: dict[str, Any]) -> ChildSa:
        return cls(
            name=sa["name"],
            unique_id=int(sa["uniqueid"]),
            reqid=int(sa.get("reqid", 0)),
            state=sa["state"],
            mode=sa.get("mode", ""),
            proposal=NegotiatedProposal.from_vici(sa),
            bytes_in=int(sa.get("bytes-in", 0)),
            packets_in=int(sa.get("packets-in", 0)),
            bytes_out=int(sa.get("bytes-out", 0)),
            packets_out=int(sa.get("packets-out", 0)),
            local_ts=tuple(sa.get("local-ts", ())),
            remote_ts=tuple(sa.get("remote-ts", ())),
        )


@dataclass(frozen=True)
class IkeSa:
    name: str
    unique_id: int
    version: int
    state: str
    local_host: str
    remote_host: str
    local_id: str
    remote_id: str
    initiator: bool
    proposal: NegotiatedProposal
    children: tuple[ChildSa, ...]

    @classmethod
    def from_vici(cls, name: str, sa: dict[str, Any]) -> IkeSa:
        children = sa.get("child-sas", {})
        return cls(
            name=name,
            unique_id=int(sa["uniqueid"]),
            version=int(sa.get("version", 0)),
            state=sa["state"],
            local_host=sa.get("local-host", ""),
            remote_host=sa.get("remote-host", ""),
            local_id=sa.get("local-id", ""),
            remote_id=sa.get("remote-id", ""),
            initiator=sa.get("initiator") == "yes",
            proposal=NegotiatedProposal.from_vici(sa),
            children=tuple(ChildSa.from_vici(c) for c in children.values() if isinstance(c, dict)),
        )

    @property
    def installed_children(self) -> tuple[ChildSa, ...]:
        return tuple(c for c in self.children if c.state == "INSTALLED")

    @property
    def is_up(self) -> bool:
        """IKE_SA ESTABLISHED with at least one CHILD_SA INSTALLED."""
        return self.state == "ESTABLISHED" and bool(self.installed_children)

    def packets(self) -> tuple[int, int]:
        """(in, out) packets over all CHILD_SAs, old rekeyed ones included while still listed."""
        return sum(c.packets_in for c in self.children), sum(c.packets_out for c in self.children)


def ike_sas_from_pretty(text: str) -> list[IkeSa]:
    """IKE_SAs of a ``swanctl --list-sas --pretty`` output (one ``list-sa`` event per IKE_SA)."""
    out = []
    for message, tree in parse_swanctl_pretty(text):
        if message != "list-sa event":
            continue
        for name, sa in tree.items():
            out.append(IkeSa.from_vici(name, sa))
    return out


# --- sites and daemons -----------------------------------------------------------------------


@dataclass(frozen=True)
class PingResult:
    transmitted: int
    received: int
    output: str

    @property
    def lost(self) -> int:
        return self.transmitted - self.received


class Site:
    """One network namespace of the lab: an outside address on ``wan0`` and inside /32s on ``lo``."""

    def __init__(
        self,
        lab: VpnLab,
        name: str,
        netns: str,
        outside: ipaddress.IPv4Interface,
        gateway: ipaddress.IPv4Address,
        inside: tuple[str, ...],
    ) -> None:
        self.lab = lab
        self.name = name
        self.netns = netns
        self.outside = outside
        self.gateway = gateway
        self.inside = inside

    @property
    def outside_ip(self) -> str:
        return str(self.outside.ip)

    def __repr__(self) -> str:
        return f"Site({self.name!r}, netns={self.netns!r}, outside={self.outside}, inside={self.inside})"

    def exec(
        self, argv: Sequence[str], *, timeout: float = 30.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside this site's network namespace."""
        return _run(["ip", "netns", "exec", self.netns, *argv], timeout=timeout, check=check)

    def ping(self, dst: str, *, src: str, count: int = 3, interval: float = 0.2, deadline: float = 5.0) -> PingResult:
        """Ping ``dst`` from this site's address ``src``; bounded by ``count`` and ``deadline``."""
        if src not in (self.outside_ip, *self.inside):
            raise HarnessError(f"{src} is not an address of site {self.name}")
        if dst not in self.lab.addresses():
            raise HarnessError(f"refusing to ping {dst}: not an address inside this lab's namespaces")
        if not 1 <= count <= 100 or not 0 < deadline <= 60:
            raise HarnessError("ping count must be 1-100 and the deadline at most 60 s")
        argv = ["ping", "-n", "-q", "-c", str(count), "-i", str(interval), "-W", "1", "-w", str(math.ceil(deadline))]
        proc = self.exec([*argv, "-I", src, dst], timeout=deadline + 5, check=False)
        match = _PING_SUMMARY_RE.search(proc.stdout)
        if not match:
            raise HarnessError(f"unexpected ping output:\n{proc.stdout}\n{proc.stderr}")
        return PingResult(int(match.group(1)), int(match.group(2)), proc.stdout)

    def wait_for_reply(self, dst: str, *, src: str, timeout: float) -> float:
        """Ping once per ~0.2 s until ``dst`` answers; returns the seconds it took."""
        start = time.monotonic()
        while True:
            result = self.ping(dst, src=src, count=1, deadline=1.0)
            elapsed = time.monotonic() - start
            if result.received:
                return elapsed
            if elapsed > timeout:
                raise HarnessError(f"{dst} did not answer {src} within {timeout:.1f} s")
            time.sleep(0.2)


class Charon:
    """One charon daemon running in a site's namespace, driven through its own vici socket."""

    def __init__(self, site: Site, workdir: Path, retransmit: IkeRetransmission | None) -> None:
        self.site = site
        self.workdir = workdir
        self.conf_path = workdir / "strongswan.conf"
        self.log_path = workdir / "charon.log"
        self.swanctl_path = workdir / "swanctl.conf"
        self.uri = f"unix://{workdir / 'charon.vici'}"
        self._env = {**os.environ, "STRONGSWAN_CONF": str(self.conf_path)}
        self.conf_path.write_text(self._strongswan_conf(retransmit))
        netns_exec = ["ip", "netns", "exec", site.netns]
        private_run = ["unshare", "--mount", "--propagation", "private", "sh", "-c", _MOUNT_RUN_AND_EXEC]
        with (workdir / "charon.out").open("w") as out:
            # ip netns exec and unshare both exec (no fork), and sh execs charon after mounting a
            # fresh /run, so the pid we hold is charon's own and stop() signals exactly it.
            self._proc = subprocess.Popen(
                [*netns_exec, *private_run, str(CHARON)],
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Own session: a Ctrl-C aimed at pytest must not kill daemons behind the
                # teardown's back (it stops them itself, in order).
                start_new_session=True,
            )
        self.pid = self._proc.pid

    def _strongswan_conf(self, retransmit: IkeRetransmission | None) -> str:
        lines = [
            "# strongswan.conf of one lab daemon, written by tests/vpn_harness.py",
            "charon {",
            "  load_modular = no",
            f"  load = {_CHARON_PLUGINS}",
            "  install_routes = yes",
            "  install_virtual_ip = no",
            *(f"  {line}" for line in (retransmit.strongswan_conf_lines() if retransmit else [])),
            "  filelog {",
            "    lab {",
            f"      path = {self.log_path}",
            "      time_format = %T",
            "      append = no",
            "      flush_line = yes",
            "      default = 1",
            "    }",
            "  }",
            "  plugins {",
            "    vici {",
            f"      socket = {self.uri}",
            "    }",
            "  }",
            "}",
            "swanctl {",
            f"  load = {_SWANCTL_PLUGINS}",
            "}",
        ]
        return "\n".join(lines) + "\n"

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    def _swanctl(self, *args: str, timeout: float = 30.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run(["swanctl", *args, "--uri", self.uri], timeout=timeout, check=check, env=self._env)

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                raise HarnessError(f"charon in {self.site.name} exited {self._proc.returncode}\n{self.log_tail()}")
            if self._swanctl("--stats", check=False, timeout=5).returncode == 0:
                return
            if time.monotonic() > deadline:
                raise HarnessError(f"charon in {self.site.name} not answering on {self.uri}\n{self.log_tail()}")
            time.sleep(0.1)

    def load(self, swanctl_conf: str) -> None:
        """Replace the daemon's configuration with ``swanctl_conf`` (``swanctl --load-all``).

        Connections whose configuration is unchanged keep their SAs; new ones with
        ``start_action = start`` are initiated; ones missing from the file are unloaded.
        """
        self.swanctl_path.write_text(swanctl_conf)
        self.swanctl_path.chmod(0o600)  # it holds PSKs
        self._swanctl("--load-all", "--noprompt", "--file", str(self.swanctl_path))

    def list_sas(self) -> list[IkeSa]:
        # --noblock: don't wait for an IKE_SA that is busy (e.g. retransmitting to a dead peer).
        return ike_sas_from_pretty(self._swanctl("--list-sas", "--noblock", "--pretty", timeout=10).stdout)

    def sas_named(self, name: str) -> list[IkeSa]:
        return [sa for sa in self.list_sas() if sa.name == name]

    def wait_established(self, names: Iterable[str], *, timeout: float) -> dict[str, IkeSa]:
        """Poll until every named connection has an ESTABLISHED IKE_SA with an INSTALLED CHILD_SA."""
        wanted = list(names)
        deadline = time.monotonic() + timeout
        while True:
            up = {sa.name: sa for sa in self.list_sas() if sa.is_up and sa.name in wanted}
            if len(up) == len(wanted):
                return up
            if not self.running:
                raise HarnessError(f"charon in {self.site.name} died\n{self.log_tail()}")
            if time.monotonic() > deadline:
                missing = sorted(set(wanted) - set(up))
                raise HarnessError(
                    f"{self.site.name}: {missing} not established within {timeout} s; "
                    f"SAs now: {self.list_sas()}\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def wait_down(self, name: str, *, timeout: float) -> float:
        """Poll until connection ``name`` has no usable SA any more; returns the seconds it took."""
        start = time.monotonic()
        while any(sa.is_up for sa in self.sas_named(name)):
            if time.monotonic() - start > timeout:
                raise HarnessError(f"{self.site.name}: {name} still up after {timeout} s\n{self.log_tail()}")
            time.sleep(0.1)
        return time.monotonic() - start

    def initiate(self, child: str, *, timeout: int = 10) -> subprocess.CompletedProcess[str]:
        """``swanctl --initiate`` and return its outcome unchecked: its output carries the daemon's
        log of the attempt (e.g. ``received NO_PROPOSAL_CHOSEN notify error``)."""
        return self._swanctl(
            "--initiate", "--child", child, "--timeout", str(timeout), timeout=timeout + 10, check=False
        )

    def rekey_child(self, child: str) -> None:
        self._swanctl("--rekey", "--child", child)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        tail = self.log_text().splitlines()[-lines:]
        return f"--- last {len(tail)} lines of {self.log_path} ---\n" + "\n".join(tail)

    def stop(self, sig: int = signal.SIGTERM, *, timeout: float = 5.0) -> None:
        """Stop this daemon by its pid. SIGKILL simulates a crash: the peer must notice through DPD
        (SIGTERM would make charon send DELETEs first). Escalates to SIGKILL after ``timeout``."""
        if self._proc.poll() is not None:
            return
        self._proc.send_signal(sig)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout)


class VpnLab:
    """Network namespaces joined by a router namespace, plus charon daemons; a context manager.

    Names are ``hlv-<random>-<site>`` so concurrent labs never collide; everything is torn down
    on exit (daemons by pid, then the namespaces, then the temp dir).
    """

    def __init__(self, *, keep_workdir: bool = False) -> None:
        self.token = secrets.token_hex(3)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"hlv-{self.token}-"))
        self.keep_workdir = keep_workdir
        self.sites: dict[str, Site] = {}
        self.charons: list[Charon] = []
        self._namespaces: list[str] = []
        self._router: str | None = None
        # vici socket paths must fit sun_path (108 bytes).
        if len(str(self.workdir)) > 60:
            self.close()
            raise HarnessError(f"temp dir path {self.workdir} is too long for unix sockets; set TMPDIR=/tmp")

    def __enter__(self) -> VpnLab:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(raise_errors=exc is None)

    def _add_netns(self, name: str) -> str:
        netns = f"hlv-{self.token}-{name}"
        _run(["ip", "netns", "add", netns])
        self._namespaces.append(netns)  # recorded at once, so a failure below still cleans it up
        _run(["ip", "-n", netns, "link", "set", "lo", "up"])
        return netns

    def _ensure_router(self) -> str:
        if self._router is None:
            self._router = self._add_netns(_ROUTER)
            _run(["ip", "netns", "exec", self._router, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
        return self._router

    @property
    def router_netns(self) -> str | None:
        """The "internet" namespace routing between the sites (None before the first site)."""
        return self._router

    def addresses(self) -> set[str]:
        """Every address configured inside the lab's namespaces (the only ping targets allowed)."""
        out: set[str] = set()
        for site in self.sites.values():
            out.update((site.outside_ip, str(site.gateway), *site.inside))
        return out

    def add_site(self, name: str, outside: str, *, inside: Sequence[str] = ()) -> Site:
        """A namespace with ``outside`` (address/prefix in a documentation range) on ``wan0``, routed
        through the router, whose side of the link takes the first other host of that prefix."""
        if not _SITE_NAME_RE.match(name) or name == _ROUTER or name in self.sites:
            raise HarnessError(f"bad or duplicate site name {name!r}")
        iface = ipaddress.IPv4Interface(outside)
        if not any(iface.network.subnet_of(r) for r in _DOC_RANGES):
            raise HarnessError(f"{outside}: outside addresses must come from a documentation range")
        for other in self.sites.values():
            if other.outside.network.overlaps(iface.network):
                raise HarnessError(f"{outside} overlaps site {other.name}'s {other.outside}")
        gateway = next(h for h in iface.network.hosts() if h != iface.ip)
        inside_ips = tuple(str(ipaddress.IPv4Address(a)) for a in inside)
        for address in inside_ips:
            if not ipaddress.IPv4Address(address).is_private:
                raise HarnessError(f"{address}: inside addresses must be private")

        router = self._ensure_router()
        netns = self._add_netns(name)
        router_if = f"s{len(self.sites)}"
        prefix = iface.network.prefixlen
        _run(["ip", "-n", router, "link", "add", router_if, "type", "veth", "peer", "name", "wan0", "netns", netns])
        _run(["ip", "-n", router, "addr", "add", f"{gateway}/{prefix}", "dev", router_if])
        _run(["ip", "-n", router, "link", "set", router_if, "up"])
        _run(["ip", "-n", netns, "addr", "add", str(iface), "dev", "wan0"])
        _run(["ip", "-n", netns, "link", "set", "wan0", "up"])
        _run(["ip", "-n", netns, "route", "add", "default", "via", str(gateway)])
        for address in inside_ips:
            _run(["ip", "-n", netns, "addr", "add", f"{address}/32", "dev", "lo"])
        site = Site(self, name, netns, iface, gateway, inside_ips)
        self.sites[name] = site
        return site

    def start_charon(self, site: Site, *, retransmit: IkeRetransmission | None = None) -> Charon:
        """Start a charon in ``site`` and wait until its vici socket answers.

        ``retransmit`` sets the daemon-wide IKE retransmission, which is what bounds IKEv2 DPD
        (see :class:`components.vpn.swanctl.IkeRetransmission`); None keeps strongSwan's ~165 s.
        """
        if any(c.site is site and c.running for c in self.charons):
            raise HarnessError(f"site {site.name} already runs a charon")
        workdir = self.workdir / f"{site.name}-{len(self.charons)}"
        workdir.mkdir()
        charon = Charon(site, workdir, retransmit)
        self.charons.append(charon)
        charon.wait_ready()
        return charon

    def logs(self) -> str:
        """Every daemon's log tail, for assertion messages."""
        return "\n".join(c.log_tail() for c in self.charons)

    def close(self, *, raise_errors: bool = False) -> None:
        """Tear everything down; idempotent. Errors are collected so one failure does not leave
        the rest behind, and raised afterwards only if asked (never over a test's own error)."""
        errors: list[str] = []
        for charon in reversed(self.charons):
            try:
                charon.stop()
            except Exception as exc:  # keep tearing down
                errors.append(f"stopping charon pid {charon.pid}: {exc}")
        self.charons.clear()
        for netns in reversed(self._namespaces):
            # Anything still inside one of our namespaces was started by this lab (a ping
            # that outlived its timeout, say): end it by pid before deleting the namespace.
            pids = _run(["ip", "netns", "pids", netns], check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            deleted = _run(["ip", "netns", "del", netns], check=False)
            if deleted.returncode != 0:
                errors.append(f"deleting netns {netns}: {deleted.stderr.strip()}")
        self._namespaces.clear()
        self.sites.clear()
        self._router = None
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if errors and raise_errors:
            raise HarnessError("lab teardown incomplete: " + "; ".join(errors))
