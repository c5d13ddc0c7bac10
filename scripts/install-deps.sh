#!/usr/bin/env bash
# Installs the Debian 12 packages the sensor needs. Idempotent: does nothing when every
# package is already installed. Uses sudo when not root.
#   install-deps.sh          packages to build and run the sensor
#   install-deps.sh --test   plus what the test suite needs (sanitizer runtimes, clang, ...)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libpcap-dev libndpi-dev libhyperscan-dev libboost-dev prometheus-cpp-dev
  libexpected-dev libhtp-dev libyaml-cpp-dev libcli11-dev nlohmann-json3-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev libpcre2-dev python3
)
if [[ "${1:-}" == "--test" ]]; then
  # Sanitizer runtimes and linters; real Prometheus/Alertmanager servers (promtool, amtool);
  # tcpreplay, iproute2, ethtool and editcap/mergecap for capture tests and benchmarks;
  # PyYAML for the suricata-verify runner (tests/e2e/sv_runner.py).
  packages+=(clang-14 clang-format clang-tidy libclang-rt-14-dev
             prometheus prometheus-alertmanager tcpreplay iproute2 ethtool wireshark-common
             python3-yaml)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  sudo_cmd=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
