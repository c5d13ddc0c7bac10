#!/usr/bin/env python3
"""Deployment files: the systemd unit passes `systemd-analyze verify` (with the real binary
in place of the installed path), and the Dockerfile is built when a Docker engine answers,
else linted: Debian 12 base, every build package of scripts/install-deps.sh present, and a
runtime package for every shared library the binary links."""

import argparse
import os
import re
import shutil
import subprocess
import tempfile

from e2e_common import check, main_wrapper


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sensor", required=True)
    ap.add_argument("--source", required=True)
    a = ap.parse_args()
    deploy = os.path.join(a.source, "deploy")

    unit = open(os.path.join(deploy, "systemd", "sensor@.service")).read()
    for needed in ("NoNewPrivileges=yes", "ProtectSystem=strict", "User=sensor",
                   "AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN", "ReadWritePaths=/var/log/sensor"):
        check(needed in unit, f"unit lacks {needed}")
    if shutil.which("systemd-analyze"):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "sensor@eth0.service")
            with open(path, "w") as f:
                f.write(unit.replace("/usr/local/bin/sensor", os.path.abspath(a.sensor)))
            proc = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True)
            problems = [l for l in (proc.stdout + proc.stderr).splitlines()
                        if "sensor@" in l and "Documentation" not in l]
            check(proc.returncode == 0 and not problems,
                  f"systemd-analyze verify: rc={proc.returncode} {problems}")
    else:
        print("systemd-analyze not installed: unit checked by content only")

    dockerfile = open(os.path.join(deploy, "Dockerfile")).read()
    engine = shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    if engine:
        proc = subprocess.run(["docker", "build", "-f", os.path.join(deploy, "Dockerfile"), a.source],
                              capture_output=True, text=True)
        check(proc.returncode == 0, f"docker build failed: {proc.stderr[-2000:]}")
        return
    print("no Docker engine: linting the Dockerfile")
    check(re.search(r"^FROM debian:12\b", dockerfile, re.M), "Dockerfile must build FROM debian:12")
    deps = open(os.path.join(a.source, "scripts", "install-deps.sh")).read()
    base = re.search(r"packages=\((.*?)\)", deps, re.S).group(1).split()
    for pkg in base:
        if pkg in ("git", "python3", "libgtest-dev", "libgmock-dev", "libbenchmark-dev"):
            continue
        check(re.search(rf"\b{re.escape(pkg)}\b", dockerfile), f"Dockerfile lacks build package {pkg}")
    libs = subprocess.run(["ldd", a.sensor], capture_output=True, text=True).stdout
    runtime = set()
    for line in libs.splitlines():
        m = re.search(r"=> (\S+)", line)
        if not m or not os.path.exists(m.group(1)):
            continue
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(m.group(1))],
                               capture_output=True, text=True).stdout.split(":")[0]
        if owner and owner not in ("libc6", "libgcc-s1", "libstdc++6", "libasan8", "libubsan1",
                                   "libtsan2", "libcap2", "libsystemd0", "libgcrypt20",
                                   "libgpg-error0", "liblz4-1", "liblzma5", "libzstd1", "zlib1g",
                                   "libdbus-1-3"):
            runtime.add(owner)
    for pkg in sorted(runtime):
        check(re.search(rf"\b{re.escape(pkg)}\b", dockerfile), f"Dockerfile lacks runtime package {pkg}")


if __name__ == "__main__":
    main_wrapper(main)
