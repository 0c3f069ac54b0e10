"""The official Node.js SDK (tests/node) against a real gateway in front of the simulator.

One gateway+simulator stack and one `node tests/node/peer.js` run per module: the peer drives
every scenario in order (create, list, the empty-body GET, V11, IAM token and temporary
credentials, denial, tampering, delete) and writes one JSON outcome each; the tests assert on
those and on what reached the simulator (`/_sim/requests`). Without node or `npm ci` the module
fails under CI=true and skips elsewhere.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from ddmsim.catalog import load_catalog

from .harness import ALICE_AK, ALICE_SK, BOB_AK, BOB_SK, ISSUED_TOKENS, PROJECT_ID
from .stack import start_stack

NODE_DIR = Path(__file__).parent / "node"
VECTOR_DIR = Path(__file__).parent / "vectors" / "signing"
PEER_DEADLINE_S = 120
NON_ASCII_VPC = "vpc-华北-一号"  # peer.js sends it in every instance body


@dataclass
class PeerRun:
    results: dict[str, Any]
    reached: list[dict[str, Any]]  # the simulator's request log after the run

    def bodies(self, method: str) -> set[str]:
        return {entry["body_sha256"] for entry in self.reached if entry["method"] == method}


def _node() -> str:
    node = shutil.which("node")
    if node is not None and (NODE_DIR / "node_modules" / "@huaweicloud" / "huaweicloud-sdk-core").is_dir():
        return node
    problem = "node is not installed" if node is None else "tests/node has no node_modules (npm ci)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{problem}; scripts/setup.sh test installs it")
    pytest.skip(f"{problem}; run scripts/setup.sh test")


def _settings(gateway: str) -> dict[str, Any]:
    catalog = load_catalog()
    return {"gateway": gateway, "region": "cn-north-4", "project_id": PROJECT_ID,
            "alice": {"ak": ALICE_AK, "sk": ALICE_SK}, "bob": {"ak": BOB_AK, "sk": BOB_SK},
            "password_user": {"domain": "acme", "name": "alice", "password": "alice-pass-1"},
            "flavor_id": catalog["flavors"][0]["id"], "engine_id": catalog["engines"][0]["id"]}


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PeerRun]:
    node = _node()
    workdir = tmp_path_factory.mktemp("node-peer")
    stack = start_stack(str(workdir))
    try:
        (workdir / "settings.json").write_text(json.dumps(_settings(stack.url)))
        run = subprocess.run([node, str(NODE_DIR / "peer.js"), str(workdir / "settings.json"),
                              str(workdir / "results.json")], capture_output=True, text=True,
                             timeout=PEER_DEADLINE_S, check=False)
        assert run.returncode == 0, run.stderr
        results = json.loads((workdir / "results.json").read_text("utf-8"))
        with urllib.request.urlopen(stack.sim_url + "/_sim/requests", timeout=10) as response:
            reached = json.load(response)["requests"]
        temporary = results["temporary_credentials"]
        ISSUED_TOKENS.extend(filter(None, (results["iam_token"]["token"], temporary["secret"],
                                           temporary["security_token"])))
        yield PeerRun(results, reached)
    finally:
        stack.servers.close()


def _ok(outcome: dict[str, Any]) -> dict[str, Any]:
    assert outcome["ok"], outcome
    return outcome["body"]


def test_create_with_a_non_ascii_json_body(peer: PeerRun) -> None:
    created = peer.results["create_non_ascii"]
    ids = [_ok(outcome)["id"] for outcome in created["created"]]
    assert len(set(ids)) == 3
    assert _ok(created["shown"])["vpc_id"] == NON_ASCII_VPC
    assert created["body_sha256"] in peer.bodies("POST"), "the UTF-8 body reached DDM byte for byte"


def test_list_pages_with_offset_and_limit(peer: PeerRun) -> None:
    pages = peer.results["list_paging"]
    first, second = _ok(pages["first"]), _ok(pages["second"])
    assert (len(first["instances"]), len(second["instances"]), first["total_record"]) == (2, 1, 3)
    listed = {instance["id"] for instance in first["instances"] + second["instances"]}
    assert listed == {_ok(outcome)["id"] for outcome in peer.results["create_non_ascii"]["created"]}
    assert pages["second"]["sent"]["query"] == {"offset": 2, "limit": 2}


@pytest.mark.parametrize("scenario, algorithm", [("empty_body_get", "SDK-HMAC-SHA256"),
                                                 ("v11_empty_body_get", "V11-HMAC-SHA256")])
def test_an_empty_body_get_with_a_non_json_content_type(peer: PeerRun, scenario: str, algorithm: str) -> None:
    """Node signs UNSIGNED-PAYLOAD as the payload line here; the gateway used to answer 401."""
    outcome = peer.results[scenario]
    sent = outcome["sent"]
    assert (sent["content_type"], sent["content_sha256"], sent["algorithm"]) == \
        ("text/plain", "UNSIGNED-PAYLOAD", algorithm)
    assert "x-sdk-content-sha256" in sent["signed_headers"].split(";")
    assert len(_ok(outcome)["instances"]) == 3


def test_v11_derived_signing(peer: PeerRun) -> None:
    outcome = peer.results["v11_list"]
    assert outcome["sent"]["algorithm"] == "V11-HMAC-SHA256"
    assert len(_ok(outcome)["instances"]) == 2


def test_the_project_is_looked_up_through_the_gateways_iam(peer: PeerRun) -> None:
    lookup = peer.results["project_lookup"]
    assert lookup["project_id"] == PROJECT_ID
    assert len(_ok(lookup["listed"])["instances"]) == 3


def test_an_iam_client_token_then_ddm_with_that_token(peer: PeerRun) -> None:
    token = peer.results["iam_token"]
    assert token["issued"]["status"] == 201 and token["token"]
    assert _ok(token["issued"])["token"]["project"]["id"] == PROJECT_ID
    assert len(_ok(token["listed"])["instances"]) == 3  # its AK is unknown: only the token can pass


def test_temporary_credentials_from_that_token(peer: PeerRun) -> None:
    temporary = peer.results["temporary_credentials"]
    assert (temporary["granted"]["status"], bool(temporary["secret"])) == (201, True), temporary["granted"]
    listed = temporary["listed"]
    assert "x-security-token" in listed["sent"]["signed_headers"].split(";")
    assert len(_ok(listed)["instances"]) == 3


def test_a_denial_is_403_after_the_signature_was_accepted(peer: PeerRun) -> None:
    denial = peer.results["denial"]
    assert (denial["status"], denial["code"]) == (403, "APIGW.0302"), denial
    assert "ddm:instance:create" in denial["message"] and denial["request_id"]
    assert denial["sent_sha256"] not in peer.bodies("POST")


def test_a_body_changed_after_signing_is_401_and_never_reaches_ddm(peer: PeerRun) -> None:
    tampered = peer.results["tamper_body"]
    assert (tampered["status"], tampered["code"]) == (401, "APIGW.0301"), tampered
    assert tampered["sent_sha256"] != tampered["signed_sha256"]
    posts = peer.bodies("POST")
    assert peer.results["create_non_ascii"]["body_sha256"] in posts  # the log does show POST bodies
    assert tampered["sent_sha256"] not in posts and tampered["signed_sha256"] not in posts


def test_a_query_changed_after_signing_is_401_and_never_reaches_ddm(peer: PeerRun) -> None:
    tampered = peer.results["tamper_query"]
    assert (tampered["status"], tampered["code"]) == (401, "APIGW.0301"), tampered
    assert tampered["sent"]["query"] == {"offset": 0, "limit": 7}
    queries = [entry["query"] for entry in peer.reached]
    assert "offset=2&limit=2" in queries and not any("limit=7" in query for query in queries)


def test_delete(peer: PeerRun) -> None:
    deleted = _ok(peer.results["delete"])["id"]
    assert deleted == _ok(peer.results["create_non_ascii"]["created"][2])["id"]
    assert any(entry["method"] == "DELETE" and entry["path"].endswith("/" + deleted) for entry in peer.reached)


def test_a_space_in_a_path_parameter_is_signed_twice_encoded_by_the_sdk(peer: PeerRun) -> None:
    """The Node SDK's own bug (README, Clients): it signs `%2520` but sends `%20`. A space is no
    part of a DDM id, so the parameter is refused by its form before the signature is checked."""
    outcome = peer.results["path_space"]
    assert "/instances/node%2520peer/" in outcome["signed_uri"]
    assert (outcome["status"], outcome["code"]) == (400, "APIGW.0201"), outcome
    assert "instance_id is malformed" in outcome["message"]
    assert not any("node" in entry["path"] for entry in peer.reached)


def test_the_node_vectors_on_disk_are_what_the_pinned_sdk_signs() -> None:
    """A bumped SDK that signs differently shows here (regenerate with generate_vectors node)."""
    run = subprocess.run([_node(), str(NODE_DIR / "vectors.js")], capture_output=True, text=True,
                         timeout=PEER_DEADLINE_S, check=False)
    assert run.returncode == 0, run.stderr
    signed = {f"node-{vector.pop('name')}.yaml": vector for vector in json.loads(run.stdout)}
    on_disk = {path.name: yaml.safe_load(path.read_text("utf-8")) for path in VECTOR_DIR.glob("node-*.yaml")}
    assert signed == on_disk
