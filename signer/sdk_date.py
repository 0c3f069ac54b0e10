"""The `X-Sdk-Date` timestamp format (`%Y%m%dT%H%M%SZ`, UTC), parsed without strptime.

strptime costs more than the whole HMAC on the verification hot path; slicing does not.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import lru_cache

_SDK_DATE = re.compile(r"\d{8}T\d{6}Z")


def as_utc(moment: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken to be UTC already (as the SDK's utcnow() is)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def format_sdk_date(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y%m%dT%H%M%SZ")


@lru_cache(maxsize=256)
def parse_sdk_date(text: str) -> datetime | None:
    """The moment `text` names, or None when it is not a valid `YYYYMMDDTHHMMSSZ`.

    Memoized (bounded): every request signed in the same second carries the same date."""
    if not _SDK_DATE.fullmatch(text):
        return None
    try:
        return datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[9:11]),
                        int(text[11:13]), int(text[13:15]), tzinfo=timezone.utc)
    except ValueError:
        return None


@lru_cache(maxsize=256)
def sdk_date_epoch(text: str) -> float | None:
    """`parse_sdk_date` as epoch seconds: the skew check is one subtraction of floats."""
    moment = parse_sdk_date(text)
    return None if moment is None else moment.timestamp()


def as_datetime(moment: datetime | float) -> datetime:
    """An aware UTC datetime from either form of "now" the verifier accepts."""
    if isinstance(moment, datetime):
        return as_utc(moment)
    return datetime.fromtimestamp(moment, tz=timezone.utc)
