"""`listen.tls`: the public port speaks HTTPS (the SDKs default to https). Checked with the official
DDM SDK against a self-signed certificate, both unverified and verified through a CA bundle."""
from __future__ import annotations

import datetime
import ipaddress
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import SdkException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkddm.v1 import DdmClient, ListInstancesRequest

from .harness import ALICE_AK, ALICE_SK, PROJECT_ID
from .test_ops_process_support import CLI, Proc, base_config, gateway, sim, write_config


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost that is its own CA (usable as the CA bundle)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ddm-gateway test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture(scope="module")
def tls_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, Path]]:
    tmp = tmp_path_factory.mktemp("tls")
    cert_file, key_file = self_signed(tmp)
    with sim(tmp) as upstream:
        data = base_config(tmp, upstream.url)
        data["listen"]["tls"] = {"cert_file": str(cert_file), "key_file": str(key_file)}
        with gateway(tmp, write_config(tmp, data)) as gw:
            yield gw, cert_file


def _client(gw: Proc, config: HttpConfig) -> DdmClient:
    return (DdmClient.new_builder().with_http_config(config)
            .with_credentials(BasicCredentials(ALICE_AK, ALICE_SK, PROJECT_ID))
            .with_endpoints([f"https://127.0.0.1:{gw.port}"]).build())


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")   # the point of the test
def test_sdk_over_https_without_verification(tls_gateway: tuple[Proc, Path]) -> None:
    config = HttpConfig.get_default_config()
    config.ignore_ssl_verification = True
    assert _client(tls_gateway[0], config).list_instances(ListInstancesRequest()).instances is not None


def test_sdk_over_https_with_a_ca_bundle(tls_gateway: tuple[Proc, Path]) -> None:
    gw, cert_file = tls_gateway
    config = HttpConfig.get_default_config()
    config.ssl_ca_cert = str(cert_file)
    assert _client(gw, config).list_instances(ListInstancesRequest()).instances is not None


def test_sdk_refuses_the_certificate_without_the_bundle(tls_gateway: tuple[Proc, Path]) -> None:
    """The verified case above only proves something if verification is really on."""
    config = HttpConfig.get_default_config()
    config.retry_times = 0
    with pytest.raises(SdkException):
        _client(tls_gateway[0], config).list_instances(ListInstancesRequest())


def test_plain_http_is_not_served_on_the_tls_port(tls_gateway: tuple[Proc, Path]) -> None:
    gw, _ = tls_gateway
    url = f"http://127.0.0.1:{gw.port}/v1/{PROJECT_ID}/instances"
    result = subprocess.run([CLI, "curl", "--ak", ALICE_AK, "--sk", ALICE_SK, url],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0


def test_ddm_gateway_curl_insecure_over_https(tls_gateway: tuple[Proc, Path]) -> None:
    gw, _ = tls_gateway
    url = f"https://127.0.0.1:{gw.port}/v1/{PROJECT_ID}/instances"
    base = [CLI, "curl", "--ak", ALICE_AK, "--sk", ALICE_SK, "-H", f"X-Project-Id: {PROJECT_ID}"]
    verified = subprocess.run([*base, url], capture_output=True, text=True, timeout=30)
    assert verified.returncode == 7 and "CERTIFICATE_VERIFY_FAILED" in verified.stderr
    insecure = subprocess.run([*base, "-k", url], capture_output=True, text=True, timeout=30)
    assert insecure.returncode == 0, insecure.stderr
    assert '"instances"' in insecure.stdout
