"""/metrics: absent on the public port unless a bearer token is set; on its own port in run."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from digestbot.settings import load_settings
from digestbot.web.app import create_app
from digestbot.wiring import build_service
from test_run import free_port, start_run, stop_run

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

TOKEN = "metrics-token-5b2a"
METRIC_NAMES = (
    "digestbot_deliveries_total",
    "digestbot_bot_commands_total",
    "digestbot_publish_duration_seconds",
    "digestbot_http_requests_total",
)


def _client() -> Iterator[TestClient]:
    app = create_app(build_service(load_settings()), manage_lifespan=True)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_no_metrics_on_the_public_port_without_a_token(env: Path) -> None:
    for client in _client():
        for headers in ({}, {"Authorization": "Bearer anything"}):
            r = client.get("/metrics", headers=headers)
            assert r.status_code == 404
            assert "digestbot_" not in r.text
        assert client.get("/healthz").status_code == 200


def test_metrics_behind_a_bearer_token(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGESTBOT_HTTP__METRICS_TOKEN", TOKEN)
    for client in _client():
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            r = client.get("/metrics", headers=headers)
            assert r.status_code == 401, headers
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert "digestbot_" not in r.text
        for _ in range(2):  # rendered, then from the page cache: both counted by route
            client.get("/issues/2024-W16")
        m = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert m.status_code == 200 and m.headers["content-type"].startswith("text/plain")
        assert m.headers["cache-control"] == "no-store"
        for name in METRIC_NAMES:
            assert name in m.text, name
        assert 'route="/issues/{week}"' in m.text  # route templates, never raw paths


def test_run_serves_metrics_on_their_own_port(env: Path) -> None:
    port, metrics_port = free_port(), free_port()
    environ = {
        **os.environ,
        "DIGESTBOT_HTTP__PORT": str(port),
        "DIGESTBOT_HTTP__METRICS_PORT": str(metrics_port),
    }
    proc, lines = start_run(environ, env)
    try:
        assert f"metrics: serving on http://127.0.0.1:{metrics_port}/metrics" in lines
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 404
        m = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
        assert m.status_code == 200
        assert 'digestbot_http_requests_total{route="/healthz",status="200"} 1.0' in m.text
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/", timeout=5).status_code == 404
    finally:
        code = stop_run(proc, lines)
    assert code == 0, "\n".join(lines)
