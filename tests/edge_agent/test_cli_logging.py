"""Given the agent's log level, libraries that log every protocol message are held back unless debugging."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from edge_agent.cli import CHATTY_LIBRARIES, quiet_chatty_libraries


@pytest.fixture(autouse=True)
def _restore_levels() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in CHATTY_LIBRARIES}
    yield
    root.setLevel(saved[0])
    for name, level in saved[1].items():
        logging.getLogger(name).setLevel(level)


def test_given_info_level_when_quieted_then_asyncua_info_is_dropped_and_its_warnings_kept() -> None:
    logging.getLogger().setLevel(logging.INFO)

    quiet_chatty_libraries()

    publish_log = logging.getLogger("asyncua.common.subscription")
    assert not publish_log.isEnabledFor(logging.INFO)
    assert publish_log.isEnabledFor(logging.WARNING)
    assert logging.getLogger("edge_agent.line.opcua").isEnabledFor(logging.INFO)  # our own lines still show


def test_given_debug_level_when_quieted_then_asyncua_logs_everything() -> None:
    logging.getLogger().setLevel(logging.INFO)
    quiet_chatty_libraries()
    logging.getLogger().setLevel(logging.DEBUG)  # e.g. the config file asks for debug after start-up

    quiet_chatty_libraries()

    assert logging.getLogger("asyncua.common.subscription").isEnabledFor(logging.DEBUG)
