"""Error normalization: every upstream error shape becomes the gateway's one error body."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.proxy.normalize import MAX_ERROR_BODY_BYTES, extract_error, normalize_error


@pytest.mark.parametrize(("status", "content_type", "body", "expected"), [
    # v1/v2 DDM reference
    (400, "application/json", b'{"externalMessage":"Parameter error.","errCode":"DBS.280001"}',
     ("DBS.280001", "Parameter error.")),
    # v3 DDM / APIG
    (401, "application/json", b'{"error_msg":"Incorrect IAM authentication information","error_code":"APIGW.0301",'
     b'"request_id":"abc"}', ("APIGW.0301", "Incorrect IAM authentication information")),
    (409, "application/json;charset=UTF-8", b'{"errorCode":"DBS.300009","errorMsg":"Busy."}', ("DBS.300009", "Busy.")),
    (422, "application/json", b'{"code":"DDM.0001","message":"Nope."}', ("DDM.0001", "Nope.")),
    # Keystone nested, numeric code: the code says nothing the status does not -> DBS default
    (401, "application/json", b'{"error":{"code":401,"title":"Unauthorized","message":"The request you have '
     b'made requires authentication."}}', ("DBS.280001", "The request you have made requires authentication.")),
    # nested with a real code (EPS style)
    (403, "application/json", b'{"error":{"code":"EPS.0003","message":"policy doesn\'t allow x"}}',
     ("EPS.0003", "policy doesn't allow x")),
    # the top level wins over nested objects
    (400, "application/json", b'{"error_code":"A.1","error_msg":"top","error":{"code":"B.2","message":"inner"}}',
     ("A.1", "top")),
    # a complete pair wins over an incomplete one of a preferred shape
    (400, "application/json", b'{"error_code":"X.1","errCode":"DBS.1","externalMessage":"full"}',
     ("DBS.1", "full")),
])
def test_known_shapes_are_found(status: int, content_type: str, body: bytes, expected: tuple[str, str]) -> None:
    assert extract_error(status, content_type, body) == expected


@pytest.mark.parametrize(("status", "expected_code"), [(400, "DBS.280001"), (404, "DBS.280001"),
                                                       (500, "DBS.200412"), (503, "DBS.200412")])
def test_html_is_stripped_to_text_with_the_default_code(status: int, expected_code: str) -> None:
    body = (b"<html><head><title>Err</title><style>body{color:red}</style><script>var x=1;</script></head>"
            b"<body><h1>Service &amp; Gateway</h1>\n\n  <p>down</p></body></html>")
    code, message = extract_error(status, "text/html", body)
    assert code == expected_code
    assert message == "Err Service & Gateway down"


@pytest.mark.parametrize(("status", "phrase"), [(404, "Not Found"), (502, "Bad Gateway")])
def test_empty_body_keeps_the_reason_phrase(status: int, phrase: str) -> None:
    code, message = extract_error(status, None, b"")
    assert (code, message) == ("DBS.280001" if status < 500 else "DBS.200412", phrase)


def test_plain_text_is_the_message() -> None:
    assert extract_error(503, "text/plain", b"upstream connect error\n") == ("DBS.200412", "upstream connect error")


def test_json_labelled_as_html_is_still_read() -> None:
    assert extract_error(400, "text/html", b'{"errCode":"DBS.1","externalMessage":"m"}') == ("DBS.1", "m")


def test_html_labelled_as_json_is_treated_as_text() -> None:
    assert extract_error(502, "application/json", b"<h1>Bad gateway</h1>") == ("DBS.200412", "Bad gateway")


def test_code_without_message_keeps_the_code_and_shows_the_body() -> None:
    assert extract_error(400, None, b'{"error_code":"DBS.9"}') == ("DBS.9", '{"error_code":"DBS.9"}')


def test_messages_are_cut_to_512_characters() -> None:
    code, message = extract_error(500, "text/plain", b"x" * 10_000)
    assert (code, len(message)) == ("DBS.200412", 512)
    _, json_message = extract_error(400, None, json.dumps({"code": "C", "message": "y" * 2000}).encode())
    assert len(json_message) == 512


def test_huge_bodies_are_capped_not_parsed_whole() -> None:
    huge = b'{"error_code":"DBS.1","error_msg":"' + b"z" * (MAX_ERROR_BODY_BYTES * 4) + b'"}'
    code, message = extract_error(500, "application/json", huge)  # truncated JSON -> text
    assert code == "DBS.200412" and len(message) == 512


def test_declared_charset_is_honoured() -> None:
    body = '{"errCode":"DBS.1","externalMessage":"参数错误"}'.encode("gbk")
    assert extract_error(400, "application/json;charset=GBK", body) == ("DBS.1", "参数错误")
    assert extract_error(400, "application/json;charset=nonsense", b'{"code":"C","message":"m"}') == ("C", "m")


def test_bom_and_invalid_utf8_do_not_break_anything() -> None:
    assert extract_error(400, None, b'\xef\xbb\xbf{"code":"C","message":"m"}') == ("C", "m")
    code, message = extract_error(500, None, b"\xff\xfe\xfa broken")
    assert code == "DBS.200412" and "broken" in message


def test_json_scalars_and_arrays() -> None:
    assert extract_error(400, None, b'"just a string"') == ("DBS.280001", "just a string")
    assert extract_error(400, None, b'[{"errorCode":"E.1","errorMsg":"in a list"}]') == ("E.1", "in a list")
    assert extract_error(500, None, b"null") == ("DBS.200412", "null")


def test_normalized_body_v3_and_legacy() -> None:
    raw = b'{"externalMessage":"Parameter error.","errCode":"DBS.280001"}'
    v3 = json.loads(normalize_error(400, "application/json", raw, request_id="rid-1", legacy=False))
    assert v3 == {"error_code": "DBS.280001", "error_msg": "Parameter error.", "request_id": "rid-1"}
    legacy = json.loads(normalize_error(400, "application/json", raw, request_id="rid-1", legacy=True))
    assert legacy == {**v3, "errCode": "DBS.280001", "externalMessage": "Parameter error."}


@settings(max_examples=200, deadline=None)
@given(status=st.integers(400, 599), content_type=st.one_of(st.none(), st.text(max_size=40)),
       body=st.binary(max_size=300))
def test_any_input_gives_a_valid_body(status: int, content_type: str | None, body: bytes) -> None:
    out = json.loads(normalize_error(status, content_type, body, request_id="r", legacy=True))
    assert out["error_code"] and out["error_msg"] and out["errCode"] == out["error_code"]
    assert len(out["error_msg"]) <= 512


@settings(max_examples=100, deadline=None)
@given(document=st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
                             lambda inner: st.lists(inner, max_size=3)
                             | st.dictionaries(st.sampled_from(["code", "message", "error", "errCode", "x"]),
                                               inner, max_size=4), max_leaves=20))
def test_any_json_document_gives_strings(document: object) -> None:
    code, message = extract_error(400, "application/json", json.dumps(document).encode())
    assert isinstance(code, str) and code and isinstance(message, str) and message


def test_normalize_is_a_pure_core() -> None:
    """The normalizer must not drag aiohttp/redis/asyncio in (it is reused outside the proxy)."""
    probe = ("import sys, gateway.proxy.normalize; "
             "print(sorted(m for m in ('aiohttp', 'redis', 'asyncio') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_error_body_nested_past_the_recursion_limit_is_not_json() -> None:
    """A hostile or broken upstream cannot turn its error body into a 500 of the gateway."""
    code, _ = extract_error(502, "application/json", b"[" * 60000)
    assert code == "DBS.200412"
