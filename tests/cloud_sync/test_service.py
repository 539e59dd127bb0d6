"""Starting the service: settings from the environment, refusals that protect secrets, schema migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect
from sqlmodel import SQLModel

from cloud_sync.app import create_app
from cloud_sync.context import services
from cloud_sync.db import migrate
from cloud_sync.errors import ConfigError
from cloud_sync.settings import Settings
from tests.cloud_sync.helpers import ADMIN_TOKEN, js


def test_settings_come_from_a_file_variables_and_systemd_credentials(tmp_path: Path) -> None:
    # given a config file, variables a systemd unit would set, and the secrets as credential files
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "admin-token").write_text(ADMIN_TOKEN + "\n")
    (credentials / "fleet-signing.key").write_text("key")
    config = tmp_path / "cloud-sync.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\nport: 8000\nthreads: 4\n")
    environ = {"CLOUD_SYNC_PORT": "9090", "CREDENTIALS_DIRECTORY": str(credentials), "HOME": "/root"}
    # when settings are read (variables win over the file, the CLI's --host over both)
    settings = Settings.load(config, environ, host="0.0.0.0")
    # then each value comes from the strongest source and the defaults derive from the state directory
    assert (settings.host, settings.port, settings.threads) == ("0.0.0.0", 9090, 4)
    assert settings.signing_key_path == credentials / "fleet-signing.key"
    assert settings.read_admin_token() == ADMIN_TOKEN
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'state' / 'cloud-sync.db'}"
    assert settings.resolved_storage_url == (tmp_path / "state" / "artifacts").as_uri()


def test_a_config_file_with_an_unknown_key_is_refused_with_file_and_key(tmp_path: Path) -> None:
    # given a config file with a misspelt key
    config = tmp_path / "cloud-sync.yaml"
    config.write_text("signing_key_path: /k\nadmin_token: " + ADMIN_TOKEN + "\ndatabase_ulr: sqlite:///x\n")
    # then loading names the file and the key
    with pytest.raises(ConfigError, match=r"cloud-sync.yaml: database_ulr .*Extra inputs are not permitted"):
        Settings.load(config, {})


@pytest.mark.parametrize(
    ("environ", "phrase"),
    [
        ({"CLOUD_SYNC_SIGNING_KEY_PATH": "/k", "CLOUD_SYNC_ADMIN_TOKEN": ADMIN_TOKEN, "CLOUD_SYNC_PROT": "1"}, "PROT"),
        ({"CLOUD_SYNC_ADMIN_TOKEN": ADMIN_TOKEN}, "SIGNING_KEY_PATH"),
        ({"CLOUD_SYNC_SIGNING_KEY_PATH": "/k"}, "admin_token"),
        ({"CLOUD_SYNC_SIGNING_KEY_PATH": "/k", "CLOUD_SYNC_ADMIN_TOKEN": ADMIN_TOKEN, "CLOUD_SYNC_PORT": "x"}, "PORT"),
    ],
)
def test_bad_settings_are_refused_with_the_variable_named(environ: dict[str, str], phrase: str) -> None:
    # given a misspelt, missing or malformed variable, then the error names it
    with pytest.raises(ConfigError, match=phrase):
        Settings.load(None, environ)


def test_the_service_refuses_a_signing_key_others_can_read(settings_values: dict[str, Any]) -> None:
    # given a fleet key file readable by the group
    key: Path = settings_values["signing_key_path"]
    key.chmod(0o640)
    # when the app is built, then it refuses to start and says how to fix it
    with pytest.raises(ConfigError, match="wider than 0600; run `chmod 600"):
        create_app(Settings.model_validate(settings_values))


def test_the_service_refuses_a_short_admin_token(settings_values: dict[str, Any]) -> None:
    # given a guessable admin token, then the app does not start
    with pytest.raises(ConfigError, match="at least 16 characters"):
        create_app(Settings.model_validate({**settings_values, "admin_token": "secret"}))


def test_the_migrated_schema_matches_the_table_models(app: Flask) -> None:
    # given an app started on a fresh database (Alembic upgrade head)
    with app.app_context():
        engine = services().engine
    # when migrations run again, nothing happens, and the schema equals the models
    migrate(engine)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), SQLModel.metadata) == []
        assert MigrationContext.configure(connection).get_current_revision() == "0003"
    assert "alembic_version" in inspect(engine).get_table_names()


def test_health_endpoints_answer(client: FlaskClient) -> None:
    # given a running app, then it is live and ready (its database answers)
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert js(client.get("/api/v1/nothing-here"))["error"] == "not_found"


def test_the_example_config_file_is_valid(tmp_path: Path) -> None:
    # given the shipped example and the two credentials systemd would provide
    example = Path(__file__).resolve().parents[2] / "cloud_sync" / "cloud-sync.example.yaml"
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "admin-token").write_text(ADMIN_TOKEN)
    (credentials / "fleet-signing.key").write_text("key")
    # when it is loaded, then every key is known and the defaults apply
    settings = Settings.load(example, {"CREDENTIALS_DIRECTORY": str(credentials)})
    assert settings.port == 8080 and settings.resolved_storage_url == "file:///var/lib/cloud-sync/artifacts"
