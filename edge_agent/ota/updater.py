"""The OTA state machine: poll the desired state, fetch, verify, stage, self-test, shadow, activate, watch."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from edge_agent.contracts import Manifest, semver_key
from edge_agent.errors import EdgeAgentError, ModelPackageError
from edge_agent.model_manager import ModelManager, ModelPipeline
from edge_agent.ota.archive import verify_artifact
from edge_agent.ota.disk_models import NO_PROBATION, NO_SHADOW, DiskModels
from edge_agent.ota.download import DownloadLimits, download_artifact
from edge_agent.ota.http import CloudError, CloudRejected, CloudUnavailable, Transport
from edge_agent.ota.install import clean_work_area, free_bytes, install_staged, ota_dir, read_pointer, set_pointer
from edge_agent.ota.shadow import ShadowEvaluator, ShadowThresholds
from edge_agent.ota.state import FINAL_STATES, Offer, StateFile
from edge_agent.signing import TrustedKeys

log = logging.getLogger(__name__)


class HealthProbe(Protocol):
    """Live figures of a model, read during probation."""

    def model_counts(self, name: str) -> tuple[int, int]:
        """(results, failures) counted so far for a model name."""
        ...

    def model_p99_ms(self, ident: str) -> tuple[float, int]:
        """(p99 inference ms, samples) of one model version, ident = name@version."""
        ...


@dataclass(frozen=True)
class UpdaterSettings:
    """How the updater talks to the cloud and judges new versions."""

    base_url: str
    device_id: str
    token: str
    poll_s: float = 60.0
    disk_factor: float = 2.0
    probation_max_error_rate: float = 0.05
    probation_min_items: int = 20
    limits: DownloadLimits = field(default_factory=DownloadLimits)
    # name -> task of models the line engine loads from models.dir itself: installed and pointed at, never swapped in
    disk_models: Mapping[str, str] = field(default_factory=dict)


class Updater:
    """Drives every offer through the states of DESIGN.md section 6; every change is persisted and reported."""

    def __init__(
        self,
        settings: UpdaterSettings,
        transport: Transport,
        models: ModelManager,
        trusted: TrustedKeys,
        shadow: ShadowEvaluator,
        probe: HealthProbe,
        emit_event: Callable[..., None],
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.models = models
        self.models_dir = models.models_dir
        self.trusted = trusted
        self.shadow = shadow
        self.probe = probe
        self.emit_event = emit_event
        self.state = StateFile(ota_dir(self.models_dir) / "state.json")
        self.disk = DiskModels(self.models_dir, settings.disk_models, trusted)
        self._candidates: dict[str, ModelPipeline] = {}
        self._previous: dict[str, ModelPipeline] = {}
        self._baseline: dict[str, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.token}", "Accept": "application/json"}

    def _url(self, path: str) -> str:
        return f"{self.settings.base_url.rstrip('/')}/api/v1/devices/{self.settings.device_id}{path}"

    def _move(self, offer: Offer, state: str, reason: str = "", **detail: Any) -> None:
        self.state.transition(offer, state, reason, **detail)  # type: ignore[arg-type]
        level = logging.WARNING if state in ("rejected", "rolled_back") else logging.INFO
        log.log(level, "OTA %s@%s: %s %s", offer.name, offer.version, state, reason)
        self.emit_event("ota", model=offer.name, version=offer.version, state=state, reason=reason, **detail)
        self.flush_reports()

    def flush_reports(self) -> None:
        """Send queued state reports in order; stop at the first failure (kept for next time)."""
        while self.state.record.pending_reports:
            report = self.state.record.pending_reports[0]
            try:
                response = self.transport.request(
                    "POST",
                    self._url("/report"),
                    {**self._headers(), "Content-Type": "application/json"},
                    body=json.dumps(report.body).encode(),
                    timeout=self.settings.limits.timeout_s,
                )
            except CloudUnavailable:
                return
            if response.status >= 500:
                return
            self.state.record.pending_reports.pop(0)  # 2xx done; 4xx will never be accepted
            self.state.save()

    # -- start-up -----------------------------------------------------------------------------------
    def recover(self, names: list[str]) -> None:
        """Before models load: make every pointer explicit and settle offers a crash interrupted."""
        offers = self.state.record.offers
        in_flight = {o.name: o for o in offers.values() if o.state not in FINAL_STATES}
        keep = {f"{o.name}-{o.version}.tar.part" for o in in_flight.values()}
        clean_work_area(self.models_dir, keep)
        for name in [*names, *(n for n in self.disk.names() if n not in names)]:
            if read_pointer(self.models_dir, name) is None:
                offer = in_flight.get(name)
                candidates = [
                    p for p in (self.models_dir / name).glob("*/") if p.name != (offer.version if offer else "")
                ]
                if candidates:
                    self._set_initial_pointer(name, candidates)
            offer = in_flight.get(name)
            if offer is None:
                continue
            current = read_pointer(self.models_dir, name)
            if current == offer.version and name in self.disk:  # its pointer moved after a passed self-test
                self._move(offer, "committed", f"resumed after restart; {NO_PROBATION}", skipped="probation")
            elif current == offer.version:
                offer.activated_at = offer.activated_at or time.time()
                self._move(offer, "probation", "resumed after restart")
            elif offer.state in ("active", "probation"):
                self._move(offer, "rolled_back", "restart found the previous version active")
            elif offer.state != "downloading":
                shutil.rmtree(self.models_dir / name / offer.version, ignore_errors=True)
                self._move(offer, "offered", "restart before activation; will fetch and verify again")

    def _set_initial_pointer(self, name: str, candidates: list[Path]) -> None:
        versions = []
        for path in candidates:
            try:
                versions.append((semver_key(path.name), path.name))
            except ValueError:
                continue
        if versions:
            set_pointer(self.models_dir, name, max(versions)[1])

    def load_with_fallback(self, name: str) -> None:
        """Load the active version; if it cannot load and a previous one exists, roll back to it."""
        try:
            self.models.load(name)
        except ModelPackageError as exc:
            previous = read_pointer(self.models_dir, name, "previous")
            offer = self.state.record.offers.get(name)
            if previous is None or previous == read_pointer(self.models_dir, name):
                raise
            set_pointer(self.models_dir, name, previous)
            self.models.load(name)
            if offer is not None:
                self._move(offer, "rolled_back", f"new version failed to load after restart: {exc}")

    # -- polling ----------------------------------------------------------------------------------
    def poll_once(self) -> None:
        """Fetch the desired state and act on any new offer."""
        response = self.transport.request("GET", self._url("/desired"), self._headers())
        if response.status >= 500:
            raise CloudUnavailable(f"desired state: HTTP {response.status}")
        if response.status != 200:
            raise CloudRejected(response.status, response.read_all(4096).decode(errors="replace"))
        document = response.json()
        for entry in document.get("models", []):
            self._consider(entry)

    def _consider(self, entry: dict[str, Any]) -> None:
        name, version = str(entry.get("name")), str(entry.get("version"))
        known = self.state.record.offers.get(name)
        if known and known.version == version and known.artifact_sha256 == entry.get("artifact_sha256"):
            if known.state in ("offered", "downloading"):
                self._fetch_and_stage(known)
            return
        active = self._active_manifest(name)
        if active is not None and active.version == version:
            return
        if known and known.state not in FINAL_STATES and known.version != version:
            self._abandon(known, f"superseded by {version}")
        try:
            offer = Offer(
                name=name,
                version=version,
                rollout_id=entry.get("rollout_id"),
                artifact_url=str(entry["artifact_url"]),
                artifact_sha256=str(entry["artifact_sha256"]),
                artifact_size=int(entry["artifact_size"]),
                shadow=entry.get("shadow"),
                probation_s=float(entry.get("probation_s", 300.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            log.error("ignoring malformed offer %r: %s", entry, exc)
            return
        self._move(offer, "offered")
        self._fetch_and_stage(offer)

    def _active_manifest(self, name: str) -> Manifest | None:
        if name in self.disk:
            return self.disk.active(name)
        active = self.models.get(name)
        return active.model.manifest if active is not None else None

    def _abandon(self, offer: Offer, reason: str) -> None:
        self.shadow.end(offer.name)
        self._candidates.pop(offer.name, None)
        if read_pointer(self.models_dir, offer.name) != offer.version:
            shutil.rmtree(self.models_dir / offer.name / offer.version, ignore_errors=True)
        self._move(offer, "rejected", reason)

    def _artifact_path(self, offer: Offer) -> Path:
        downloads = ota_dir(self.models_dir) / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        return downloads / f"{offer.name}-{offer.version}.tar"

    def _fetch_and_stage(self, offer: Offer) -> None:
        artifact = self._artifact_path(offer)
        if free_bytes(artifact.parent) < self.settings.disk_factor * offer.artifact_size:
            self._move(offer, "rejected", f"less than {self.settings.disk_factor}x the package size free on disk")
            return
        if offer.state != "downloading":
            self._move(offer, "downloading")
        url = offer.artifact_url
        if url.startswith("/"):
            url = self.settings.base_url.rstrip("/") + url
        try:
            download_artifact(
                self.transport,
                url,
                self._headers(),
                artifact,
                offer.artifact_size,
                offer.artifact_sha256,
                self.settings.limits,
            )
        except CloudUnavailable as exc:
            log.info("OTA %s@%s: download paused (%s)", offer.name, offer.version, exc)
            return
        except CloudError as exc:
            self._move(offer, "rejected", f"download failed: {exc}")
            return
        self._verify_and_stage(offer, artifact)

    def _verify_and_stage(self, offer: Offer, artifact: Path) -> None:
        self._move(offer, "verifying")
        staging = ota_dir(self.models_dir) / "staging" / f"{offer.name}-{offer.version}"
        active = self._active_manifest(offer.name)
        try:
            staged = verify_artifact(artifact, staging, offer.name, offer.version, self.trusted, active)
        except ModelPackageError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            artifact.unlink(missing_ok=True)
            self._move(offer, "rejected", str(exc))
            return
        offer.previous = active.version if active else None
        install_staged(staged, self.models_dir, offer.name, offer.version)
        shutil.rmtree(staging, ignore_errors=True)
        artifact.unlink(missing_ok=True)
        self._move(offer, "staged")
        self._selftest(offer)

    def _selftest(self, offer: Offer) -> None:
        self._move(offer, "selftest")
        installed = self.models_dir / offer.name / offer.version
        if offer.name in self.disk:
            self._activate_on_disk(offer, installed)
            return
        try:
            candidate = self.models.build(installed)
        except EdgeAgentError as exc:
            shutil.rmtree(installed, ignore_errors=True)
            self._move(offer, "rejected", f"self-test failed: {exc}")
            return
        self._candidates[offer.name] = candidate
        if offer.shadow:
            self.shadow.begin(offer.name, candidate, ShadowThresholds.model_validate(offer.shadow))
            self._move(offer, "shadow")
        else:
            self._activate(offer)

    # -- activation and watch ------------------------------------------------------------------------
    def _activate(self, offer: Offer) -> None:
        candidate = self._candidates.pop(offer.name)
        previous_version = read_pointer(self.models_dir, offer.name)
        set_pointer(self.models_dir, offer.name, offer.version)
        if previous_version:
            set_pointer(self.models_dir, offer.name, previous_version, "previous")
        previous = self.models.swap(offer.name, candidate)
        if previous is not None:
            self._previous[offer.name] = previous
        self._baseline[offer.name] = self.probe.model_counts(offer.name)
        offer.activated_at = time.time()
        self._move(offer, "active")
        self._move(offer, "probation")

    def _activate_on_disk(self, offer: Offer, installed: Path) -> None:
        """Self-test with its runtime, then move the pointer: the line engine switches within seconds."""
        try:
            self.disk.activate(installed)
        except EdgeAgentError as exc:  # the pointer never moved: the old version stays current
            shutil.rmtree(installed, ignore_errors=True)
            self._move(offer, "rejected", f"self-test failed: {exc}")
            return
        offer.activated_at = time.time()
        self._move(offer, "active", NO_SHADOW, skipped="shadow")
        self._move(offer, "committed", NO_PROBATION, skipped="probation")

    def rollback(self, name: str, reason: str) -> None:
        """Go back to the previous version of a model (automatic, or asked by an operator)."""
        previous_version = read_pointer(self.models_dir, name, "previous")
        if previous_version is None:
            raise ModelPackageError(f"{name}: no previous version to roll back to")
        set_pointer(self.models_dir, name, previous_version)
        pipeline = self._previous.pop(name, None)
        if pipeline is not None and pipeline.model.manifest.version == previous_version:
            self.models.swap(name, pipeline)
        elif name not in self.disk:  # the line engine follows the pointer of a disk model itself
            self.models.load(name)
        offer = self.state.record.offers.get(name)
        if offer is not None and offer.state not in ("rejected", "rolled_back"):
            self._move(offer, "rolled_back", reason)

    def step(self) -> None:
        """Advance offers that wait on time or traffic: shadow trials and probation windows."""
        for offer in list(self.state.record.offers.values()):
            if offer.state == "shadow":
                outcome = self.shadow.judge(offer.name)
                if outcome is None:
                    continue
                passed, reason, figures = outcome
                self.shadow.end(offer.name)
                if passed:
                    self._activate(offer)
                else:
                    self._candidates.pop(offer.name, None)
                    shutil.rmtree(self.models_dir / offer.name / offer.version, ignore_errors=True)
                    self._move(offer, "rejected", reason, **figures)
            elif offer.state == "probation":
                self._judge_probation(offer)

    def _judge_probation(self, offer: Offer) -> None:
        active = self.models.get(offer.name)
        if active is None:
            return
        manifest = active.model.manifest
        ok_start, failed_start = self._baseline.setdefault(offer.name, self.probe.model_counts(offer.name))
        ok_now, failed_now = self.probe.model_counts(offer.name)
        results, failures = ok_now - ok_start, failed_now - failed_start
        seen = results + failures
        if seen >= self.settings.probation_min_items and failures / seen > self.settings.probation_max_error_rate:
            self.rollback(offer.name, f"probation: {failures} of {seen} inputs failed (NaN or runtime errors)")
            return
        p99, samples = self.probe.model_p99_ms(f"{offer.name}@{offer.version}")
        budget = manifest.thresholds.max_latency_ms
        if samples >= self.settings.probation_min_items and p99 > budget:
            self.rollback(offer.name, f"probation: p99 inference {p99:.1f} ms over the {budget:g} ms budget")
            return
        if time.time() - (offer.activated_at or time.time()) >= offer.probation_s:
            self._baseline.pop(offer.name, None)
            self._previous.pop(offer.name, None)
            self._move(offer, "committed", detail_results=results)

    # -- loop ---------------------------------------------------------------------------------------
    def run(self) -> None:
        """Poll and step until stop(); cloud outages only delay updates."""
        next_poll = 0.0
        while not self._stop.wait(0.2):
            try:
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self.settings.poll_s
                    self.flush_reports()
                    self.poll_once()
                self.step()
            except CloudError as exc:
                log.info("cloud not reachable: %s", exc)
            except Exception:
                log.exception("OTA updater step failed")

    def stop(self) -> None:
        """Ask run() to return."""
        self._stop.set()
