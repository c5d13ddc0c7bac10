"""A fresh network namespace holding a veth pair `cap` <-> `peer`, for the live-capture test
(tests/e2e/live_test.py) and benchmark (bench/live_bench.py). Needs root and iproute2."""

import json
import subprocess


class NamespaceUnavailable(Exception):
    """The namespace could not be created (no root, no netns support)."""


class VethNamespace:
    """Created by open() (or `with`), deleted by close()."""

    def __init__(self, name, mtu):
        self.name = name
        self.mtu = mtu
        self.created = False

    def ip(self, *args, check_rc=True):
        return subprocess.run(["ip", "-n", self.name, *args], capture_output=True, text=True,
                              check=check_rc)

    def exec_args(self, argv):
        return ["ip", "netns", "exec", self.name, *argv]

    def open(self):
        made = subprocess.run(["ip", "netns", "add", self.name], capture_output=True, text=True)
        if made.returncode != 0:
            raise NamespaceUnavailable(f"ip netns add failed: {made.stderr.strip()}")
        self.created = True
        # No IPv6, so that neither end sends router or neighbour solicitations.
        for knob in ("all", "default"):
            subprocess.run(self.exec_args(
                ["sysctl", "-qw", f"net.ipv6.conf.{knob}.disable_ipv6=1"]), capture_output=True)
        self.ip("link", "add", "cap", "type", "veth", "peer", "name", "peer")
        for dev in ("cap", "peer"):
            self.ip("link", "set", "dev", dev, "mtu", str(self.mtu))
            self.ip("link", "set", "dev", dev, "up")
        return self

    def close(self):
        if self.created:
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
            self.created = False

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()
        return False

    def packet_sockets(self):
        """Packet sockets open in the namespace."""
        out = subprocess.run(self.exec_args(["cat", "/proc/net/packet"]), capture_output=True,
                             text=True)
        return max(0, len(out.stdout.strip().splitlines()) - 1)

    def ethtool_features(self, dev):
        """`ethtool -k dev`: one line per offload, "name: on|off [fixed]"."""
        return subprocess.run(self.exec_args(["ethtool", "-k", dev]), capture_output=True,
                              text=True, check=True).stdout

    def link_stats(self, dev):
        """{'rx_packets', 'rx_dropped', 'tx_packets', 'tx_dropped'} of dev, or {}."""
        out = self.ip("-j", "-s", "link", "show", "dev", dev, check_rc=False).stdout
        try:
            s = json.loads(out)[0]["stats64"]
            return {"rx_packets": s["rx"]["packets"], "rx_dropped": s["rx"]["dropped"],
                    "tx_packets": s["tx"]["packets"], "tx_dropped": s["tx"]["dropped"]}
        except (ValueError, LookupError, TypeError):
            return {}
