"""The gateway's MQTT topics (DESIGN.md section 4), derived from its namespace and id."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    """Every topic of one gateway, derived from the namespace and gateway id."""

    ns: str
    gateway: str

    @property
    def status(self) -> str:
        """Retained online/offline status document."""
        return f"{self.ns}/agent/{self.gateway}/status"

    @property
    def events(self) -> str:
        """Agent events."""
        return f"{self.ns}/agent/{self.gateway}/events"

    def inspection(self, camera: str) -> str:
        """Inspection results of a camera."""
        return f"{self.ns}/inspection/{camera}/result"

    def health(self, asset: str) -> str:
        """Health results of an asset."""
        return f"{self.ns}/maintenance/{asset}/health"

    def subscriptions(self) -> list[str]:
        """What the agent reads from the plant namespace."""
        return [f"{self.ns}/cam/+/frame", f"{self.ns}/sensor/+/+", f"{self.ns}/label/+"]
