"""edge-agent: the factory gateway service that runs inspection and maintenance models."""

__version__ = "0.1.0"
