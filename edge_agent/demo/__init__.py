"""The local demo: a private broker, a local cloud-sync, the agent and a simulated line (`edge-agent demo`)."""
