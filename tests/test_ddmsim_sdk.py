"""Every documented DDM operation driven through the official SDK against the simulator.

Each case runs a happy path and at least one documented error. v1-style errors
(``errCode``/``externalMessage``) are not parsed by the SDK, so their code is read from the raw
body the SDK hands back as ``error_msg``; v3-style errors come back as ``error_code``.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkddm.v1 import DdmClient
import huaweicloudsdkddm.v1 as m

from ddmsim import create_app
from ddmsim.routing import load_routes
from tests.harness import ServerThread

PROJECT = "0503ddae897000fed2f78c00909158a4"
FLAVOR_ID = "8f2e696c-a9c1-30bd-af90-25522bc67606"
ENGINE_ID = "2325a707-0361-8be6-dd01-13474bbac437"
PASSWORD = "Sim_Pass_2024!"


@dataclass
class Env:
    """The SDK client plus helpers that build the state a case needs, through the SDK too."""

    client: DdmClient

    def call(self, op: str, request: Any) -> Any:
        return getattr(self.client, op)(request)

    def instance(self, name: str = "ddm-sim", nodes: int = 2) -> str:
        detail = m.CreateInstanceDetail(name=name, flavor_id=FLAVOR_ID, node_num=nodes, engine_id=ENGINE_ID,
                                        available_zones=["az1"], vpc_id="vpc-1", security_group_id="sg-1",
                                        subnet_id="subnet-1")
        created = self.call("create_instance", m.CreateInstanceRequest(body=m.CreateInstanceReq(instance=detail)))
        return created.id

    def rds_ids(self, instance_id: str) -> list[str]:
        listed = self.call("list_available_rds_list", m.ListAvailableRdsListRequest(instance_id=instance_id))
        return [rds.id for rds in listed.instances]

    def database(self, instance_id: str, name: str = "orders") -> str:
        rds = m.DatabaseInstabcesParam(id=self.rds_ids(instance_id)[0], admin_user="root", admin_password="x")
        detail = m.CreateDatabaseDetail(name=name, shard_mode="cluster", shard_number=8, shard_unit=8, used_rds=[rds])
        self.call("create_database", m.CreateDatabaseRequest(instance_id=instance_id,
                                                             body=m.CreateDatabaseReq(databases=[detail])))
        return name

    def account(self, instance_id: str, name: str = "app_user", databases: tuple[str, ...] = ()) -> str:
        info = m.CreateUsersInfo(name=name, password=PASSWORD, base_authority=["SELECT"],
                                 databases=[m.CreateUsersDatabases(name=d) for d in databases] or None)
        self.call("create_users", m.CreateUsersRequest(instance_id=instance_id, body=m.CreateUsersReq(users=[info])))
        return name

    def job_status(self, job_id: str) -> str:
        return self.call("show_ddm_job_result", m.ShowDdmJobResultRequest(job_id=job_id)).job.status


def expect_error(call: Callable[[], Any], status: int, code: str) -> None:
    """The documented error: status plus DBS code, whichever of the two body shapes carries it."""
    with pytest.raises(ClientRequestException) as caught:
        call()
    error = caught.value
    assert error.status_code == status, error
    if error.error_code == code:
        return
    assert json.loads(error.error_msg)["errCode"] == code, error


@pytest.fixture(scope="module")
def servers() -> Iterator[ServerThread]:
    thread = ServerThread()
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def env(servers: ServerThread) -> Env:
    port = servers.serve(create_app(job_seconds=0))
    client = (DdmClient.new_builder()
              .with_credentials(BasicCredentials("SIMAK0000000000000001", "sim-secret", PROJECT))
              .with_endpoints([f"http://127.0.0.1:{port}"]).build())
    return Env(client)


# ----------------------------------------------------------------------------------------------
# One function per documented operation: happy path, then a documented error.
# ----------------------------------------------------------------------------------------------

def case_list_api_version(env: Env) -> None:
    versions = env.call("list_api_version", m.ListApiVersionRequest()).versions
    assert {v.id for v in versions} >= {"v1", "v3"}
    expect_error(lambda: env.call("list_instances", m.ListInstancesRequest(limit=129)), 400, "DBS.280001")


def case_create_instance(env: Env) -> None:
    iid = env.instance("ddm-create")
    assert iid.endswith("in09")
    bad = m.CreateInstanceDetail(name="1bad", flavor_id=FLAVOR_ID, node_num=1, engine_id=ENGINE_ID,
                                 available_zones=["az1"], vpc_id="v", security_group_id="s", subnet_id="n")
    expect_error(lambda: env.call("create_instance", m.CreateInstanceRequest(
        body=m.CreateInstanceReq(instance=bad))), 400, "DBS.280001")


def case_list_instances(env: Env) -> None:
    env.instance("ddm-list")
    listed = env.call("list_instances", m.ListInstancesRequest(offset=0, limit=128))
    assert listed.total_record >= 1 and listed.instances[0].status
    expect_error(lambda: env.call("list_instances", m.ListInstancesRequest(offset=-1)), 400, "DBS.280001")


def case_show_instance(env: Env) -> None:
    iid = env.instance("ddm-show")
    shown = env.call("show_instance", m.ShowInstanceRequest(instance_id=iid))
    assert shown.id == iid and shown.status == "RUNNING" and len(shown.nodes) == 2
    expect_error(lambda: env.call("show_instance", m.ShowInstanceRequest(instance_id="0" * 36)), 404, "DBS.280001")


def _v3_instance(env: Env, name: str, enterprise_project_id: str | None = None) -> str:
    body = m.CreateDdmInstanceReq(name=name, available_zones=["az1"], node_num=2, flavor_ref="ddm.c6.large.2",
                                  vpc_id="vpc-1", subnet_id="subnet-1", security_group_id="sg-1",
                                  enterprise_project_id=enterprise_project_id)
    return env.call("create_ddm_instance", m.CreateDdmInstanceRequest(body=body)).id


def case_create_ddm_instance(env: Env) -> None:
    iid = _v3_instance(env, "ddm-v3-create", "ep-v3")
    assert env.call("show_instance", m.ShowInstanceRequest(instance_id=iid)).enterprise_project_id == "ep-v3"
    bad = m.CreateDdmInstanceReq(name="ddm-v3-bad", available_zones=["az1"], node_num=1, flavor_ref="nope",
                                 vpc_id="v", subnet_id="n", security_group_id="s")
    expect_error(lambda: env.call("create_ddm_instance", m.CreateDdmInstanceRequest(body=bad)), 400, "DBS.280001")


def case_list_ddms(env: Env) -> None:
    iid = _v3_instance(env, "ddm-v3-list", "ep-v3-list")
    listed = env.call("list_ddms", m.ListDdmsRequest(offset=0, limit=128))
    assert listed.total >= 1 and listed.instance_num == listed.total
    assert {i.id: i.enterprise_project_id for i in listed.instances}[iid] == "ep-v3-list"
    expect_error(lambda: env.call("list_ddms", m.ListDdmsRequest(limit=129)), 400, "DBS.280001")


def case_show_ddm_detail(env: Env) -> None:
    iid = _v3_instance(env, "ddm-v3-show")
    shown = env.call("show_ddm_detail", m.ShowDdmDetailRequest(instance_id=iid))
    assert [i.id for i in shown.instances] == [iid]
    raw = env.client.show_ddm_detail(m.ShowDdmDetailRequest(instance_id=iid)).raw_content
    assert json.loads(raw)["instances"][0]["enterprise_project_id"] == "0"   # absent from the SDK model
    expect_error(lambda: env.call("show_ddm_detail", m.ShowDdmDetailRequest(instance_id="0" * 36)),
                 404, "DBS.280001")


def case_delete_ddm_instance(env: Env) -> None:
    iid = _v3_instance(env, "ddm-v3-delete")
    env.call("delete_ddm_instance", m.DeleteDdmInstanceRequest(instance_id=iid))
    expect_error(lambda: env.call("show_instance", m.ShowInstanceRequest(instance_id=iid)), 404, "DBS.280001")


def case_update_instance_name(env: Env) -> None:
    iid = env.instance()
    renamed = env.call("update_instance_name", m.UpdateInstanceNameRequest(
        instance_id=iid, body=m.ModifyInstanceNameReq(name="ddm-renamed")))
    assert renamed.name == "ddm-renamed"
    expect_error(lambda: env.call("update_instance_name", m.UpdateInstanceNameRequest(
        instance_id=iid, body=m.ModifyInstanceNameReq(name="x!")), ), 400, "DBS.280001")


def case_update_instance_security_group(env: Env) -> None:
    iid = env.instance()
    changed = env.call("update_instance_security_group", m.UpdateInstanceSecurityGroupRequest(
        instance_id=iid, body=m.ModifyInstanceSecurityGroupReq(security_group_id="sg-2")))
    assert changed.security_group_id == "sg-2"
    expect_error(lambda: env.call("update_instance_security_group", m.UpdateInstanceSecurityGroupRequest(
        instance_id=iid, body=m.ModifyInstanceSecurityGroupReq(security_group_id="bad id!"))), 400, "DBS.280305")


def case_delete_instance(env: Env) -> None:
    iid = env.instance()
    deleted = env.call("delete_instance", m.DeleteInstanceRequest(instance_id=iid, delete_rds_data="true"))
    assert deleted.id == iid
    expect_error(lambda: env.call("delete_instance", m.DeleteInstanceRequest(instance_id=iid)), 404, "DBS.280001")


def case_restart_instance(env: Env) -> None:
    iid = env.instance()
    restarted = env.call("restart_instance", m.RestartInstanceRequest(
        instance_id=iid, body=m.RestartInstanceReq(restart=m.RestarInstanceInfo(type="soft"))))
    assert restarted.instance_id == iid and restarted.job_id
    expect_error(lambda: env.call("restart_instance", m.RestartInstanceRequest(
        instance_id=iid, body=m.RestartInstanceReq(restart=m.RestarInstanceInfo(type="warm")))), 400, "DBS.280001")


def case_rebuild_config(env: Env) -> None:
    iid = env.instance()
    env.call("rebuild_config", m.RebuildConfigRequest(instance_id=iid))
    expect_error(lambda: env.call("rebuild_config", m.RebuildConfigRequest(instance_id="f" * 36)), 404, "DBS.280001")


def case_expand_instance_nodes(env: Env) -> None:
    iid = env.instance()
    grown = env.call("expand_instance_nodes", m.ExpandInstanceNodesRequest(
        instance_id=iid, body=m.EnlargeRequest(flavor_id=FLAVOR_ID, node_number=1)))
    assert env.job_status(grown.job_id) == "Completed"
    assert env.call("show_instance", m.ShowInstanceRequest(instance_id=iid)).node_count == 3
    expect_error(lambda: env.call("expand_instance_nodes", m.ExpandInstanceNodesRequest(
        instance_id=iid, body=m.EnlargeRequest(flavor_id=FLAVOR_ID, node_number=0))), 400, "DBS.280001")


def case_shrink_instance_nodes(env: Env) -> None:
    iid = env.instance(nodes=3)
    shrunk = env.call("shrink_instance_nodes", m.ShrinkInstanceNodesRequest(
        instance_id=iid, body=m.ReduceRequest(node_number=2)))
    assert env.job_status(shrunk.job_id) == "Completed"
    assert env.call("show_instance", m.ShowInstanceRequest(instance_id=iid)).node_count == 1
    expect_error(lambda: env.call("shrink_instance_nodes", m.ShrinkInstanceNodesRequest(
        instance_id=iid, body=m.ReduceRequest(node_number=1))), 400, "DBS.280001")


def case_update_read_and_write_strategy(env: Env) -> None:
    iid = env.instance()
    rds = env.rds_ids(iid)
    done = env.call("update_read_and_write_strategy", m.UpdateReadAndWriteStrategyRequest(
        instance_id=iid, body=m.ModifyReadAndWriteStrategyReq(read_weight={rds[0]: 60, rds[1]: 40})))
    assert done.success is True
    expect_error(lambda: env.call("update_read_and_write_strategy", m.UpdateReadAndWriteStrategyRequest(
        instance_id=iid, body=m.ModifyReadAndWriteStrategyReq(read_weight={rds[0]: 101}))), 400, "DBS.300315")


def case_update_database_info(env: Env) -> None:
    iid = env.instance()
    synced = env.call("update_database_info", m.UpdateDatabaseInfoRequest(instance_id=iid))
    assert synced.instance_id == iid and synced.job_id
    expect_error(lambda: env.call("update_database_info", m.UpdateDatabaseInfoRequest(instance_id="a" * 36)),
                 404, "DBS.280001")


def case_list_nodes(env: Env) -> None:
    iid = env.instance(nodes=3)
    listed = env.call("list_nodes", m.ListNodesRequest(instance_id=iid, offset=1, limit=1))
    assert listed.total == 3 and len(listed.nodes) == 1
    expect_error(lambda: env.call("list_nodes", m.ListNodesRequest(instance_id=iid, limit=0)), 400, "DBS.280001")


def case_show_node(env: Env) -> None:
    iid = env.instance()
    node_id = env.call("list_nodes", m.ListNodesRequest(instance_id=iid)).nodes[0].node_id
    node = env.call("show_node", m.ShowNodeRequest(instance_id=iid, node_id=node_id))
    assert node.node_id == node_id and node.status == "normal"
    expect_error(lambda: env.call("show_node", m.ShowNodeRequest(instance_id=iid, node_id="nope")), 404, "DBS.280001")


def case_show_instance_param(env: Env) -> None:
    iid = env.instance()
    params = env.call("show_instance_param", m.ShowInstanceParamRequest(instance_id=iid, limit=5))
    assert params.total > 5 and len(params.configuration_parameter) == 5
    expect_error(lambda: env.call("show_instance_param", m.ShowInstanceParamRequest(instance_id=iid, limit=500)),
                 400, "DBS.280001")


def case_update_instance_param(env: Env) -> None:
    iid = env.instance()
    values = m.UpdateParametersReqValues(long_query_time="2")
    updated = env.call("update_instance_param", m.UpdateInstanceParamRequest(
        instance_id=iid, body=m.UpdateParametersReq(values=values)))
    assert updated.job_id
    params = env.call("show_instance_param", m.ShowInstanceParamRequest(instance_id=iid)).configuration_parameter
    assert {p.name: p.value for p in params}["long_query_time"] == "2"
    bad = m.UpdateParametersReqValues(max_connections="5")
    expect_error(lambda: env.call("update_instance_param", m.UpdateInstanceParamRequest(
        instance_id=iid, body=m.UpdateParametersReq(values=bad))), 400, "DBS.300375")


def case_list_engines(env: Env) -> None:
    engines = env.call("list_engines", m.ListEnginesRequest())
    assert engines.total >= 1 and engines.engine_groups[0].support_azs
    expect_error(lambda: env.call("list_engines", m.ListEnginesRequest(limit=0)), 400, "DBS.280001")


def case_list_flavors(env: Env) -> None:
    flavors = env.call("list_flavors", m.ListFlavorsRequest(engine_id=ENGINE_ID))
    assert flavors.compute_flavor_groups[0].compute_flavors
    expect_error(lambda: env.call("list_flavors", m.ListFlavorsRequest(engine_id="no-such-engine")), 400, "DBS.280001")


def case_resize_flavor(env: Env) -> None:
    iid = env.instance()
    resized = env.call("resize_flavor", m.ResizeFlavorRequest(
        instance_id=iid, body=m.ResizeFlavorReq(spec_code="ddm.c6.4xlarge.2")))
    assert env.job_status(resized.job_id) == "Completed"
    assert env.call("show_instance", m.ShowInstanceRequest(instance_id=iid)).flavor_ref == "ddm.c6.4xlarge.2"
    expect_error(lambda: env.call("resize_flavor", m.ResizeFlavorRequest(
        instance_id=iid, body=m.ResizeFlavorReq(spec_code="ddm.c6.4xlarge.2"))), 400, "DBS.280001")


def case_list_group(env: Env) -> None:
    iid = env.instance()
    groups = env.call("list_group", m.ListGroupRequest(instance_id=iid))
    assert groups.total_count == 1 and groups.group_list[0].is_default_group
    expect_error(lambda: env.call("list_group", m.ListGroupRequest(instance_id=iid, offset=-5)), 400, "DBS.280001")


def case_create_group(env: Env) -> None:
    iid = env.instance()
    nodes = [m.NodeInfo(available_zone="az1", subnet_id="subnet-1")]
    created = env.call("create_group", m.CreateGroupRequest(instance_id=iid, body=m.CreateGroupRequestBody(
        name="group-ro", type="r", flavor_id=FLAVOR_ID, nodes=nodes)))
    assert created.group_id and env.job_status(created.job_id) == "Completed"
    expect_error(lambda: env.call("create_group", m.CreateGroupRequest(instance_id=iid, body=m.CreateGroupRequestBody(
        name="group-x", type="readonly", flavor_id=FLAVOR_ID, nodes=nodes))), 400, "DBS.280001")


def case_list_ddm_engines(env: Env) -> None:
    engines = env.call("list_ddm_engines", m.ListDdmEnginesRequest(offset=0, limit=1))
    assert engines.total >= 2 and len(engines.engine_groups) == 1
    expect_error(lambda: env.call("list_ddm_engines", m.ListDdmEnginesRequest(limit=129)), 400, "DBS.280001")


def case_list_ddm_flavors(env: Env) -> None:
    flavors = env.call("list_ddm_flavors", m.ListDdmFlavorsRequest(engine_id=ENGINE_ID, available_zones="az1,az2"))
    assert flavors.flavor_groups[0].flavors[0].az_infos
    expect_error(lambda: env.call("list_ddm_flavors", m.ListDdmFlavorsRequest()), 400, "DBS.280001")


def case_expand_ddm_instance_nodes(env: Env) -> None:
    iid = env.instance()
    grown = env.call("expand_ddm_instance_nodes", m.ExpandDdmInstanceNodesRequest(
        instance_id=iid, body=m.ExpandDdmInstanceNodesRequestBody(nodes=[m.EnlargeNodeInfo(available_zone="az2")])))
    assert env.job_status(grown.job_id) == "Completed"
    expect_error(lambda: env.call("expand_ddm_instance_nodes", m.ExpandDdmInstanceNodesRequest(
        instance_id=iid, body=m.ExpandDdmInstanceNodesRequestBody(nodes=[]))), 400, "DBS.280001")


def case_show_ddm_job_result(env: Env) -> None:
    iid = env.instance()
    job_id = env.call("restart_instance", m.RestartInstanceRequest(
        instance_id=iid, body=m.RestartInstanceReq(restart=m.RestarInstanceInfo(type="hard")))).job_id
    job = env.call("show_ddm_job_result", m.ShowDdmJobResultRequest(job_id=job_id)).job
    assert job.status == "Completed" and job.instance.id == iid
    expect_error(lambda: env.call("show_ddm_job_result", m.ShowDdmJobResultRequest(job_id="no-such-job")),
                 400, "DBS.300400")


def case_switch_ssl(env: Env) -> None:
    iid = env.instance()
    switched = env.call("switch_ssl", m.SwitchSslRequest(instance_id=iid, body=m.SwitchSslOpenRequest(ssl_enabled=True)))
    assert env.job_status(switched.body["job_id"]) == "Completed"
    assert env.call("show_instance", m.ShowInstanceRequest(instance_id=iid)).enable_ssl is True
    expect_error(lambda: env.call("switch_ssl", m.SwitchSslRequest(instance_id=iid, body=m.SwitchSslOpenRequest())),
                 400, "DBS.280001")


def case_update_instance_port(env: Env) -> None:
    iid = env.instance()
    changed = env.call("update_instance_port", m.UpdateInstancePortRequest(instance_id=iid, body=m.UpdatePortRequest(port=5067)))
    assert env.job_status(changed.body["job_id"]) == "Completed"
    assert env.call("show_instance", m.ShowInstanceRequest(instance_id=iid)).access_port == "5067"
    expect_error(lambda: env.call("update_instance_port", m.UpdateInstancePortRequest(
        instance_id=iid, body=m.UpdatePortRequest(port=70000))), 400, "DBS.280001")


def case_create_database(env: Env) -> None:
    iid = env.instance()
    env.database(iid, "sales")
    expect_error(lambda: env.database(iid, "sales"), 400, "DBS.300112")
    expect_error(lambda: env.database(iid, "Sales"), 400, "DBS.300407")
    expect_error(lambda: env.database(iid, "mysql"), 400, "DBS.300406")
    expect_error(lambda: env.database(iid, "s"), 400, "DBS.300405")
    expect_error(lambda: env.database(iid, "9sales"), 400, "DBS.300109")


def case_list_databases(env: Env) -> None:
    iid = env.instance()
    env.database(iid, "db_a")
    env.database(iid, "db_b")
    listed = env.call("list_databases", m.ListDatabasesRequest(instance_id=iid, offset=1, limit=1))
    assert listed.total == 2 and [d.name for d in listed.databases] == ["db_b"]
    expect_error(lambda: env.call("list_databases", m.ListDatabasesRequest(instance_id=iid, limit=200)),
                 400, "DBS.280001")


def case_show_database(env: Env) -> None:
    iid = env.instance()
    env.database(iid, "catalog")
    shown = env.call("show_database", m.ShowDatabaseRequest(instance_id=iid, ddm_dbname="CATALOG")).database
    assert shown.name == "catalog" and len(shown.databases) == 8
    expect_error(lambda: env.call("show_database", m.ShowDatabaseRequest(instance_id=iid, ddm_dbname="missing")),
                 400, "DBS.300129")


def case_delete_database(env: Env) -> None:
    iid = env.instance()
    env.database(iid, "scratch")
    env.call("delete_database", m.DeleteDatabaseRequest(instance_id=iid, ddm_dbname="scratch", delete_rds_data="true"))
    expect_error(lambda: env.call("delete_database", m.DeleteDatabaseRequest(instance_id=iid, ddm_dbname="scratch")),
                 400, "DBS.300101")


def case_list_available_rds_list(env: Env) -> None:
    iid = env.instance()
    assert len(env.rds_ids(iid)) == 2
    expect_error(lambda: env.call("list_available_rds_list", m.ListAvailableRdsListRequest(instance_id=iid, limit=0)),
                 400, "DBS.280001")


def case_create_ddm_database(env: Env) -> None:
    iid = env.instance()
    dn = [m.DatabaseDnInstances(id=env.rds_ids(iid)[0], user_name="root", user_password="x")]
    created = env.call("create_ddm_database", m.CreateDdmDatabaseRequest(instance_id=iid, body=m.CreateDdmDatabaseRequestBody(
        name="v3db", shard_mode="cluster", shard_number=4, dn_instances=dn)))
    assert created.name == "v3db" and env.job_status(created.job_id) == "Completed"
    expect_error(lambda: env.call("create_ddm_database", m.CreateDdmDatabaseRequest(
        instance_id=iid, body=m.CreateDdmDatabaseRequestBody(name="v3db2", shard_mode="cluster", shard_number=4,
                                                            dn_instances=[]))), 400, "DBS.300102")


def case_delete_ddm_database(env: Env) -> None:
    iid = env.instance()
    env.database(iid, "goner")
    deleted = env.call("delete_ddm_database", m.DeleteDdmDatabaseRequest(instance_id=iid, database_name="goner",
                                                                          delete_dn_data=False))
    assert deleted.database_name == "goner" and env.job_status(deleted.job_id) == "Completed"
    expect_error(lambda: env.call("delete_ddm_database", m.DeleteDdmDatabaseRequest(
        instance_id=iid, database_name="goner", delete_dn_data=True)), 400, "DBS.300101")


def case_create_users(env: Env) -> None:
    iid = env.instance()
    db = env.database(iid)
    env.account(iid, "reader", (db,))
    expect_error(lambda: env.account(iid, "reader"), 400, "DBS.300311")
    expect_error(lambda: env.account(iid, "ghost", ("nodb",)), 400, "DBS.300300")
    expect_error(lambda: env.account(iid, "_bad"), 400, "DBS.300305")


def case_list_users(env: Env) -> None:
    iid = env.instance()
    env.account(iid, "u1")
    env.account(iid, "u2")
    listed = env.call("list_users", m.ListUsersRequest(instance_id=iid, offset=0, limit=1))
    assert listed.total_record == 2 and listed.total_page == 2 and listed.users[0].name == "u1"
    expect_error(lambda: env.call("list_users", m.ListUsersRequest(instance_id=iid, limit=1000)), 400, "DBS.280001")


def case_update_user(env: Env) -> None:
    iid = env.instance()
    db = env.database(iid)
    env.account(iid, "editor")
    user = m.UpdateUserDetailReq(base_authority=["SELECT", "INSERT"], databases=[m.UpdateUsersDatabases(name=db)])
    assert env.call("update_user", m.UpdateUserRequest(instance_id=iid, username="editor",
                                                       body=m.UpdateUserReq(user=user))).name == "editor"
    expect_error(lambda: env.call("update_user", m.UpdateUserRequest(
        instance_id=iid, username="nobody", body=m.UpdateUserReq(user=user))), 400, "DBS.300327")


def case_delete_user(env: Env) -> None:
    iid = env.instance()
    env.account(iid, "temp")
    assert env.call("delete_user", m.DeleteUserRequest(instance_id=iid, username="temp")).name == "temp"
    expect_error(lambda: env.call("delete_user", m.DeleteUserRequest(instance_id=iid, username="temp")),
                 400, "DBS.300327")


def case_reset_user_password(env: Env) -> None:
    iid = env.instance()
    env.account(iid, "rotator")
    reset = env.call("reset_user_password", m.ResetUserPasswordRequest(
        instance_id=iid, username="rotator", body=m.ResetUserPasswordReq(password="New_Pass_2025!")))
    assert reset.success is True and reset.user_name == "rotator"
    expect_error(lambda: env.call("reset_user_password", m.ResetUserPasswordRequest(
        instance_id=iid, username="rotator", body=m.ResetUserPasswordReq(password="short"))), 400, "DBS.300306")


def case_reset_administrator(env: Env) -> None:
    iid = env.instance()
    env.call("reset_administrator", m.ResetAdministratorRequest(
        instance_id=iid, body=m.AdminUserInfoReq(name="root", password=PASSWORD)))
    assert env.call("show_instance", m.ShowInstanceRequest(instance_id=iid)).admin_user_name == "root"
    expect_error(lambda: env.call("reset_administrator", m.ResetAdministratorRequest(
        instance_id=iid, body=m.AdminUserInfoReq(name="root", password="weak"))), 400, "DBS.300306")


def case_validate_weak_password(env: Env) -> None:
    assert env.call("validate_weak_password", m.ValidateWeakPasswordRequest(
        body=m.WeakPasswordReq(password="Admin@123"))).is_weak_password is True
    assert env.call("validate_weak_password", m.ValidateWeakPasswordRequest(
        body=m.WeakPasswordReq(password="Q7#long-Unique_pw"))).is_weak_password is False
    expect_error(lambda: env.call("validate_weak_password", m.ValidateWeakPasswordRequest(
        body=m.WeakPasswordReq())), 400, "DBS.280001")


def case_list_slow_log(env: Env) -> None:
    iid = env.instance()
    start = int(time.time() * 1000) - 3_600_000
    logs = env.call("list_slow_log", m.ListSlowLogRequest(instance_id=iid, cur_page="1", per_page="10",
                                                          start_date=str(start), end_date=str(start + 60_000)))
    assert logs.total_record >= 1 and logs.slow_log_list[0].query_sample
    expect_error(lambda: env.call("list_slow_log", m.ListSlowLogRequest(
        instance_id=iid, cur_page="1", per_page="10", start_date=str(start),
        end_date=str(start + 8 * 86_400_000))), 400, "DBS.300377")


def case_show_logical_processes(env: Env) -> None:
    iid = env.instance()
    listed = env.call("show_logical_processes", m.ShowLogicalProcessesRequest(instance_id=iid, keyword="drdsagent"))
    assert listed.total_count == 1 and listed.logical_processes[0].user == "drdsagent"
    expect_error(lambda: env.call("show_logical_processes", m.ShowLogicalProcessesRequest(
        instance_id=iid, keyword="k" * 256)), 400, "DBS.280001")


def case_execute_kill_logical_processes(env: Env) -> None:
    iid = env.instance()
    killed = env.call("execute_kill_logical_processes", m.ExecuteKillLogicalProcessesRequest(
        instance_id=iid, body=m.KillProcessesOpenRequest(process_ids=["4564225"])))
    assert killed.resp == "successful"
    expect_error(lambda: env.call("execute_kill_logical_processes", m.ExecuteKillLogicalProcessesRequest(
        instance_id=iid, body=m.KillProcessesOpenRequest(process_ids=[]))), 400, "DBS.280001")


def case_show_physical_processes(env: Env) -> None:
    iid = env.instance()
    rds_id = env.rds_ids(iid)[0]
    listed = env.call("show_physical_processes", m.ShowPhysicalProcessesRequest(instance_id=rds_id))
    assert listed.total_count == 2
    expect_error(lambda: env.call("show_physical_processes", m.ShowPhysicalProcessesRequest(
        instance_id="b" * 36)), 404, "DBS.280001")


def case_execute_kill_physical_processes(env: Env) -> None:
    iid = env.instance()
    env.call("execute_kill_physical_processes", m.ExecuteKillPhysicalProcessesRequest(
        instance_id=iid, body=m.KillProcessesOpenRequest(process_ids=["1973"])))
    assert env.call("show_physical_processes", m.ShowPhysicalProcessesRequest(instance_id=iid)).total_count == 1
    expect_error(lambda: env.call("execute_kill_physical_processes", m.ExecuteKillPhysicalProcessesRequest(
        instance_id=iid, body=m.KillProcessesOpenRequest(process_ids=["1973"]))), 400, "DBS.280001")


def case_show_processes_audit_log(env: Env) -> None:
    iid = env.instance()
    env.call("execute_kill_logical_processes", m.ExecuteKillLogicalProcessesRequest(
        instance_id=iid, body=m.KillProcessesOpenRequest(process_ids=["4564224"])))
    now = time.time()
    fmt = "%Y-%m-%dT%H:%M:%S+0000"
    start, end = time.strftime(fmt, time.gmtime(now - 3600)), time.strftime(fmt, time.gmtime(now + 3600))
    logs = env.call("show_processes_audit_log", m.ShowProcessesAuditLogRequest(instance_id=iid, start_time=start,
                                                                              end_time=end))
    assert logs.total_count == 1 and logs.process_audit_logs[0].process_id == "4564224"
    expect_error(lambda: env.call("show_processes_audit_log", m.ShowProcessesAuditLogRequest(
        instance_id=iid, start_time="yesterday", end_time=end)), 400, "DBS.300377")


def case_list_database_available_versions(env: Env) -> None:
    iid = env.instance()
    versions = env.call("list_database_available_versions", m.ListDatabaseAvailableVersionsRequest(instance_id=iid))
    assert versions.current_version == "3.0.8.5" and "3.1.0.7" in versions.versions
    expect_error(lambda: env.call("list_database_available_versions", m.ListDatabaseAvailableVersionsRequest(
        instance_id="c" * 36)), 404, "DBS.280001")


def case_change_database_version(env: Env) -> None:
    iid = env.instance()
    changed = env.call("change_database_version", m.ChangeDatabaseVersionRequest(
        instance_id=iid, body=m.DatabaseVersionRequest(target_version="3.1.0.7")))
    assert env.job_status(changed.job_id) == "Completed"
    expect_error(lambda: env.call("change_database_version", m.ChangeDatabaseVersionRequest(
        instance_id=iid, body=m.DatabaseVersionRequest(target_version="9.9.9"))), 400, "DBS.280001")


def case_roll_back_database_version(env: Env) -> None:
    iid = env.instance()
    expect_error(lambda: env.call("roll_back_database_version", m.RollBackDatabaseVersionRequest(instance_id=iid)),
                 400, "DBS.300005")
    env.call("change_database_version", m.ChangeDatabaseVersionRequest(
        instance_id=iid, body=m.DatabaseVersionRequest(target_version="3.1.0.7")))
    rolled = env.call("roll_back_database_version", m.RollBackDatabaseVersionRequest(instance_id=iid))
    assert env.job_status(rolled.job_id) == "Completed"
    versions = env.call("list_database_available_versions", m.ListDatabaseAvailableVersionsRequest(instance_id=iid))
    assert versions.current_version == "3.0.8.5"


def case_show_risk_info(env: Env) -> None:
    iid = env.instance()
    risks = env.call("show_risk_info", m.ShowRiskInfoRequest(instance_id=iid)).risks
    assert risks and risks[0].engine_version == "3.0.8.5"
    expect_error(lambda: env.call("show_risk_info", m.ShowRiskInfoRequest(instance_id="d" * 36)), 404, "DBS.280001")


CASES: dict[str, Callable[[Env], None]] = {
    name[len("case_"):]: fn for name, fn in dict(globals()).items() if name.startswith("case_")
}


@pytest.mark.parametrize("op", sorted(CASES))
def test_operation_through_sdk(env: Env, op: str) -> None:
    CASES[op](env)


def test_sdk_coverage_of_documented_operations(capsys: pytest.CaptureFixture[str]) -> None:
    """Every documented operation has an SDK case; the count is printed in the test summary."""
    documented = {route.op for route in load_routes()}
    covered = documented & set(CASES)
    message = f"SDK coverage: {len(covered)}/{len(documented)} documented operations"
    with capsys.disabled():
        print(f"\n{message}")
    assert len(documented) == 56     # chapter 4's 52 plus the v3 instance lifecycle (4)
    assert covered == documented == set(CASES), sorted(documented ^ set(CASES))
    assert all(hasattr(DdmClient, op) for op in documented)
