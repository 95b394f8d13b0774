#!/usr/bin/env bash
# Installs what Became needs on a fresh Debian 12 / Ubuntu 22.04+ box: the data set, the plot font,
# mosquitto and openssl (for the tests' real broker and its certificates), and checks the .NET SDK. Safe to run again: it installs only what is missing.
set -euo pipefail

need_packages=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need_packages+=(dataset-fashion-mnist)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_packages+=(fonts-dejavu-core)
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null 2>&1 || need_packages+=(mosquitto)
# openssl makes the TLS tests' throw-away CA and certificates (mosquitto_passwd, their password file, comes with mosquitto).
command -v openssl >/dev/null 2>&1 || need_packages+=(openssl)
# PyTorch and paho-mqtt for examples/python (Debian's python3, not a pyenv/venv one earlier on PATH).
/usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || need_packages+=(python3-torch)
/usr/bin/python3 -c 'import paho.mqtt' >/dev/null 2>&1 || need_packages+=(python3-paho-mqtt)
# bench/side-by-side.sh measures each process with /usr/bin/time (wall, CPU, peak RSS).
[ -x /usr/bin/time ] || need_packages+=(time)
# The deploy checks: systemd-analyze verify on the unit, docker-compose config (no engine needed), npm for dockerfilelint.
command -v systemd-analyze >/dev/null 2>&1 || need_packages+=(systemd)
command -v docker-compose >/dev/null 2>&1 || need_packages+=(docker-compose)
command -v npm >/dev/null 2>&1 || need_packages+=(npm)
# Chromium, headless, drives the status page's browser test.
command -v chromium >/dev/null 2>&1 || need_packages+=(chromium)

if [ ${#need_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "became setup: missing Debian packages: ${need_packages[*]}; run as root: apt-get install -y ${need_packages[*]}" >&2
    exit 1
  fi
  echo "became setup: installing ${need_packages[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_packages[@]}" >/dev/null
  # The package starts a system broker on port 1883; Became's tests start their own brokers on free ports
  # and the agent embeds one on 1883, so stop the system one we just installed.
  if printf '%s\n' "${need_packages[@]}" | grep -qx mosquitto; then
    { $sudo systemctl disable --now mosquitto || $sudo service mosquitto stop; } >/dev/null 2>&1 || true
  fi
fi

# dockerfilelint, pinned by tools/dockerfilelint/package-lock.json, into that folder (git-ignored node_modules).
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -x "$root/tools/dockerfilelint/node_modules/.bin/dockerfilelint" ]; then
  echo "became setup: installing dockerfilelint (npm)" >&2
  npm ci --prefix "$root/tools/dockerfilelint" --no-audit --no-fund --loglevel=error >/dev/null
fi

if ! command -v dotnet >/dev/null 2>&1; then
  echo "became setup: the .NET 10 SDK is required (https://learn.microsoft.com/dotnet/core/install/linux-debian)." >&2
  exit 1
fi
major=$(dotnet --version 2>/dev/null | cut -d. -f1)
if [ "${major:-0}" -lt 10 ]; then
  echo "became setup: the .NET SDK is $(dotnet --version); Became needs 10 or later." >&2
  exit 1
fi
