"""The edge-agent exception tree: every error the agent raises derives from EdgeAgentError."""

from __future__ import annotations


class EdgeAgentError(Exception):
    """Root of every error raised by edge_agent."""


class ConfigError(EdgeAgentError):
    """A configuration file or value is invalid; the message names the file and the key."""


class ModelPackageError(EdgeAgentError):
    """A model package cannot be used: missing files, bad manifest, failed checks."""


class ManifestError(ModelPackageError):
    """manifest.json is unreadable or does not follow the manifest schema."""


class SignatureError(ModelPackageError):
    """manifest.sig is missing or not a valid signature by a trusted key."""


class IntegrityError(ModelPackageError):
    """The model file does not match the size or sha256 the manifest declares."""


class IncompatibleModelError(ModelPackageError):
    """The model needs a newer agent, or its tensors differ from what the manifest declares."""


class RuntimeLoadError(ModelPackageError):
    """The inference runtime could not load the model file."""


class SelfTestError(ModelPackageError):
    """The model's outputs on selftest.npz differ from the expected outputs."""


class InferenceError(EdgeAgentError):
    """The runtime failed while running a model on a valid input."""


class InputError(EdgeAgentError):
    """An input (image, vibration window, message) is malformed or out of range."""


class DecodeError(InputError):
    """Bytes could not be decoded into an image or a message."""


class InputShapeError(InputError):
    """An input decoded but its size, length or shape is outside what the model accepts."""
