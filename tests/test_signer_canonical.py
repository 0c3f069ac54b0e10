"""Units of the signer: the worked vector, path/query canonicalization, Authorization parsing."""
from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from signer import (
    ALGORITHMS, PathError, QueryError, SignableRequest, SignatureError, canonical_query,
    canonical_request, canonical_uri, format_authorization, parse_authorization, path_segments,
    sign, verify,
)
from signer.algorithms import SPECS as ALGORITHM_SPECS
from signer.canonical import other_payload_lines, payload_hash_for

VECTORS = sorted((Path(__file__).parent / "vectors" / "signing").glob("*.yaml"))


def _vector_requests(vector: dict) -> tuple[SignableRequest, SignableRequest]:
    """The request before signing, and as the server receives it (signer's headers added)."""
    before = SignableRequest(vector["method"], vector["raw_path"], vector["raw_query"],
                             vector["headers"], bytes.fromhex(vector["body_hex"]))
    added = {name.lower(): value for name, value in vector["added"].items()}
    return before, SignableRequest(before.method, before.raw_path, before.raw_query,
                                   {**before.headers, **added}, before.body)


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_vector(path: Path) -> None:
    """Canonical request, verification and (unless randomized) signing match the vector."""
    vector = yaml.safe_load(path.read_text())
    before, received = _vector_requests(vector)
    auth = parse_authorization(vector["added"]["Authorization"])
    spec = ALGORITHM_SPECS[vector["algorithm"]]
    lines = (payload_hash_for(received, spec), *other_payload_lines(received, spec))
    candidates = [canonical_request(received, auth.signed_headers, line) for line in lines]
    assert vector["canonical_request"] in candidates
    if "canonical_request_sha256" in vector:
        assert hashlib.sha256(candidates[0].encode()).hexdigest() == vector["canonical_request_sha256"]
    now = datetime.fromisoformat(vector["now"])
    region, service = vector.get("region"), vector.get("service")
    verify(received, auth, vector["secret_key"], now=now, expected_region=region, expected_service=service)
    if not vector["randomized"] and vector.get("sdk") != "nodejs":
        assert sign(before, vector["access_key"], vector["secret_key"], now=now, algorithm=vector["algorithm"],
                    region=region, service=service) == vector["added"]


def test_node_vectors_sign_unsigned_payload_for_an_empty_body() -> None:
    """The Node.js form the gateway used to refuse: no body, UNSIGNED-PAYLOAD as the payload line."""
    empty = [yaml.safe_load(p.read_text()) for p in VECTORS if p.name.startswith("node-empty-body-unsigned-")]
    assert {vector["algorithm"] for vector in empty} == {"SDK-HMAC-SHA256", "V11-HMAC-SHA256"}
    for vector in empty:
        assert vector["body_hex"] == "" and vector["added"]["X-Sdk-Content-Sha256"] == "UNSIGNED-PAYLOAD"
        assert vector["canonical_request"].endswith("\nUNSIGNED-PAYLOAD")


def test_algorithms_listed() -> None:
    assert ALGORITHMS == {"SDK-HMAC-SHA256", "V11-HMAC-SHA256", "SDK-HMAC-SM3", "SDK-ECDSA-P256-SHA256",
                          "SDK-SM2-SM3"}
    assert hashlib.new("sm3", b"").hexdigest().startswith("1ab21d83")


@pytest.mark.parametrize("raw, segments", [
    ("/v1/abc/instances", ("v1", "abc", "instances")),
    ("/", ("",)),
    ("/v1/abc/", ("v1", "abc", "")),
    ("/a%20b/%E4%B8%AD/~x_y.z-", ("a b", "中", "~x_y.z-")),
    ("/a%25b//c", ("a%b", "", "c")),
])
def test_path_segments(raw: str, segments: tuple[str, ...]) -> None:
    assert path_segments(raw) == segments


@pytest.mark.parametrize("raw", [
    "/a%2Fb", "/a%2fb", "/%2F", "/a/%2f/b", "/a%zz", "/a%4", "/a%", "/%C3%28", "/%FF", "/a%00b", "/a%0Ab", "/a%7F",
    "v1/abc", "", "/a b", "/a\tb", "/é", "/a%C2%85",
])
def test_path_segments_rejects(raw: str) -> None:
    with pytest.raises(PathError):
        path_segments(raw)


@pytest.mark.parametrize("raw, uri", [
    ("/v1/abc/instances", "/v1/abc/instances/"),
    ("/v1/abc/instances/", "/v1/abc/instances/"),
    ("/", "/"),
    ("/a%20b/x+y/%7e/it's", "/a%20b/x%2By/~/it%27s/"),
    ("/%e4%b8%ad", "/%E4%B8%AD/"),
])
def test_canonical_uri(raw: str, uri: str) -> None:
    assert canonical_uri(raw) == uri


