"""Given a config file, when it is loaded, then errors name the file and key, and env overrides apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import load_asset, load_config
from edge_agent.errors import ConfigError

GOOD = """
version: 1
gateway: {id: gw-1, site: plant-a, line: line-2}
mqtt: {host: broker.local, port: 1883}
cameras:
  - {id: cam-1, model: surface-inspection}
assets:
  - id: pump-3
    bearing: {balls: 9, ball_diameter_mm: 7.94, pitch_diameter_mm: 39.04, contact_angle_deg: 0}
    rpm: 1780
"""


def test_a_valid_config_loads_and_env_overrides_win(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(GOOD)
    config = load_config(path, environ={"EDGE_AGENT__MQTT__PORT": "1884", "OTHER": "x"})
    assert config.mqtt.port == 1884
    assert config.gateway.ns == "factory/v1/plant-a/line-2"
    assert config.assets[0].bearing is not None and config.assets[0].bearing.balls == 9


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("port: 1883", "port: 99999"), "mqtt.port"),
        (GOOD.replace("host: broker.local", "hots: broker.local"), "mqtt.hots"),
        (GOOD.replace("version: 1", "version: 2"), "version"),
        (GOOD.replace("balls: 9", "balls: 1"), "assets.0.bearing.balls"),
        (GOOD + "  - {id: pump-3}\n", "duplicate asset ids: pump-3"),
        ("just a string", "top level must be a mapping"),
        ("a: [", "not valid YAML"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(path) in str(info.value) and message in str(info.value)


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_an_asset_file_loads_alone_or_as_a_one_item_list(tmp_path: Path) -> None:
    single = tmp_path / "asset.yaml"
    single.write_text("id: pump-3\nrpm: 1780\nbearing: {balls: 9, ball_diameter_mm: 7.94, pitch_diameter_mm: 39.04}\n")
    assert load_asset(single).rpm == 1780
    listed = tmp_path / "assets.yaml"
    listed.write_text("assets:\n  - {id: fan-1, rpm: 900}\n")
    assert load_asset(listed).id == "fan-1"
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: pump-3\nrpm: -1\n")
    with pytest.raises(ConfigError, match="rpm"):
        load_asset(bad)
