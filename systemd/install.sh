#!/bin/sh
# Install edgepose as a systemd service on a Jetson (or any Linux with systemd).
#
#   sudo systemd/install.sh [--prefix /opt/edgepose] [--csi] [--start] [--python python3]
#
# Creates the system user `edgepose` (group video), /etc/edgepose (config + credentials),
# /var/lib/edgepose (engines, snapshots, state), a venv under PREFIX with this checkout installed,
# installs and enables edgepose.service, then prints how to build the TensorRT engine on this device.
# Safe to run again: existing config and credentials are kept.
set -eu

PREFIX=/opt/edgepose
PYTHON=python3
CSI=0
START=0
SRC=$(cd "$(dirname "$0")/.." && pwd)

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX=$2; shift 2 ;;
        --python) PYTHON=$2; shift 2 ;;
        --csi) CSI=1; shift ;;
        --start) START=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage 2 ;;
    esac
done

[ "$(id -u)" = 0 ] || { echo "install.sh: run as root (sudo $0)" >&2; exit 1; }
command -v systemctl >/dev/null 2>&1 || { echo "install.sh: systemd (systemctl) not found" >&2; exit 1; }

step() { echo "==> $*"; }

step "user and group 'edgepose' (member of video)"
getent group video >/dev/null || groupadd --system video
getent group edgepose >/dev/null || groupadd --system edgepose
if ! id edgepose >/dev/null 2>&1; then
    useradd --system --gid edgepose --groups video --home-dir /var/lib/edgepose --no-create-home \
        --shell /usr/sbin/nologin --comment "edgepose service" edgepose
else
    usermod -a -G video edgepose
fi

step "directories"
install -d -m 0755 -o root -g root "$PREFIX"
install -d -m 0750 -o root -g edgepose /etc/edgepose
install -d -m 0700 -o root -g root /etc/edgepose/credentials
install -d -m 0750 -o edgepose -g edgepose /var/lib/edgepose
for d in engines snapshots state; do
    install -d -m 0750 -o edgepose -g edgepose "/var/lib/edgepose/$d"
done

step "credentials in /etc/edgepose/credentials (read by systemd LoadCredential=, never by the service user)"
if [ ! -s /etc/edgepose/credentials/http_token ]; then
    umask 077
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > /etc/edgepose/credentials/http_token
    echo "    new HTTP token: sudo cat /etc/edgepose/credentials/http_token"
fi
[ -e /etc/edgepose/credentials/mqtt_password ] || : > /etc/edgepose/credentials/mqtt_password
chmod 0600 /etc/edgepose/credentials/http_token /etc/edgepose/credentials/mqtt_password

step "Python environment in $PREFIX/venv (with system site packages: JetPack's TensorRT and OpenCV)"
[ -x "$PREFIX/venv/bin/python" ] || "$PYTHON" -m venv --system-site-packages "$PREFIX/venv"
"$PREFIX/venv/bin/python" -m pip install -q --upgrade pip
"$PREFIX/venv/bin/python" -m pip install -q "$SRC[mqtt]"
mkdir -p "$PREFIX/systemd"
cp "$SRC/systemd/README.md" "$PREFIX/systemd/README.md"

step "config /etc/edgepose/config.yaml"
if [ ! -e /etc/edgepose/config.yaml ]; then
    install -m 0640 -o root -g edgepose "$SRC/systemd/config.example.yaml" /etc/edgepose/config.yaml
    echo "    edit it: sources (your cameras), model/engine, sinks"
else
    echo "    kept the existing file"
fi
"$PREFIX/venv/bin/edgepose" config check /etc/edgepose/config.yaml || \
    echo "    WARNING: the config does not validate yet; fix it before starting the service"

step "systemd unit"
sed "s#/opt/edgepose/venv/bin/edgepose#$PREFIX/venv/bin/edgepose#; s#file:///opt/edgepose/#file://$PREFIX/#" \
    "$SRC/systemd/edgepose.service" > /etc/systemd/system/edgepose.service
chmod 0644 /etc/systemd/system/edgepose.service
if [ "$CSI" = 1 ]; then
    install -d -m 0755 /etc/systemd/system/edgepose.service.d
    install -m 0644 "$SRC/systemd/csi-camera.conf" /etc/systemd/system/edgepose.service.d/csi-camera.conf
fi
if command -v systemd-analyze >/dev/null 2>&1; then
    systemd-analyze verify /etc/systemd/system/edgepose.service || true
fi
systemctl daemon-reload
systemctl enable edgepose.service
if [ "$START" = 1 ]; then
    systemctl restart edgepose.service
fi

cat <<MSG

Installed. Next steps:
  1. Build the TensorRT engine ON THIS DEVICE (engines are tied to the GPU and TensorRT version):
       sudo -u edgepose $PREFIX/venv/bin/edgepose build MODEL.onnx --profile tao-bpnet --precision fp16 \\
           --out /var/lib/edgepose/engines/
     (INT8: add --precision int8 --calib DIR with 500-2000 frames from your camera,
      collected with: edgepose calib collect /dev/video0 --out /var/lib/edgepose/calib --count 500)
     pycuda is needed for the engine runtime: $PREFIX/venv/bin/pip install pycuda
  2. Point model.engine in /etc/edgepose/config.yaml at the .engine file, then check the config:
       $PREFIX/venv/bin/edgepose config check /etc/edgepose/config.yaml
  3. Start and watch it:
       sudo systemctl start edgepose && journalctl -u edgepose -f
       curl http://127.0.0.1:8080/healthz
  Reload after editing the config (no engine reload for thresholds, zones, sinks):
       sudo systemctl reload edgepose
MSG
