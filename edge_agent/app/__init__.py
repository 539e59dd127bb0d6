"""The agent's composition root: the only place that wires config, models, queues, MQTT, store and web together."""

from edge_agent.app.agent import Agent, run_agent
from edge_agent.app.pipelines import Pipeline, _pipeline_for, build_pipeline

__all__ = ["Agent", "Pipeline", "_pipeline_for", "build_pipeline", "run_agent"]
