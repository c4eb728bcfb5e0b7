"""HTTPS: the official client over TLS with a self-signed certificate; no keyless or published-key proxy off loopback."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import httpx
import openai
import pytest
import yaml
from click.testing import CliRunner

from privroute.cli import main as cli_main
from privroute.errors import ConfigurationError
from privroute.server.app import BackgroundServer, create_app
from privroute.server.config import PUBLISHED_KEY_HASHES, ServeConfig, TenantConfig, hash_api_key
from privroute.server.tls import ssl_options
from privroute.testing import FakeDetector, OpenAIServer

ROOT = Path(__file__).resolve().parents[2]


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made here (no network, no openssl binary needed)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "privroute-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def config(tmp_path: Path, url: str, **fields: object) -> ServeConfig:
    policy = tmp_path / "p.yaml"
    policy.write_text(yaml.safe_dump({"name": "p", "extends": "general",
                                      "frontier": {"model": "test-frontier", "base_url": url}}), encoding="utf-8")
    return ServeConfig(tenants=(TenantConfig(name="acme", policy=str(policy), api_keys=(hash_api_key("sk-t-1"),)),),
                       warm=False, **fields)  # type: ignore[arg-type]


def test_official_client_over_https_with_a_self_signed_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with OpenAIServer() as upstream:
        served = config(tmp_path, upstream.url, tls_cert=str(cert), tls_key=str(key))
        app = create_app(served, detector=FakeDetector())
        with BackgroundServer(app, ssl=ssl_options(served)) as server:
            assert server.url.startswith("https://")
            api = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-t-1", max_retries=0,
                                http_client=httpx.Client(verify=ssl.create_default_context(cafile=str(cert))))
            answer = api.chat.completions.create(model="privroute", messages=[{"role": "user", "content": "hi"}])
            assert answer.choices[0].message.content == "You said: hi"
            with pytest.raises(openai.APIConnectionError):  # without the certificate the client refuses
                openai.OpenAI(base_url=server.url + "/v1", api_key="sk-t-1", max_retries=0).models.list()


def test_tls_files_are_checked_before_listening(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    (tmp_path / "other").mkdir()
    other_cert, _ = self_signed(tmp_path / "other")
    with pytest.raises(ConfigurationError, match="no such file"):
        ssl_options(config(tmp_path, "http://127.0.0.1:9", tls_cert=str(tmp_path / "x.pem"), tls_key=str(key)))
    with pytest.raises(ConfigurationError, match="cannot be used together"):
        ssl_options(config(tmp_path, "http://127.0.0.1:9", tls_cert=str(other_cert), tls_key=str(key)))
    with pytest.raises(ValueError, match="go together"):
        config(tmp_path, "http://127.0.0.1:9", tls_cert=str(cert))


def test_published_example_keys_never_leave_loopback(tmp_path: Path) -> None:
    """The example config's keys open a proxy on this machine only, TLS or not."""
    example = yaml.safe_load((ROOT / "examples" / "serve.yaml").read_text(encoding="utf-8"))
    hashes = {key for tenant in example["tenants"] for key in tenant["api_keys"]}
    assert hashes and hashes <= PUBLISHED_KEY_HASHES
    result = CliRunner().invoke(cli_main, ["serve", "--config", str(ROOT / "examples" / "serve.yaml"),
                                           "--host", "0.0.0.0"])
    assert result.exit_code != 0 and "published keys" in result.output
    cert, key = self_signed(tmp_path)
    with pytest.raises(ValueError, match="published keys"):
        ServeConfig(host="0.0.0.0", tls_cert=str(cert), tls_key=str(key), tenants=(
            TenantConfig(name="acme", policy="general", api_keys=tuple(sorted(hashes))[:1]),))
    result = CliRunner().invoke(cli_main, ["serve", "--policy", "general", "--no-auth", "--host", "0.0.0.0",
                                           "--tls-cert", str(cert), "--tls-key", str(key)])
    assert result.exit_code == 2 and "non-loopback" in result.output
