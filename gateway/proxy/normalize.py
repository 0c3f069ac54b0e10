"""Error normalization: any upstream error body -> the gateway's one error shape.

DDM, APIG and IAM spell errors differently (`errCode/externalMessage`, `error_code/error_msg`,
Keystone's nested `error` object...) and proxies in between answer HTML. Clients of the gateway
see one shape whatever answered, so this module finds the (code, message) in whatever arrived and
hands them to `gateway.errors.error_body`, the one body builder. Pure: no aiohttp, no I/O beyond
reading the shape table once at import.
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from http import HTTPStatus
from importlib import resources
from typing import Any

import yaml

from ..errors import error_body


@dataclass(frozen=True)
class ErrorShapes:
    """The shape table of `error_shapes.yaml`, parsed once."""

    pairs: tuple[tuple[str, str], ...]
    client_error_code: str
    server_error_code: str
    max_message_chars: int
    max_error_body_bytes: int
    max_nesting_depth: int


def _load_shapes() -> ErrorShapes:
    raw = yaml.safe_load(resources.files(__package__).joinpath("error_shapes.yaml").read_text("utf-8"))
    return ErrorShapes(
        pairs=tuple((str(code), str(msg)) for code, msg in raw["pairs"]),
        client_error_code=str(raw["default_codes"]["client_error"]),
        server_error_code=str(raw["default_codes"]["server_error"]),
        max_message_chars=int(raw["max_message_chars"]),
        max_error_body_bytes=int(raw["max_error_body_bytes"]),
        max_nesting_depth=int(raw["max_nesting_depth"]),
    )


SHAPES = _load_shapes()
MAX_ERROR_BODY_BYTES: int = SHAPES.max_error_body_bytes

_SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")
_CHARSET = re.compile(r"charset\s*=\s*\"?([\w.:-]+)", re.IGNORECASE)


def default_code(status: int) -> str:
    """The DBS code DDM itself uses when nothing better is known: parameter error / server failure."""
    return SHAPES.server_error_code if status >= 500 else SHAPES.client_error_code


def extract_error(status: int, content_type: str | None, body: bytes) -> tuple[str, str]:
    """(code, message) found in any known shape, else the DBS default code and the body as text.

    The content type is only used for its charset: upstreams label HTML as JSON and JSON as text,
    so every body is tried as JSON first.
    """
    text = _decode(body, content_type)
    document = _parse_json(text)
    if isinstance(document, (dict, list)):
        found = _find_pair(document)
        if found is not None:
            return found
        code = _first_field(document, 0) or default_code(status)
        message = _first_field(document, 1) or _plain_text(text)
        return code, _message_or_reason(_cut(message), status)
    if isinstance(document, str):
        return default_code(status), _message_or_reason(_cut(document.strip()), status)
    return default_code(status), _message_or_reason(_plain_text(text), status)


def normalize_error(status: int, content_type: str | None, body: bytes, *,
                    request_id: str, legacy: bool) -> bytes:
    """The normalized JSON error body for an upstream error response (status is the caller's)."""
    code, message = extract_error(status, content_type, body)
    return error_body(code, message, request_id, legacy=legacy)


def _decode(body: bytes, content_type: str | None) -> str:
    """Bytes -> text with the declared charset when Python knows it, UTF-8 otherwise; never raises."""
    body = body[:MAX_ERROR_BODY_BYTES]
    charset = "utf-8"
    match = _CHARSET.search(content_type or "")
    if match:
        charset = match.group(1)
    try:
        return body.decode(charset, errors="replace").lstrip("\ufeff")
    except LookupError:
        return body.decode("utf-8", errors="replace").lstrip("\ufeff")


def _parse_json(text: str) -> Any:
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[\"":
        return None
    try:
        return json.loads(stripped)
    except (ValueError, RecursionError):  # truncated, not JSON after all, or nested too deep
        return None


def _objects_breadth_first(document: Any) -> list[dict[str, Any]]:
    """Every JSON object down to the configured depth, outermost first (top level wins)."""
    found: list[dict[str, Any]] = []
    level: list[Any] = [document]
    for _ in range(SHAPES.max_nesting_depth + 1):
        next_level: list[Any] = []
        for node in level:
            if isinstance(node, dict):
                found.append(node)
                next_level.extend(v for v in node.values() if isinstance(v, (dict, list)))
            elif isinstance(node, list):
                next_level.extend(v for v in node if isinstance(v, (dict, list)))
        level = next_level
    return found


def _find_pair(document: Any) -> tuple[str, str] | None:
    for obj in _objects_breadth_first(document):
        for code_key, message_key in SHAPES.pairs:
            code = _as_code(obj.get(code_key))
            message = _as_text(obj.get(message_key))
            if code and message:
                return code, _cut(message)
    return None


def _first_field(document: Any, index: int) -> str:
    """A lone code (index 0) or message (index 1) when no shape is complete, e.g. Keystone's
    numeric code beside a real message, or `error_code` without `error_msg`."""
    read = _as_code if index == 0 else _as_text
    for obj in _objects_breadth_first(document):
        for pair in SHAPES.pairs:
            value = read(obj.get(pair[index]))
            if value:
                return value
    return ""


def _as_code(value: Any) -> str:
    """A usable error code: a non-empty string. Keystone's numeric `code` is just the HTTP status,
    which says nothing the status line does not, so it yields the DBS default instead."""
    if isinstance(value, str):
        return value.strip()
    return ""


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


def _plain_text(text: str) -> str:
    """HTML or text -> one line of readable text, tags and entities removed, capped."""
    without_code = _SCRIPT_OR_STYLE.sub(" ", text)
    without_tags = _TAG.sub(" ", without_code)
    return _cut(_SPACES.sub(" ", html.unescape(without_tags)).strip())


def _cut(message: str) -> str:
    return message[:SHAPES.max_message_chars]


def _message_or_reason(message: str, status: int) -> str:
    """An empty body still deserves a message: the status's reason phrase."""
    if message:
        return message
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
