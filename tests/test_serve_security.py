"""Bearer-token authentication and TLS (authentication off is every other server test)."""

from __future__ import annotations

import shutil
import subprocess

import grpc
import pytest

from serve.background import BackgroundServer
from serve.client import StreamClient
from serve.settings import ServerSettings, read_token_file

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def token_server(tiny_engine):
    with BackgroundServer(tiny_engine, ServerSettings(port=0, token=TOKEN), warm=False) as running:
        yield running


def _info_error(target: str, token: str | None) -> grpc.RpcError:
    with StreamClient(target, token=token) as client, pytest.raises(grpc.RpcError) as raised:
        client.info()
    return raised.value


def test_call_without_a_token_is_unauthenticated(token_server):
    error = _info_error(token_server.target, token=None)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "no 'authorization' metadata" in error.details()


def test_call_with_a_wrong_token_is_unauthenticated(token_server):
    error = _info_error(token_server.target, token="guess")
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "does not hold the server's token" in error.details()


def test_live_session_without_a_token_is_unauthenticated(token_server):
    with StreamClient(token_server.target) as client, pytest.raises(grpc.RpcError) as raised:
        client.session()
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_calls_with_the_token_work(token_server, clip):
    with StreamClient(token_server.target, token=TOKEN) as client:
        assert client.info().image_size == 32
        with client.session() as live:
            assert live.push(clip[:1]).frames_pushed == 1


def test_health_checks_need_no_token(token_server):
    with StreamClient(token_server.target) as client:
        assert client.health() == "SERVING"


def test_token_file_is_read_without_its_final_newline(tmp_path):
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n")
    assert read_token_file(path) == TOKEN
    path.write_text("two words\n")
    with pytest.raises(ValueError, match="one token without spaces"):
        read_token_file(path)


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory) -> tuple[bytes, bytes]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert.read_bytes(), key.read_bytes()


def test_tls_server_answers_a_client_that_trusts_its_certificate(tiny_engine, self_signed):
    cert, key = self_signed
    settings = ServerSettings(port=0, tls_cert=cert, tls_key=key)
    with BackgroundServer(tiny_engine, settings, warm=False) as server:
        with StreamClient(server.target, tls_ca=cert) as client:
            assert client.info().image_size == 32
        with StreamClient(server.target) as plaintext, pytest.raises(grpc.RpcError) as raised:
            plaintext.info(timeout=5)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
