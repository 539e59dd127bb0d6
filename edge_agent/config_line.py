"""The `line:` config section: work units, their PLC tags and state mapping, ideal cycle times and shifts."""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LineState = Literal["running", "idle", "blocked", "starved", "fault", "planned_stop", "changeover"]
UNIT_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
LINE_UNIT = "all"  # the reserved unit id the line aggregate is published under (a valid cloud-sync stream source)


class _Section(BaseModel):
    """Base for config sections: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class CounterTags(_Section):
    """Part counters of a unit: any two of good/reject/total (or one: total means all good, good means no rejects)."""

    good: str | None = Field(default=None, description="Tag of the good-part counter")
    reject: str | None = Field(default=None, description="Tag of the reject counter")
    total: str | None = Field(default=None, description="Tag of the total-part counter")
    rollover: int = Field(
        default=2**32, ge=2, description="Counter modulus: a value that falls from near this back to near 0 rolled over"
    )

    def tags(self) -> list[str]:
        """Every configured counter tag."""
        return [t for t in (self.good, self.reject, self.total) if t]


class UnitConfig(_Section):
    """A work unit (station or machine) whose state and parts the line KPIs are computed from."""

    id: str = Field(pattern=UNIT_ID, description="Work unit id, used in topics and metrics")
    state_tag: str = Field(
        description="Tag that carries the PLC state: 'ASSET/TAG' for MQTT ({ns}/sensor/ASSET/TAG), "
        "'sparkplug:NODE[/DEVICE]:METRIC' for Sparkplug B, 'opcua:NODEID' (e.g. opcua:ns=2;s=Press1.State); "
        "the other tag keys take the same forms"
    )
    states: dict[str, LineState] = Field(
        description="PLC state value (as text: 1, RUN, true) -> state; unknown values are counted as unknown time"
    )
    counters: CounterTags | None = Field(default=None, description="Part counter tags")
    part_tag: str | None = Field(
        default=None, description="Tag where every update is one part: ok/good/true/1 is good, anything else a reject"
    )
    inspection_camera: str | None = Field(
        default=None, description="Camera whose inspection verdicts count this unit's parts (ok good, ng reject)"
    )
    product_tag: str | None = Field(default=None, description="Tag naming the product being made")
    speed_tag: str | None = Field(
        default=None, description="Tag of the speed setpoint (any unit, e.g. %): a feature of the cycle-time model"
    )
    upstream: str | None = Field(
        default=None,
        pattern=UNIT_ID,
        description="Id of the unit feeding this one: the share of a cycle it was not running is a model feature",
    )
    ideal_cycle_s: dict[str, float] = Field(
        description="Ideal cycle time in seconds per product; key 'default' for products not listed"
    )
    heartbeat_s: float | None = Field(
        default=None,
        gt=0,
        description="The PLC repeats its state at least this often: a state older than 3 x this is unknown time",
    )

    @field_validator("ideal_cycle_s")
    @classmethod
    def _positive_cycles(cls, value: dict[str, float]) -> dict[str, float]:
        if not value or any(v <= 0 for v in value.values()):
            raise ValueError("needs at least one product with an ideal cycle time > 0")
        return value

    @model_validator(mode="after")
    def _one_part_source(self) -> UnitConfig:
        sources = [s for s in (self.counters, self.part_tag, self.inspection_camera) if s]
        if len(sources) != 1:
            raise ValueError(f"unit {self.id}: exactly one of counters, part_tag, inspection_camera is needed")
        if self.counters is not None and not self.counters.tags():
            raise ValueError(f"unit {self.id}: counters names no tag")
        return self

    def ideal_cycle(self, product: str | None) -> float:
        """The ideal cycle time of a product (the default when it has none of its own)."""
        if product is not None and product in self.ideal_cycle_s:
            return self.ideal_cycle_s[product]
        return self.ideal_cycle_s.get("default", min(self.ideal_cycle_s.values()))


class PlannedBreak(_Section):
    """Planned downtime inside a shift (a break, a meeting, planned maintenance)."""

    start: time = Field(description="Start time of day (HH:MM)")
    minutes: float = Field(gt=0, le=24 * 60, description="Length in minutes")


class ShiftConfig(_Section):
    """One shift of the daily calendar (times in UTC unless the whole calendar says otherwise)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="Shift name, e.g. early")
    start: time = Field(description="Start time of day (HH:MM)")
    hours: float = Field(gt=0, le=24, description="Length in hours (may run past midnight)")
    breaks: list[PlannedBreak] = Field(default_factory=list, description="Planned downtime in this shift")


class OpcUaConfig(_Section):
    """The OPC UA server the `opcua:` tags are subscribed on."""

    url: str = Field(description="Endpoint URL, e.g. opc.tcp://plc-1:4840")
    publishing_interval_ms: float = Field(default=500, gt=0, description="Subscription publishing interval")
    reconnect_s: float = Field(default=2.0, gt=0, description="Wait between reconnect attempts")
    timeout_s: float = Field(default=4.0, gt=0, description="Request timeout")


