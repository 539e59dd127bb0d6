"""Data generators, training, quantization, packaging and evaluation (needs the `train` extra)."""
