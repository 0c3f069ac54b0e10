"""Which headers cross the proxy: pure functions, checked without any server."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.proxy.headers import (CLIENT_CREDENTIALS, HOP_BY_HOP, merge_duplicates, request_headers,
                                   response_headers)

CLIENT = (("Host", "gw:8080"), ("Authorization", "SDK-HMAC-SHA256 ..."), ("X-Auth-Token", "t"),
          ("Connection", "keep-alive, X-Private"), ("X-Private", "p"), ("TE", "trailers"),
          ("X-Forwarded-For", "6.6.6.6"), ("X-Request-Id", "spoof"), ("Content-Length", "5"),
          ("Accept", "a"), ("Accept", "b"), ("X-Project-Id", "p1"))


def _names(headers: tuple[tuple[str, str], ...]) -> list[str]:
    return [name.lower() for name, _ in headers]


def test_request_headers_strip_hop_by_hop_credentials_and_spoofable_ones() -> None:
    out = request_headers(CLIENT, keep_credentials=False, upstream_host="ddm:9000", request_id="rid",
                          client_ip="1.2.3.4", proto="https", original_host="gw:8080", content_length=None)
    assert out[:5] == (("Host", "ddm:9000"), ("X-Request-Id", "rid"), ("X-Forwarded-For", "1.2.3.4"),
                       ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "gw:8080"))
    assert out[5:] == (("Accept", "a"), ("Accept", "b"), ("X-Project-Id", "p1"))


def test_passthrough_keeps_credentials_and_streams_keep_their_length() -> None:
    out = request_headers(CLIENT, keep_credentials=True, upstream_host="ddm", request_id="r", client_ip="c",
                          proto="http", original_host="gw", content_length=5)
    assert ("Authorization", "SDK-HMAC-SHA256 ...") in out and ("X-Auth-Token", "t") in out
    assert ("Content-Length", "5") in out and _names(out).count("content-length") == 1


def test_response_headers_drop_hop_by_hop_and_use_the_gateway_request_id() -> None:
    upstream = (("Content-Type", "application/json"), ("Transfer-Encoding", "chunked"), ("Keep-Alive", "x"),
                ("Connection", "close, X-Internal"), ("X-Internal", "i"), ("Set-Cookie", "a"),
                ("Set-Cookie", "b"), ("X-Request-Id", "upstream-id"))
    assert response_headers(upstream, request_id="rid") == (
        ("Content-Type", "application/json"), ("Set-Cookie", "a"), ("Set-Cookie", "b"), ("X-Request-Id", "rid"))


def test_merge_duplicates_keeps_first_spelling_and_order() -> None:
    assert merge_duplicates((("Accept", "a"), ("X", "1"), ("accept", "b"))) == (("Accept", "a, b"), ("X", "1"))


names = st.sampled_from(sorted(HOP_BY_HOP | CLIENT_CREDENTIALS | {"x-custom", "accept", "content-type"}))


@given(st.lists(st.tuples(names.map(str.title), st.text("abc ", max_size=5)), max_size=12))
def test_no_credential_or_hop_header_ever_leaks(incoming: list[tuple[str, str]]) -> None:
    out = request_headers(incoming, keep_credentials=False, upstream_host="u", request_id="r", client_ip="c",
                          proto="http", original_host="g", content_length=None)
    assert not set(_names(out)) & (HOP_BY_HOP | CLIENT_CREDENTIALS)


def test_response_headers_append_the_extra_ones_after_the_request_id() -> None:
    upstream = (("Content-Type", "application/json"), ("Content-Length", "2"))
    assert response_headers(upstream, request_id="rid", drop_length=True, extra=(("RateLimit", "x"),)) == (
        ("Content-Type", "application/json"), ("X-Request-Id", "rid"), ("RateLimit", "x"))


listed = st.sampled_from(["x-a", "X-B", "accept", "content-type"])
response_names = st.sampled_from(["X-A", "x-b", "Accept", "Content-Type", "Connection", "Keep-Alive", "X-Request-Id"])


@given(st.lists(st.tuples(response_names, st.lists(listed, max_size=3).map(", ".join)), max_size=10))
def test_one_pass_filter_drops_what_any_connection_line_lists(upstream: list[tuple[str, str]]) -> None:
    """Wherever the Connection lines are (first, last, several), the names they list go, in
    every line of either spelling, and the rest keep their order."""
    listed_names = {token.strip().lower() for name, value in upstream if name.lower() == "connection"
                    for token in value.split(",") if token.strip()}
    gone = HOP_BY_HOP | {"x-request-id"} | listed_names
    expected = tuple(pair for pair in upstream if pair[0].lower() not in gone) + (("X-Request-Id", "rid"),)
    assert response_headers(upstream, request_id="rid") == expected
