"""Pipelines: manifest-driven pre/post-processing around an inference runtime."""
