"""The gateway's own errors: one class, one catalogue, one body builder.

Every stage raises `GatewayError`; the pipeline turns it into the one JSON shape of CONTRACT.md
in exactly one place (`error_body`). The catalogue keeps the codes and default messages as data.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

JSON_CONTENT_TYPE = "application/json;charset=UTF-8"

# (status, code, default message) - APIGW catalogue as Huawei's API gateway uses it.
CATALOGUE: dict[str, tuple[int, str, str]] = {
    "bad_request": (400, "APIGW.0201", "API request error."),
    "unauthorized": (401, "APIGW.0301", "Incorrect IAM authentication information"),
    "token_expired": (401, "APIGW.0307", "The token must be updated."),
    "forbidden": (403, "APIGW.0302", "The IAM user is not authorized to access the API."),
    "project_unavailable": (403, "APIGW.0310", "The project is unavailable."),
    "not_found": (404, "APIGW.0101", "The API does not exist or has not been published in the environment."),
    "request_timeout": (408, "APIGW.0201", "Request timeout."),
    "too_large": (413, "APIGW.0201", "Request entity too large."),
    "uri_too_large": (414, "APIGW.0201", "Request URI too large."),
    "headers_too_large": (494, "APIGW.0201", "Request headers too large."),
    "throttled": (429, "APIGW.0308", "The throttling threshold has been reached."),
    "internal": (500, "APIGW.0201", "An unexpected error occurred"),
    "bad_gateway": (502, "APIGW.0201", "Backend unavailable."),
    "store_unavailable": (503, "APIGW.0601", "Internal server error."),
    "upstream_busy": (503, "APIGW.0201", "Backend busy."),
    "busy": (503, "APIGW.0201", "The gateway is busy; retry later."),
    "gateway_timeout": (504, "APIGW.0201", "Backend timeout."),
}


@dataclass
class GatewayError(Exception):
    """An error the gateway answers itself; `headers` are added to the response (Retry-After...)."""

    status: int
    code: str
    message: str
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, kind: str, message: str | None = None,
           headers: tuple[tuple[str, str], ...] = ()) -> "GatewayError":
        status, code, default = CATALOGUE[kind]
        return cls(status, code, message if message is not None else default, headers)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def error_body(code: str, message: str, request_id: str, *, legacy: bool) -> bytes:
    """The normalized error body: APIGW/v3 fields always, v1/v2 `errCode/externalMessage` when legacy."""
    body: dict[str, str] = {"error_code": code, "error_msg": message, "request_id": request_id}
    if legacy:
        body["errCode"] = code
        body["externalMessage"] = message
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 413: "Request Entity Too Large", 429: "Too Many Requests",
           500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass
class IamError(Exception):
    """An error of the emulated IAM routes, answered the way Huawei IAM (Keystone) does."""

    status: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def iam_error_body(err: IamError, request_id: str) -> bytes:
    """Keystone's nested `error` object, plus the flat fields the official SDK reads."""
    body = {"error": {"code": err.status, "title": _TITLES.get(err.status, "Error"), "message": err.message},
            "error_code": err.code, "error_msg": err.message, "request_id": request_id}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")
