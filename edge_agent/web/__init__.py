"""The gateway's local status page, JSON API, /metrics, /livez and /readyz (Flask, served by waitress)."""

from edge_agent.web.factory import create_app
from edge_agent.web.server import ServerHandle, serve_in_thread
from edge_agent.web.settings import WebSettings
from edge_agent.web.tap import ThumbnailTap
from edge_agent.web.thumbnails import ThumbnailBuffer
from edge_agent.web.view import AgentView, LabelRejected, StatusView

__all__ = [
    "AgentView",
    "LabelRejected",
    "ServerHandle",
    "StatusView",
    "ThumbnailBuffer",
    "ThumbnailTap",
    "WebSettings",
    "create_app",
    "serve_in_thread",
]