class CycleModelConfig(_Section):
    """The cycle-time model: expected cycle per unit, product, speed and upstream state; slow, micro-stop, drift."""

    model: str = Field(default="cycle-time", description="Model package name under models.dir (NAME/current)")
    micro_stop_s: float = Field(
        default=2.0,
        gt=0,
        description="A cycle this many seconds longer than expected (and over the model's 99.9% bound) while the "
        "state said running is a hidden micro-stop; micro-stops are 3-30 s, the margin is the cycle's own spread",
    )
    drift_k: float = Field(
        default=0.5, ge=0, description="CUSUM allowance in the model's residual sigmas (half the shift to catch fast)"
    )
    drift_h: float = Field(
        default=12.0, gt=0, description="CUSUM decision interval in residual sigmas (false alarms vs. delay)"
    )
    level_cycles: int = Field(
        default=30, ge=1, description="Recent cycles whose median pace over the model micro-stops are judged against"
    )
    upstream_wait_s: float = Field(
        default=65.0,
        ge=0,
        description="How long (s) a cycle waits for its unit's and its upstream unit's state tags to have a sample "
        "at or after its end (a state change or heartbeat; two heartbeats by default); then it is judged as known",
    )
    upload_cycles: int = Field(
        default=500, ge=0, description="Cycles per outbox record uploaded for retraining (stream cycles/UNIT); 0: off"
    )


class LineConfig(_Section):
    """Line performance per ISO 22400-2: OEE, availability, performance, quality and the six big losses."""

    units: list[UnitConfig] = Field(default_factory=list, description="Work units; the line is off when empty")
    shifts: list[ShiftConfig] = Field(
        default_factory=lambda: [ShiftConfig(name="day", start=time(0, 0), hours=24)],
        description="Daily shift calendar (UTC); must not overlap itself",
    )
    small_stop_max_s: float = Field(
        default=60.0, gt=0, description="An idle/blocked/starved stop shorter than this is a small stop"
    )
    startup_s: float = Field(
        default=300.0, ge=0, description="Rejects within this long after a changeover ends are start-up rejects"
    )
    rolling_window_s: float = Field(default=3600.0, gt=0, description="Length of the rolling KPI window")
    publish_interval_s: float = Field(default=30.0, gt=0, description="How often KPIs are computed and published")
    upstream_interval_s: float = Field(default=900.0, gt=0, description="How often running KPIs go to cloud-sync")
    save_interval_s: float = Field(default=5.0, gt=0, description="How often the timeline is saved (restart loss)")
    max_future_s: float = Field(default=5.0, ge=0, description="Tags stamped further ahead than this are refused")
    opcua: OpcUaConfig | None = Field(default=None, description="OPC UA server for opcua: tags")
    cycles: CycleModelConfig | None = Field(
        default=None, description="Cycle-time model: slow cycles, hidden micro-stops and drift per unit; off when unset"
    )

    @model_validator(mode="after")
    def _checked(self) -> LineConfig:
        ids = [u.id for u in self.units]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate line unit ids: {', '.join(duplicates)}")
        if LINE_UNIT in ids:
            raise ValueError(f"unit id {LINE_UNIT} is reserved for the line aggregate")
        uses_opcua = any(tag.startswith("opcua:") for unit in self.units for tag in unit_tags(unit))
        if uses_opcua and self.opcua is None:
            raise ValueError("units use opcua: tags but line.opcua is not set")
        for unit in self.units:
            if unit.upstream is not None and (unit.upstream not in ids or unit.upstream == unit.id):
                raise ValueError(f"unit {unit.id}: upstream {unit.upstream} is not another unit of the line")
        _check_calendar(self.shifts)
        return self


def unit_tags(unit: UnitConfig) -> list[str]:
    """Every tag reference a unit reads."""
    tags = [unit.state_tag, *(unit.counters.tags() if unit.counters else [])]
    return tags + [t for t in (unit.part_tag, unit.product_tag, unit.speed_tag) if t]


def _check_calendar(shifts: list[ShiftConfig]) -> None:
    """Shifts may not overlap each other within the day (or across midnight)."""
    spans = []
    for shift in shifts:
        start = shift.start.hour * 60 + shift.start.minute
        spans.append((start, start + shift.hours * 60, shift.name))
    total = sum(end - start for start, end, _ in spans)
    if total > 24 * 60 + 1e-9:
        raise ValueError(f"the shift calendar covers {total / 60:g} h of a 24 h day: shifts overlap")
    for a in spans:
        for b in spans:
            if a is b:
                continue
            for shift_by in (0.0, 24 * 60.0, -24 * 60.0):
                if a[0] < b[1] + shift_by and b[0] + shift_by < a[1]:
                    raise ValueError(f"shifts {a[2]} and {b[2]} overlap")
