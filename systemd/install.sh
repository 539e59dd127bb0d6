#!/usr/bin/env bash
# Install edge-agent on a Debian/Ubuntu gateway as a hardened systemd service.
#   sudo systemd/install.sh            # from a clone of this repository
# Idempotent: re-running upgrades the code and keeps config, keys, credentials and state.
# systemd/uninstall.sh [--purge] removes it again.
set -euo pipefail
PREFIX=${PREFIX:-/opt/edge-agent}
SRC=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "run as root (sudo)" >&2; exit 1; }

apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv mosquitto >/dev/null

id edge-agent >/dev/null 2>&1 || useradd --system --home-dir /var/lib/edge-agent --shell /usr/sbin/nologin edge-agent
python3 -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install --quiet --upgrade pip
"$PREFIX/venv/bin/pip" install --quiet "$SRC"

install -d -m 0750 -o root -g edge-agent /etc/edge-agent /etc/edge-agent/trusted-keys
install -d -m 0700 -o root -g root /etc/edge-agent/credentials
install -d -m 0750 -o edge-agent -g edge-agent /var/lib/edge-agent /var/lib/edge-agent/models
[ -f /etc/edge-agent/config.yaml ] || install -m 0640 -o root -g edge-agent \
    "$SRC/firmware-config/config.example.yaml" /etc/edge-agent/config.yaml
for secret in mqtt-password cloud-token web-password-hash; do
    [ -f "/etc/edge-agent/credentials/$secret" ] || install -m 0600 /dev/null "/etc/edge-agent/credentials/$secret"
done
# The shipped packages are signed with the development key: trust it only for a demo gateway.
if [ "${TRUST_DEV_KEY:-0}" = 1 ]; then
    install -m 0644 "$SRC/models/keys/dev-signing.pub" /etc/edge-agent/trusted-keys/dev-signing.pub
    for package in "$SRC"/models/*/*/manifest.json; do
        dir=$(dirname "$package"); name=$(basename "$(dirname "$dir")"); version=$(basename "$dir")
        install -d -m 0750 -o edge-agent -g edge-agent "/var/lib/edge-agent/models/$name"
        [ -d "/var/lib/edge-agent/models/$name/$version" ] || cp -r "$dir" "/var/lib/edge-agent/models/$name/$version"
    done
    chown -R edge-agent:edge-agent /var/lib/edge-agent/models
fi
install -m 0644 "$SRC/systemd/edge-agent.service" /etc/systemd/system/edge-agent.service
systemctl daemon-reload
"$PREFIX/venv/bin/edge-agent" check-config /etc/edge-agent/config.yaml
systemctl enable edge-agent.service
# restart, not enable --now: a re-run must put the upgraded code into service, and with Type=notify this
# returns only once the new agent has sent READY (or fails the install if it never does).
systemctl restart edge-agent.service
systemctl --no-pager --lines=0 status edge-agent.service
