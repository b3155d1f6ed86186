"""A BGP-over-IPsec lab between network namespaces, for tests/test_bgp_end_to_end.py (not a test module).

Why it looks like this. Production is route-based: one charon, one XFRM interface per tunnel (``if_id_in`` /
``if_id_out``), 0.0.0.0/0 selectors, and FRR routing into the interfaces. This kernel has neither ESP nor XFRM
interfaces (``ip link add ... type xfrm``: "Unknown device type"), so charon runs strongSwan's user-space ESP
(kernel-libipsec), which has ONE TUN device per daemon and picks the SA by matching the packet against its
policies: with four 0.0.0.0/0 tunnels in one daemon it would always pick the same one. So:

* each tunnel's connection (its block of the rendered swanctl.conf, byte for byte, with its secret) runs in
  its own charon, in its own namespace (``o<N>``: the customer gateway's outside address, a point-to-point
  link to that tunnel's AWS endpoint, because four namespaces share the one customer address);
* once its CHILD_SA is installed, that charon's TUN (``ipsec0``) is moved into the on-prem namespace and
  renamed to the tunnel's XFRM interface name; the rendered interface script's address and link lines then
  run there. The TUN keeps working after the move (charon holds its file descriptor; its sockets stay in
  ``o<N>``): a packet routed into ``xfrm<N>`` in the on-prem namespace is encrypted for that tunnel only,
  exactly what an XFRM interface with that if_id does. kernel-libipsec installs its own route into the TUN
  when the CHILD_SA comes up (it ignores ``install_routes``), which is why the move waits for it;
* the on-prem namespace runs zebra + bgpd with the rendered frr.conf and owns the on-prem host address;
* each AWS tunnel endpoint is mirrored the same way: ``a<N>`` (charon, AWS outside address) and ``v<N>`` (the
  VPC side: the TUN with the AWS inside address, zebra + bgpd as the AWS peer, the VPC host address and an
  HTTP server that answers with the tunnel's name).

Nothing reaches the host's network: every address lives on links between the lab's own namespaces.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from tests.oracles import unavailable
from tests.vpn_harness import HarnessError, _run, netns_unavailable_reason

ZEBRA = Path("/usr/lib/frr/zebra")
BGPD = Path("/usr/lib/frr/bgpd")
FRR_USER = "frr"


def bgp_lab_unavailable_reason() -> str | None:
    reason = netns_unavailable_reason()
    if reason:
        return reason
    for path in (ZEBRA, BGPD):
        if not path.exists():
            return f"{path} not found; install: apt-get install -y frr"
    if shutil.which("vtysh") is None:
        return "vtysh not found; install: apt-get install -y frr"
    try:
        pwd.getpwnam(FRR_USER)
    except KeyError:
        return "no frr user (the frr package creates it)"
    return None


def require_bgp_lab() -> None:
    """Skip without root/strongSwan/FRR, but fail under CI=true (CI installs them on purpose)."""
    reason = bgp_lab_unavailable_reason()
    if reason is not None:
        unavailable("BGP lab", reason)


def split_swanctl_conf(text: str) -> dict[str, str]:
    """One swanctl.conf per connection of a rendered file: its ``connections`` block and its ``ike-<name>``
    secret, both copied line for line (the renderer writes two-space indents and one setting per line)."""
    blocks: dict[str, dict[str, list[str]]] = {}
    section = None
    current: list[str] | None = None
    depth = 0
    for line in text.splitlines():
        if current is None:
            if line in ("connections {", "secrets {"):
                section = line.split()[0]
                continue
            match = re.match(r"^  (\S+) \{$", line)
            if section and match:
                name = match.group(1)
                name = name[4:] if section == "secrets" and name.startswith("ike-") else name
                current = blocks.setdefault(name, {}).setdefault(section, [])
                current.append(line)
                depth = 1
            continue
        current.append(line)
        depth += line.count("{") - line.count("}")
        if depth == 0:
            current = None
    out = {}
    for name, parts in blocks.items():
        if set(parts) != {"connections", "secrets"}:
            raise HarnessError(f"connection {name} lacks a connection block or a secret")
        out[name] = "\n".join(["connections {", *parts["connections"], "}", "secrets {", *parts["secrets"], "}"])
        out[name] += "\n"
    return out


class Frr:
    """zebra + bgpd in one namespace, each with its own pid file, zserv socket and vty directory."""

    def __init__(self, netns: str, workdir: Path, config: str) -> None:
        self.netns = netns
        self.workdir = workdir
        workdir.mkdir(mode=0o755)
        # Root-owned: the daemons stay root but drop CAP_DAC_OVERRIDE, so they write only where root owns the dir.
        self.config_path = workdir / "frr.conf"
        self.config_path.write_text(config)
        self.config_path.chmod(0o644)
        self.procs: list[subprocess.Popen[bytes]] = []
        # -u root -g frrvty: the lab's daemons stay root instead of switching to the frr user, which cannot even
        # reach /usr/lib where the machine's / is not world-searchable (a fresh CI root is a 0700 directory); the
        # group must be the vty group FRR was built with (Debian: frrvty), or privs_init refuses to start.
        common = ["-u", "root", "-g", "frrvty", "-z", str(workdir / "zserv.api"), "--vty_socket", str(workdir)]
        self._start("zebra", [str(ZEBRA), *common, "-i", str(workdir / "zebra.pid"), "-f", "/dev/null"])
        wait_until_path(workdir / "zserv.api", timeout=10, what=f"zebra in {netns}")
        self._start("bgpd", [str(BGPD), *common, "-i", str(workdir / "bgpd.pid"), "-f", str(self.config_path)])
        wait_until_path(workdir / "bgpd.vty", timeout=10, what=f"bgpd in {netns}")

    def _start(self, daemon: str, argv: list[str]) -> None:
        log = self.workdir / f"{daemon}.log"
        with (self.workdir / f"{daemon}.out").open("w") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.netns, *argv, "--log", f"file:{log}"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # stopped by the lab, in order, not by a Ctrl-C aimed at pytest
            )
        self.procs.append(proc)

    def vtysh(self, command: str) -> str:
        return _run(["vtysh", "--vty_socket", str(self.workdir), "-c", command], timeout=15).stdout

    def json(self, command: str) -> Any:
        return json.loads(self.vtysh(command + " json"))

    def log_tail(self, lines: int = 40) -> str:
        path = self.workdir / "bgpd.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- {path} ---\n" + "\n".join(text.splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(sig)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def wait_until_path(path: Path, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout} s waiting for {what} ({path})")
        time.sleep(0.1)


class Namespaces:
    """Namespaces and processes of one lab, removed on exit (also when the body raises)."""

    def __init__(self) -> None:
        self.token = secrets.token_hex(3)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"hlb-{self.token}-"))
        self.workdir.chmod(0o755)  # frr must reach its own directories below
        if len(str(self.workdir)) > 60:
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise HarnessError(f"temp dir path {self.workdir} is too long for unix sockets; set TMPDIR=/tmp")
        self.namespaces: list[str] = []
        self.stoppers: list[Any] = []

    def __enter__(self) -> Namespaces:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def add(self, name: str) -> str:
        netns = f"hlb-{self.token}-{name}"
        _run(["ip", "netns", "add", netns])
        self.namespaces.append(netns)
        _run(["ip", "-n", netns, "link", "set", "lo", "up"])
        return netns

    def link(self, a: str, b: str, name_a: str, name_b: str) -> None:
        _run(["ip", "-n", a, "link", "add", name_a, "type", "veth", "peer", "name", name_b, "netns", b])
        _run(["ip", "-n", a, "link", "set", name_a, "up"])
        _run(["ip", "-n", b, "link", "set", name_b, "up"])

    def popen(self, netns: str, argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("w") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", netns, *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.stoppers.append(proc)
        return proc

    def close(self) -> None:
        for stopper in reversed(self.stoppers):
            with contextlib.suppress(Exception):
                if isinstance(stopper, subprocess.Popen):
                    if stopper.poll() is None:
                        stopper.kill()
                        stopper.wait(5)
                else:
                    stopper.stop()
        self.stoppers.clear()
        for netns in reversed(self.namespaces):
            # Anything still inside a namespace of ours was started by this lab: end it by pid first.
            for pid in _run(["ip", "netns", "pids", netns], check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            _run(["ip", "netns", "del", netns], check=False)
        self.namespaces.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)


def http_get(netns: str, url: str, *, source: str, timeout: float = 1.0) -> str | None:
    """GET ``url`` from ``source`` inside ``netns``; the body, or None when no answer came in time."""
    code = (
        "import http.client,sys,urllib.parse as u;p=u.urlsplit(sys.argv[1]);"
        "c=http.client.HTTPConnection(p.hostname,p.port,timeout=float(sys.argv[3]),source_address=(sys.argv[2],0));"
        "c.request('GET',p.path or '/');r=c.getresponse();sys.stdout.write(r.read().decode())"
    )
    proc = _run(
        ["ip", "netns", "exec", netns, "python3", "-c", code, url, source, str(timeout)],
        timeout=timeout + 10,
        check=False,
    )
    return proc.stdout if proc.returncode == 0 else None


def cast_any(value: object) -> Any:
    return cast(Any, value)
