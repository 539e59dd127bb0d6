"""Given the `api:` config section, a typo is an error that names the key, and serving off loopback without a
token refuses to start."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.api import ApiServer
from edge_agent.app import build_pipeline
from edge_agent.config import parse_config
from edge_agent.config_api import ApiConfig
from edge_agent.errors import ConfigError
from edge_agent.ingest.images import ImageLimits
from edge_agent.model_manager import ModelManager

REPO = Path(__file__).resolve().parents[3]


def test_an_unknown_api_key_names_itself() -> None:
    document = {"version": 1, "gateway": {"id": "gw", "site": "s", "line": "l"}, "api": {"max_queue_delay": 2}}
    with pytest.raises(ConfigError, match=r"api\.max_queue_delay: Extra inputs are not permitted"):
        parse_config(document, "config.yaml")
    assert parse_config({**document, "api": {"max_queue_delay_ms": 5}}, "x").api.max_queue_delay_ms == 5


@pytest.mark.parametrize(("host", "token", "reason"), [("0.0.0.0", None, "api.token_file is required"),
                                                       ("127.0.0.1", "short", "at least 16 characters")])  # fmt: skip
def test_serving_off_loopback_needs_a_token(host: str, token: str | None, reason: str) -> None:
    manager = ModelManager(REPO / "models", lambda path: build_pipeline(path, [REPO / "models" / "keys"]))
    with pytest.raises(ConfigError, match=reason):
        ApiServer(ApiConfig(host=host, http_port=0, grpc_port=None), manager, {}, ImageLimits(), lambda: True,
                  token, lambda: False)  # fmt: skip
