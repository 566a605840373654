"""`--expect auto`: the instance type from an IMDSv2 stand-in on 127.0.0.1 (token first, then the type)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from gpucloud.cli import main
from gpucloud.health import tools

TOKEN = "t0k3n"


class Imds(http.server.BaseHTTPRequestHandler):
    def do_PUT(self) -> None:
        ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        self._answer(200 if ok else 400, TOKEN if ok else "")

    def do_GET(self) -> None:
        ok = self.path == "/latest/meta-data/instance-type" and self.headers.get("X-aws-ec2-metadata-token") == TOKEN
        self._answer(200 if ok else 401, "p5.48xlarge" if ok else "")  # IMDSv2 only: no token, no answer

    def _answer(self, code: int, body: str) -> None:
        self.send_response(code)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def imds(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Imds)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(tools, "IMDS", url)
    yield url
    server.shutdown()
    server.server_close()


def test_the_instance_type_comes_from_imdsv2(imds: str) -> None:
    assert tools.instance_type(2) == "p5.48xlarge"


def test_no_metadata_service_is_a_tool_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setattr(tools, "IMDS", f"http://127.0.0.1:{port}")
    with pytest.raises(tools.ToolError, match="did not answer"):
        tools.instance_type(1)


def test_expect_auto_without_metadata_is_a_failed_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(tools, "IMDS", f"http://127.0.0.1:{port}")
    assert main(["health", "check", "--expect", "auto", "--json"]) == 1  # fails closed, not bad input
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "FAIL"
    (first, *_) = doc["checks"]
    assert first["name"] == "instance-type" and first["verdict"] == "FAIL" and "did not answer" in first["reason"]


def test_expect_auto_checks_against_the_detected_sku(imds: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["health", "check", "--expect", "auto", "--json"])
    out = capsys.readouterr().out
    assert '"expected": "p5.48xlarge"' in out
    assert status == 1  # no GPU on this machine: it fails closed against the detected SKU
