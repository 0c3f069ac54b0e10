"""The facts the tests take from the DDM API reference, kept as data files in the repository.

tests/data/ddm-reference-error-codes.yaml is appendix A.3's table (and chapter 4's example error
bodies): every DBS code the simulator answers with or the normalizer falls back to is one the
reference documents, with a status of the same class.
"""
from __future__ import annotations

from pathlib import Path

import yaml

import ddmsim
import gateway.proxy

from .paths import REFERENCE_ERROR_CODES, REFERENCE_ROUTES

REFERENCE = yaml.safe_load(REFERENCE_ERROR_CODES.read_text(encoding="utf-8"))
DOCUMENTED = {row["code"]: row["status"] for row in REFERENCE["codes"] + REFERENCE["response_examples"]}


def package_data(package: object, relative: str) -> dict:
    root = Path(package.__file__).parent   # type: ignore[attr-defined]
    return yaml.safe_load((root / relative).read_text(encoding="utf-8"))


def test_the_reference_tables_are_whole() -> None:
    assert len(REFERENCE["codes"]) == len({row["code"] for row in REFERENCE["codes"]}) == 108
    assert all(row["code"].startswith("DBS.") and len(row["code"]) == 10 for row in REFERENCE["codes"])
    routes = yaml.safe_load(REFERENCE_ROUTES.read_text(encoding="utf-8"))["routes"]
    assert [row["section"] for row in routes][:3] == ["4.1.1", "4.2.1", "4.2.2"] and len(routes) == 52


def test_every_code_the_simulator_answers_with_is_documented() -> None:
    codes = package_data(ddmsim, "data/error_codes.yaml")
    assert codes
    for name, entry in codes.items():
        assert entry["code"] in DOCUMENTED, name
        assert entry["status"] // 100 in (4, 5), name


def test_the_normalizers_fallback_codes_are_documented_in_their_class() -> None:
    defaults = package_data(gateway.proxy, "error_shapes.yaml")["default_codes"]
    assert DOCUMENTED[defaults["client_error"]] // 100 == 4
    assert DOCUMENTED[defaults["server_error"]] // 100 == 5
