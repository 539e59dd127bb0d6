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


def test_given_a_baseline_section_and_an_asset_override_then_each_asset_gets_the_merged_keys(tmp_path: Path) -> None:
    from edge_agent.baseline import BaselineSettings

    path = tmp_path / "config.yaml"
    text = GOOD.replace("    rpm: 1780\n", "    rpm: 1780\n    baseline: {min_windows: 300}\n")
    path.write_text(text + "baseline: {windows: 500, commissioning_hours: 2}\nstore: {path: /data/agent.db}\n")
    config = load_config(path, environ={})
    tuning = config.baseline_for("pump-3")
    assert (tuning.windows, tuning.min_windows, tuning.commissioning_hours) == (500, 300, 2.0)
    assert config.baseline_for("other").min_windows == 30
    assert config.baseline_dir() == Path("/data/baselines")
    # every key of the core's settings is a config key with the same default, so the config can set them all
    core = BaselineSettings()
    assert {
        name: getattr(config.baseline.model_copy(update={"windows": 200, "commissioning_hours": None}), name)
        for name in BaselineSettings.model_fields
    } == core.model_dump()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("baseline: {windows: 10, min_windows: 20}\n", "min_windows (20) exceeds windows (10)"),
        ("baseline: {speed_tolerance: 2}\n", "baseline.speed_tolerance"),
        ("baseline: {windos: 10}\n", "baseline.windos"),
        ("baseline: {windows: 100}\n", None),
    ],
)
def test_given_bad_baseline_keys_then_the_error_names_them(tmp_path: Path, text: str, message: str | None) -> None:
    path = tmp_path / "config.yaml"
    override = "    baseline: {min_windows: 150}\n" if message is None else ""
    path.write_text(GOOD.replace("    rpm: 1780\n", "    rpm: 1780\n" + override) + text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert (message or "assets.pump-3.baseline: Value error, min_windows (150) exceeds windows (100)") in str(
        info.value
    )
