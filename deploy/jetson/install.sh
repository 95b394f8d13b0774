#!/usr/bin/env bash
# Installs Became on a bare-metal Jetson (or any systemd host) as the `became` service.
#   dotnet publish src/Became.Cli -c Release -r linux-arm64 --self-contained false -p:TorchBackend=l4t -o publish
#   cp /path/to/libLibTorchSharp.so publish/      # built on the device, see README.md
#   sudo deploy/jetson/install.sh publish
set -euo pipefail

APP_SOURCE="${1:-publish}"
PREFIX=/opt/became
UNIT_SOURCE="$(cd "$(dirname "$0")" && pwd)/became.service"
DOTNET_CHANNEL=10.0

die() { echo "install.sh: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (sudo)."
[[ -x "$APP_SOURCE/became" ]] || die "no published agent at '$APP_SOURCE' (expected $APP_SOURCE/became); see the dotnet publish line at the top."
[[ -f "$UNIT_SOURCE" ]] || die "missing $UNIT_SOURCE."
[[ $(uname -m) == aarch64 ]] || echo "install.sh: note: $(uname -m), not aarch64; continuing." >&2
[[ -f "$APP_SOURCE/libLibTorchSharp.so" ]] \
  || echo "install.sh: warning: no libLibTorchSharp.so in '$APP_SOURCE'; NuGet has none for linux-arm64 (TorchSharp #945), build it on the device (README.md)." >&2

# --- .NET runtime (the agent needs Microsoft.AspNetCore.App $DOTNET_CHANNEL).
find_dotnet_root() {
  local d
  for d in "${DOTNET_ROOT:-}" /usr/share/dotnet /usr/lib/dotnet /opt/dotnet; do
    if [[ -n "$d" && -x "$d/dotnet" ]] && "$d/dotnet" --list-runtimes 2>/dev/null | grep -q "^Microsoft.AspNetCore.App $DOTNET_CHANNEL\."; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

if ! DOTNET_DIR="$(find_dotnet_root)"; then
  DOTNET_DIR=/usr/share/dotnet
  if curl -fsS --max-time 15 -o /tmp/dotnet-install.sh https://dot.net/v1/dotnet-install.sh; then
    bash /tmp/dotnet-install.sh --channel "$DOTNET_CHANNEL" --runtime aspnetcore --install-dir "$DOTNET_DIR"
    rm -f /tmp/dotnet-install.sh
  else
    cat >&2 <<MSG
install.sh: the ASP.NET Core $DOTNET_CHANNEL runtime is missing and https://dot.net is unreachable from here.
Install it offline, then run this script again:
  1. On a connected machine download the linux-arm64 "ASP.NET Core Runtime $DOTNET_CHANNEL" tarball
     (https://dotnet.microsoft.com/download/dotnet/$DOTNET_CHANNEL) and copy it to this device.
  2. sudo mkdir -p $DOTNET_DIR && sudo tar -xzf aspnetcore-runtime-$DOTNET_CHANNEL.*-linux-arm64.tar.gz -C $DOTNET_DIR
MSG
    exit 1
  fi
  DOTNET_DIR="$(find_dotnet_root)" || die ".NET install finished but no Microsoft.AspNetCore.App $DOTNET_CHANNEL runtime was found."
fi
echo "install.sh: .NET runtime in $DOTNET_DIR"

# --- The application.
install -d -m 0755 "$PREFIX"
cp -a "$APP_SOURCE"/. "$PREFIX"/
chmod 0755 "$PREFIX/became"

# --- Environment for the unit: kept if it exists, so local BECAME__* settings survive a reinstall.
if [[ ! -f /etc/default/became ]]; then
  TORCH_LIB="$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null || true)"
  GOMP="$(ls /usr/lib/aarch64-linux-gnu/libgomp.so.1 2>/dev/null || true)"
  {
    echo "# Became agent environment (read by became.service)."
    echo "DOTNET_ROOT=$DOTNET_DIR"
    if [[ -n "$TORCH_LIB" ]]; then echo "LD_LIBRARY_PATH=$TORCH_LIB"; else echo "#LD_LIBRARY_PATH=/path/to/torch/lib"; fi
    # libgomp static TLS workaround for libtorch on aarch64.
    if [[ -n "$GOMP" ]]; then echo "LD_PRELOAD=$GOMP"; else echo "#LD_PRELOAD=/usr/lib/aarch64-linux-gnu/libgomp.so.1"; fi
    echo "#BECAME__DEVICEID=jetson-1"
    echo "#BECAME__DEVICE=auto"
    echo "#BECAME__BROKER__HOST=localhost"
    echo "#BECAME__HTTPURLS=http://0.0.0.0:8080"
    echo "#BECAME__HTTPTOKEN=change-me"
  } > /etc/default/became
  chmod 0640 /etc/default/became
fi

# --- The unit.
install -m 0644 "$UNIT_SOURCE" /etc/systemd/system/became.service
systemctl daemon-reload
systemctl enable --now became.service
echo "install.sh: became.service enabled; follow it with: journalctl -u became -f"
