#!/usr/bin/env bash
# Remove what systemd/install.sh installed: stop and disable the service, delete its unit and the venv.
#   sudo systemd/uninstall.sh            # keeps /etc/edge-agent (config, keys, credentials), /var/lib/edge-agent
#                                        # (store, outbox, baselines, models) and the edge-agent user
#   sudo systemd/uninstall.sh --purge    # also deletes those
# Idempotent: running it on a gateway without edge-agent does nothing. mosquitto, python3 and python3-venv
# stay: they are Debian packages other software on the gateway may use.
set -euo pipefail
PREFIX=${PREFIX:-/opt/edge-agent}
UNIT=/etc/systemd/system/edge-agent.service
purge=0
case "${1:-}" in
    "") ;;
    --purge) purge=1 ;;
    *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "run as root (sudo)" >&2; exit 1; }

if [ -e "$UNIT" ] || systemctl is-active --quiet edge-agent.service; then
    # disable --now waits for the stop, so the agent flushes its outbox and store before its venv goes
    systemctl disable --now edge-agent.service
fi
rm -f "$UNIT"
# drop-ins are an operator's settings: like the config they go only with --purge
if [ "$purge" = 1 ]; then rm -rf "$UNIT.d"; fi
systemctl daemon-reload
systemctl reset-failed edge-agent.service 2>/dev/null || true
rm -rf "$PREFIX/venv"
rmdir "$PREFIX" 2>/dev/null || true

if [ "$purge" = 1 ]; then
    rm -rf /etc/edge-agent /var/lib/edge-agent
    # the user goes last: nothing it owned is left, so no file keeps a dangling uid
    if id edge-agent >/dev/null 2>&1; then userdel edge-agent; fi
    echo "edge-agent removed, with its config and state"
else
    echo "edge-agent removed; kept /etc/edge-agent and /var/lib/edge-agent (--purge deletes them)"
fi