@pytest.mark.parametrize("raw, canonical", [
    ("", ""),
    ("limit=10&offset=0", "limit=10&offset=0"),
    ("offset=0&limit=10", "limit=10&offset=0"),
    ("n=9&n=10", "n=9&n=10"),  # the SDK's numeric order survives: wire order kept per key
    ("b=2&a=x&b=1", "a=x&b=2&b=1"),
    ("flag&empty=&x=%7e", "empty=&flag=&x=~"),
    ("a=1&&b=2", "a=1&b=2"),
    ("q=a+b&r=%20", "q=a%2Bb&r=%20"),
    ("%E4%B8%AD=1&z=2", "z=2&%E4%B8%AD=1"),  # sorted by decoded key, not by its encoding
])
def test_canonical_query(raw: str, canonical: str) -> None:
    assert canonical_query(raw) == canonical


@pytest.mark.parametrize("raw", ["a=%zz", "a=%C3%28", "%FF=1", "a=b c", "a=é"])
def test_canonical_query_rejects(raw: str) -> None:
    with pytest.raises(QueryError):
        canonical_query(raw)


GOOD = "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;x-sdk-date, Signature=" + "ab" * 32
V11 = ("V11-HMAC-SHA256 Credential=AK1/20240101/cn-north-4/ddm, SignedHeaders=host;x-sdk-date, "
       "Signature=" + "cd" * 32)


def test_parse_authorization_roundtrip() -> None:
    auth = parse_authorization(GOOD)
    assert (auth.algorithm, auth.access_key, auth.signed_headers, auth.scope) == \
        ("SDK-HMAC-SHA256", "AK1", ("host", "x-sdk-date"), None)
    assert format_authorization(auth) == GOOD
    v11 = parse_authorization(V11)
    assert (v11.access_key, v11.scope) == ("AK1", "20240101/cn-north-4/ddm")
    assert format_authorization(v11) == V11


@pytest.mark.parametrize("value", [
    "",
    "SDK-HMAC-SHA256",
    "SDK-HMAC-SHA256 ",
    "SDK-HMAC-SHA1 Access=AK1, SignedHeaders=host;x-sdk-date, Signature=" + "ab" * 32,
    "SDK-SM2-SHA256 Access=AK1, SignedHeaders=host;x-sdk-date, Signature=" + "ab" * 32,
    "sdk-hmac-sha256 Access=AK1, SignedHeaders=host;x-sdk-date, Signature=" + "ab" * 32,
    "SDK-HMAC-SHA256 SignedHeaders=host;x-sdk-date, Signature=" + "ab" * 32,
    "SDK-HMAC-SHA256 Access=AK1, Signature=" + "ab" * 32,
    "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;x-sdk-date",
    GOOD + ", Access=AK2",
    GOOD + ", Extra=1",
    GOOD + ",",
    GOOD.replace("Access=AK1", "Access="),
    GOOD.replace("Access=AK1", "Access=A K"),
    GOOD.replace("Signature=ab", "Signature=AB"),
    GOOD.replace("Signature=ab", "Signature=xb"),
    GOOD.replace("Signature=ab", "Signature=a"),
    GOOD.replace("host;x-sdk-date", "Host;x-sdk-date"),
    GOOD.replace("host;x-sdk-date", "host;;x-sdk-date"),
    GOOD.replace("host;x-sdk-date", "host;host;x-sdk-date"),
    GOOD.replace("Access=AK1", "Credential=AK1/20240101/r/s"),
    V11.replace("Credential=AK1/20240101/cn-north-4/ddm", "Access=AK1"),
    V11.replace("/20240101", "/2024011"),
    V11.replace("/ddm", ""),
])
def test_parse_authorization_rejects(value: str) -> None:
    with pytest.raises(SignatureError) as caught:
        parse_authorization(value)
    assert "verify aksk signature fail" in caught.value.reason


def test_memoized_canonical_forms_repeat_their_answers_and_their_errors() -> None:
    from signer.canonical import canonical_query, canonical_uri, path_segments
    from signer.errors import PathError, QueryError
    for _ in range(2):   # the second round is served from the memo: same answers
        assert path_segments("/v1/p%20q/x") == ("v1", "p q", "x")
        assert canonical_uri("/v1/p%20q/x") == "/v1/p%20q/x/"
        assert canonical_query("b=2&a=1&a=0") == "a=1&a=0&b=2"
    for _ in range(2):   # errors are never memoized: they raise every time
        with pytest.raises(PathError):
            path_segments("/a%2Fb")
        with pytest.raises(QueryError):
            canonical_query("a=%zz")
    long_segment = "s" * 600   # past MEMO_MAX_INPUT: computed every time, never kept
    for _ in range(2):
        assert path_segments("/v1/" + long_segment) == ("v1", long_segment)
        assert canonical_query("q=" + long_segment) == "q=" + long_segment
