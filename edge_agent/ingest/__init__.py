"""Decoders that turn MQTT payload bytes into validated inputs; cheap, and they never trust the sender."""
