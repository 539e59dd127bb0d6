"""The fleet page GET /: server-rendered, escaped HTML; no scripts, no CDN, refreshes itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, render_template_string
from sqlmodel import col, select

from cloud_sync import fleet, rollouts
from cloud_sync.context import principal, services
from cloud_sync.db import now_ms, session
from cloud_sync.errors import Forbidden, Unauthorized
from cloud_sync.registry import list_versions
from cloud_sync.tables import Device, Report, Rollout
from cloud_sync.wire import FAILED_STATES

page = Blueprint("page", __name__)

# Jinja autoescapes everything rendered through render_template_string.
TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="30">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>cloud-sync fleet</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}
th{background:#f2f2f2}td.waves{white-space:nowrap}.bad{color:#a40000;font-weight:600}.ok{color:#1a6b1a}.muted{color:#777}
.bar{display:inline-block;width:10em;height:.8em;background:#eee;vertical-align:middle}
.bar span{display:inline-block;height:100%}.c{background:#3a3}.f{background:#c33}.p{background:#fb3}
</style></head><body>
<h1>cloud-sync fleet</h1>
<p>{{ count(devices|length, 'device') }}, {{ count(groups|length, 'group') }},
{{ count(models|length, 'model version') }}, {{ count(live, 'live rollout') }}.
<span class="muted">Refreshes every 30 s.</span></p>
<h2>Rollouts</h2>
{% if not rollouts %}<p class="muted">No rollouts yet.</p>{% else %}
<table><tr><th>id</th><th>model</th><th>group</th><th>state</th><th>waves</th></tr>
{% for r in rollouts %}<tr><td>{{ r.id }}</td><td>{{ r.model }} {{ r.version }}</td><td>{{ r.group }}</td>
<td class="{{ 'bad' if r.state == 'paused' else '' }}">{{ r.state }}{% if r.reason %}: {{ r.reason }}{% endif %}</td>
<td class="waves">{% for w in r.waves %}<div>{{ 'canary' if w.index == 0 else 'wave ' ~ w.index }}
{% set c = w.counts.get('committed', 0) %}{% set f = w.counts.get('rejected', 0) + w.counts.get('rolled_back', 0) %}
<span class="bar"><span class="c" style="width:{{ (100 * c / w.devices)|round(1) }}%"></span><span class="f"
style="width:{{ (100 * f / w.devices)|round(1) }}%"></span></span>
{{ c }}/{{ w.devices }} committed{% if f %}, <span class="bad">{{ f }} failed</span>{% endif %}
{% if not w.open %}<span class="muted">(not open)</span>{% endif %}</div>{% endfor %}</td></tr>{% endfor %}
</table>{% endif %}
<h2>Failures</h2>
{% if not failures %}<p class="muted">No rejected or rolled back updates.</p>{% else %}
<table><tr><th>device</th><th>model</th><th>state</th><th>reason</th><th>when (device clock)</th></tr>
{% for f in failures %}<tr><td>{{ f.device_id }}</td><td>{{ f.name }} {{ f.version }}</td>
<td class="bad">{{ f.state }}</td><td>{{ f.reason or 'no reason given' }}</td>
<td>{{ iso(f.ts_ms) }}</td></tr>{% endfor %}
</table>{% endif %}
<h2>Devices</h2>
{% if not devices %}<p class="muted">No devices yet: <code>cloud-sync device add ID --group G</code>.</p>{% else %}
<table><tr><th>device</th><th>group</th><th>models</th><th>last seen</th><th>latest update</th></tr>
{% for d in devices %}<tr><td>{{ d.id }}</td><td>{{ d.group }}</td>
<td>{% for name, version in d.models.items() %}{{ name }} {{ version }}<br>
{% else %}<span class="muted">none</span>{% endfor %}</td>
<td>{{ ago(d.last_seen_ms) }}</td>
<td>{% for s in d.states %}<span class="{{ 'bad' if s.state in failed else ('ok' if s.state == 'committed' else '') }}">
{{ s.name }} {{ s.version }}: {{ s.state }}{% if s.reason %} ({{ s.reason }}){% endif %}</span><br>
{% endfor %}</td></tr>{% endfor %}
</table>{% endif %}
<h2>Models</h2>
{% if not models %}<p class="muted">Nothing published: <code>cloud-sync publish PACKAGE_DIR</code>.</p>{% else %}
<table><tr><th>model</th><th>version</th><th>task</th><th>runtime</th><th>created</th><th>artifact</th></tr>
{% for m in models %}<tr><td>{{ m.name }}</td><td>{{ m.version }}</td><td>{{ m.task }}</td><td>{{ m.runtime }}</td>
<td>{{ m.created }}</td><td>{{ m.artifact_size }} bytes, sha256 {{ m.artifact_sha256[:12] }}</td></tr>{% endfor %}
</table>{% endif %}
</body></html>
"""


@dataclass(frozen=True)
class _DeviceRow:
    id: str
    group: str
    models: dict[str, str]
    last_seen_ms: int | None
    states: list[Any]


def _ago(value: int | None) -> str:
    if value is None:
        return "never"
    seconds = max(0, (now_ms() - value) // 1000)
    if seconds < 120:
        relative = f"{seconds} s ago"
    elif seconds < 7200:
        relative = f"{seconds // 60} min ago"
    elif seconds < 172800:
        relative = f"{seconds // 3600} h ago"
    else:
        relative = f"{seconds // 86400} days ago"
    return f"{fleet.iso_ms(value)} ({relative})"


@page.get("/")
def fleet_page() -> Response:
    """Devices, versions, last seen, rollout progress per wave and failures with reasons."""
    try:
        caller = principal()
    except Unauthorized:
        # Browsers show a login box for Basic; the password is the admin token.
        return Response("admin token required\n", 401, {"WWW-Authenticate": 'Basic realm="cloud-sync fleet"'})
    if not caller.admin:
        raise Forbidden("the fleet page needs the admin token")
    with session(services().engine) as db:
        devices = []
        for device in db.exec(select(Device).order_by(col(Device.id))).all():
            out = fleet.device_out(db, device)
            devices.append(_DeviceRow(out.id, out.group, out.models, device.last_seen_ms, out.states))
        found = db.exec(select(Rollout).order_by(col(Rollout.id).desc()).limit(20)).all()
        rollout_rows = [rollouts.rollout_out(db, rollout, with_devices=False) for rollout in found]
        failures = db.exec(
            select(Report)
            .where(col(Report.state).in_(FAILED_STATES))
            .order_by(col(Report.received_ms).desc())
            .limit(50)
        ).all()
        html = render_template_string(
            TEMPLATE,
            devices=devices,
            groups=fleet.list_groups(db),
            models=list_versions(db),
            rollouts=rollout_rows,
            live=sum(r.state in ("active", "paused") for r in rollout_rows),
            failures=failures,
            failed=FAILED_STATES,
            ago=_ago,
            count=lambda n, noun: f"{n} {noun}{'' if n == 1 else 's'}",
            iso=fleet.iso_ms,
        )
    return Response(html, mimetype="text/html", headers={"Cache-Control": "no-store"})
