"""cloud-sync: model registry, rollouts, telemetry intake and retraining for a fleet of gateways."""

__version__ = "0.1.0"
