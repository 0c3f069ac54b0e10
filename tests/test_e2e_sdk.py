"""The official SDKs, unmodified, against the gateway and the simulator (real servers)."""
from __future__ import annotations

from typing import Iterator

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials, GlobalCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.http.http_handler import HttpHandler
from huaweicloudsdkcore.region.region import Region
from huaweicloudsdkcore.signer.algorithm import SigningAlgorithm
from huaweicloudsdkddm.v1 import DdmClient, ListInstancesRequest, ShowInstanceRequest
from huaweicloudsdkiam.v3 import (AuthScope, AuthScopeProject, IamClient, KeystoneCreateUserTokenByPasswordRequest,
                                  KeystoneCreateUserTokenByPasswordRequestBody, PwdAuth, PwdIdentity,
                                  PwdPassword, PwdPasswordUser, PwdPasswordUserDomain)

from .harness import ALICE_AK, ALICE_SK, ISSUED_TOKENS, PROJECT_ID
from .stack import Stack, start_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(str(tmp_path_factory.mktemp("gw-sdk")))
    yield stack
    stack.servers.close()


def ddm_client(stack: Stack, credentials, algorithm: SigningAlgorithm = SigningAlgorithm.HMAC_SHA256) -> DdmClient:
    config = HttpConfig.get_default_config()
    config.signing_algorithm = algorithm
    return (DdmClient.new_builder().with_http_config(config).with_credentials(credentials)
            .with_endpoints([stack.url]).build())


def password_token(stack: Stack, user: str, password: str) -> str:
    iam = (IamClient.new_builder().with_credentials(GlobalCredentials("UNUSEDAK000000000000", "unused"))
           .with_endpoints([stack.url]).build())
    body = KeystoneCreateUserTokenByPasswordRequestBody(auth=PwdAuth(
        identity=PwdIdentity(methods=["password"], password=PwdPassword(user=PwdPasswordUser(
            domain=PwdPasswordUserDomain(name="acme"), name=user, password=password))),
        scope=AuthScope(project=AuthScopeProject(name="cn-north-4"))))
    response = iam.keystone_create_user_token_by_password(
        KeystoneCreateUserTokenByPasswordRequest(nocatalog="true", body=body))
    assert response.token.project.id == PROJECT_ID
    ISSUED_TOKENS.append(response.x_subject_token)
    return response.x_subject_token


def test_iam_sdk_token_then_ddm_sdk_with_that_token(stack: Stack) -> None:
    token = password_token(stack, "alice", "alice-pass-1")
    assert token
    client = ddm_client(stack, BasicCredentials("UNUSEDAK000000000000", "unused", PROJECT_ID))
    client.preset_headers["X-Auth-Token"] = token
    response = client.list_instances(ListInstancesRequest())
    assert response.instances is not None


@pytest.mark.parametrize("algorithm", [SigningAlgorithm.HMAC_SHA256, SigningAlgorithm.HMAC_SM3,
                                       SigningAlgorithm.ECDSA_P256_SHA256, SigningAlgorithm.SM2_SM3])
def test_ddm_sdk_with_aksk(stack: Stack, algorithm: SigningAlgorithm) -> None:
    client = ddm_client(stack, BasicCredentials(ALICE_AK, ALICE_SK, PROJECT_ID), algorithm)
    assert client.list_instances(ListInstancesRequest()).instances is not None


@pytest.mark.parametrize("algorithm, content_header", [(SigningAlgorithm.HMAC_SHA256, "X-Sdk-Content-Sha256"),
                                                       (SigningAlgorithm.HMAC_SM3, "X-Sdk-Content-Sm3")])
def test_ddm_sdk_empty_body_get_with_a_non_json_content_type(stack: Stack, algorithm: SigningAlgorithm,
                                                             content_header: str) -> None:
    """The Python form of the Node.js case in test_e2e_node_sdk: UNSIGNED-PAYLOAD declared and
    signed, the empty-body hash as the payload line."""
    sent: list[dict[str, str]] = []
    handler = HttpHandler().add_request_handler(lambda **kw: sent.append(dict(kw["request"].header_params)))
    config = HttpConfig.get_default_config()
    config.signing_algorithm = algorithm
    client = (DdmClient.new_builder().with_http_config(config).with_http_handler(handler)
              .with_credentials(BasicCredentials(ALICE_AK, ALICE_SK, PROJECT_ID)).with_endpoints([stack.url]).build())
    client.preset_headers["Content-Type"] = "text/plain"
    assert client.list_instances(ListInstancesRequest()).instances is not None
    assert (sent[-1]["Content-Type"], sent[-1][content_header]) == ("text/plain", "UNSIGNED-PAYLOAD")


def test_ddm_sdk_resolves_the_project_through_the_gateway(stack: Stack) -> None:
    credentials = BasicCredentials(ALICE_AK, ALICE_SK).with_iam_endpoint(stack.url)
    client = (DdmClient.new_builder().with_credentials(credentials)
              .with_region(Region("cn-north-4", stack.url)).build())
    assert client.list_instances(ListInstancesRequest()).instances is not None
    assert credentials.project_id == PROJECT_ID


def test_sdk_sees_the_dbs_code_and_the_gateway_request_id(stack: Stack) -> None:
    client = ddm_client(stack, BasicCredentials(ALICE_AK, ALICE_SK, PROJECT_ID))
    with pytest.raises(ClientRequestException) as caught:
        client.show_instance(ShowInstanceRequest(instance_id="0123456789abcdef0123456789abcdefin09"))
    assert caught.value.error_code.startswith("DBS."), caught.value
    assert caught.value.request_id and len(caught.value.request_id) >= 16


def test_sdk_sees_gateway_denials(stack: Stack) -> None:
    client = ddm_client(stack, BasicCredentials(ALICE_AK, "wrong-secret", PROJECT_ID))
    with pytest.raises(ClientRequestException) as caught:
        client.list_instances(ListInstancesRequest())
    assert caught.value.status_code == 401
    assert caught.value.error_code == "APIGW.0301"
