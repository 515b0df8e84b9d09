"""The pure parts of load-balancer membership: the plan, where a replica is reached,
reading HAProxy's answers (as HAProxy 2.6 prints them), settings, and the replica hooks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from scalehook.backends.base import Replica
from scalehook.backends.hooks import ReplicaHooks
from scalehook.balancers.haproxy import answers
from scalehook.balancers.membership import endpoint
from scalehook.balancers.settings import BalancerSettings, MemberSettings
from scalehook.config import ConfigError, load_settings
from scalehook.domain.membership import Present, Wanted, plan, server_name

# Captured from Debian's HAProxy 2.6.12
STATE_HEADER = (
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
    "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "
    "srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr "
    "srv_agent_port"
)
SERVERS_STATE = "\n".join(
    [
        "1",
        STATE_HEADER,
        "3 web_be 1 keep 127.0.0.1 0 5 1 1 12 1 0 0 0 0 0 0 - 9 - 0 0 - - 0",
        "3 web_be 2 shk-web-1 127.0.0.1 2 0 1 1 3 1 0 0 0 0 0 0 - 9999 - 0 0 - - 0",
        "3 web_be 3 shk-web-2 127.0.0.1 2 8 1 1 0 1 0 0 0 0 0 0 - 9998 - 0 0 - - 0",
        "",
        "",
    ]
)
STAT = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,"
    "wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,"
    "throttle,lbtot,tracked,type,rate\n"
    "web_be,shk-web-1,1,0,3,5,,120,0,0,,0,,0,0,0,0,UP,1,1,0,,,0,,,1,3,1,,0,,2,0\n"
    "web_be,shk-web-2,0,0,0,0,,7,0,0,,0,,0,0,0,0,DRAIN,1,1,0,,,0,,,1,3,2,,0,,2,0\n"
    "web_be,BACKEND,0,0,3,5,200,127,0,0,0,0,,0,0,0,0,UP,2,2,0,,0,9,0,,1,3,0,,0,,1,0\n"
    "\n"
)
SERVERS_CONN = (
    "# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est "
    "unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[2]\n"
    "web_be/shk-web-1 3/1 127.0.0.1 9999 - 5000 2 3 2 0 1 -1 1 0 1\n\n"
)


def test_show_servers_state_is_read_by_its_header() -> None:
    found = {s.name: s for s in answers.servers_state(SERVERS_STATE)}
    assert found["keep"].maint and not found["keep"].ready  # 0x04 config maint + forced
    assert found["shk-web-1"].ready and found["shk-web-1"].endpoint == "127.0.0.1:9999"
    assert found["shk-web-2"].draining and not found["shk-web-2"].ready
    assert found["shk-web-2"].since_change == 0
    assert answers.servers_state("1\n# be_id be_name srv_id\n\n") == []
    with pytest.raises(ValueError, match="format version"):
        answers.servers_state("2\n# x\n")
    with pytest.raises(ValueError, match="fields"):
        answers.servers_state("1\n# be_id be_name\n3 web_be extra\n")


def test_show_stat_gives_each_servers_sessions_not_the_backends_row() -> None:
    loads = answers.stat(STAT)
    assert [(x.name, x.in_flight, x.queued, x.total, x.status) for x in loads] == [
        ("shk-web-1", 3, 1, 120, "UP"),
        ("shk-web-2", 0, 0, 7, "DRAIN"),
    ]
    with pytest.raises(ValueError, match="header"):
        answers.stat("web_be,shk-web-1,1\n")


def test_show_servers_conn_gives_connections_in_use_and_idle() -> None:
    [conn] = answers.servers_conn(SERVERS_CONN)
    assert (conn.backend, conn.name, conn.used, conn.idle) == ("web_be", "shk-web-1", 2, 1)


def wanted(name: str, port: int = 80, host: str = "10.0.0.1") -> Wanted:
    return Wanted(name=name, host=host, port=port, service="web", replica=name[4:])


def present(
    name: str, port: int = 80, *, ready: bool = True, maint: bool = False, since: float = 100
) -> Present:
    return Present(
        name=name, host="10.0.0.1", port=port, ready=ready, maint=maint, since_change=since
    )


def test_the_plan_adds_moves_and_removes_only_servers_with_the_prefix() -> None:
    want = {n: wanted(n, port) for n, port in (("shk-a", 80), ("shk-b", 81), ("shk-c", 82))}
    have = [present("shk-a"), present("shk-b", 90), present("shk-old"), present("manual", 82)]
    todo = plan(want, have, prefix="shk-")
    assert [w.name for w in todo.add] == ["shk-c"]
    assert [w.name for w in todo.move] == ["shk-b"]
    assert [p.name for p in todo.remove] == ["shk-old"]
    assert not todo.enable and not todo.held
    assert plan(want, have, prefix="shk-", busy={"shk-old"}).remove == ()


def test_a_recent_drain_of_the_same_replica_is_held_an_old_one_or_a_new_replica_is_enabled() -> (
    None
):
    want = {"shk-a": wanted("shk-a"), "shk-b": wanted("shk-b"), "shk-c": wanted("shk-c", 81)}
    have = [
        present("shk-a", ready=False, since=3),  # being stopped right now
        present("shk-b", ready=False, maint=True, since=600),  # a drain a crash cut short
        present("shk-c", 80, ready=False, maint=True, since=3),  # an old replica's name
    ]
    todo = plan(want, have, prefix="shk-", hold=60)
    assert todo.held == ("shk-a",)
    assert {w.name for w in todo.enable} == {"shk-b", "shk-c"}
    assert [w.name for w in todo.move] == ["shk-c"]
    assert todo.add == () and todo.remove == ()


def test_server_names_keep_what_haproxy_allows() -> None:
    assert server_name("shk-", "web-1") == "shk-web-1"
    assert server_name("shk-", "shop.web.2") == "shk-shop.web.2"
    assert server_name("shk-", "wéb/1 x") == "shk-w_b_1_x"
    assert len(server_name("shk-", "x" * 100)) == 64


def replica(**fields: object) -> Replica:
    base: dict[str, object] = {"id": "web-1", "service": "web", "state": "running", "ready": True}
    return Replica(**{**base, **fields})  # type: ignore[arg-type]


def test_where_a_replica_is_reached_follows_the_address_setting() -> None:
    local = replica(address="127.0.0.1:4001", port=4001)
    assert endpoint(MemberSettings(backend="b"), local) == ("127.0.0.1", 4001)
    assert endpoint(MemberSettings(backend="b", port=8081), local) == ("127.0.0.1", 8081)
    container = replica(
        address="172.18.0.5:8080",
        port=8080,
        networks={"shop": "172.19.0.7", "bridge": "172.17.0.3"},
        published={8080: "0.0.0.0:32768", 9090: "127.0.0.2:40000"},
    )
    assert endpoint(MemberSettings(backend="b", address="network:shop"), container) == (
        "172.19.0.7",
        8080,
    )
    assert endpoint(MemberSettings(backend="b", address="network:none"), container) is None
    assert endpoint(MemberSettings(backend="b", address="published"), container) == (
        "127.0.0.1",
        32768,
    )
    published = MemberSettings(backend="b", address="published", port=9090)
    assert endpoint(published, container) == ("127.0.0.2", 40000)
    bare = replica(address="10.0.0.9")  # a task: an address, no port known
    assert endpoint(MemberSettings(backend="b"), bare) is None
    assert endpoint(MemberSettings(backend="b", port=80), bare) == ("10.0.0.9", 80)
    assert endpoint(MemberSettings(backend="b"), replica(address="[::1]:80")) == ("::1", 80)


def test_settings_refuse_what_cannot_work_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="one"):
        BalancerSettings.model_validate(
            {"haproxy": {"socket": "/s", "tcp": "h:1"}, "services": {"web": {"backend": "b"}}}
        )
    with pytest.raises(ValidationError, match="host:port"):
        BalancerSettings.model_validate(
            {"haproxy": {"tcp": "nowhere"}, "services": {"web": {"backend": "b"}}}
        )
    with pytest.raises(ValidationError, match="at least one service"):
        BalancerSettings.model_validate({"haproxy": {"socket": "/s"}, "services": {}})
    for bad, says in (
        ({"backend": "web be"}, "not an HAProxy backend name"),
        ({"backend": "b", "address": "somewhere"}, "network:<name>"),
        ({"backend": "b", "options": "weight 1; del server x/y"}, "cannot be part"),
        ({"backend": "b", "options": "disabled"}, "for scalehook to send"),
        ({"backend": "b", "options": "check"}, "check: true"),
    ):
        with pytest.raises(ValidationError, match=says):
            MemberSettings.model_validate(bad)
    assert MemberSettings(backend="b", check=True, options="inter 1s").keywords() == [
        "check",
        "inter",
        "1s",
    ]


def test_a_bad_balancers_section_stops_the_start_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "scalehook.yaml"
    path.write_text("balancers:\n  edge:\n    haproxy: {socket: /s}\n    services: {web: {}}\n")
    with pytest.raises(
        ConfigError, match=r"balancers\.edge\.services\.web\.backend: Field required"
    ):
        load_settings(path)
    path.write_text(
        "balancers:\n  Edge:\n    haproxy: {socket: /s}\n    services: {web: {backend: b}}\n"
    )
    with pytest.raises(ConfigError, match="balancer name 'Edge'"):
        load_settings(path)


async def test_hooks_run_before_a_stop_and_one_that_hangs_or_fails_never_keeps_it() -> None:
    hooks = ReplicaHooks()
    assert not hooks.listening
    seen: list[tuple[str, str, float]] = []
    changed: list[str] = []

    async def drains(service: str, r: Replica, grace: float) -> None:
        seen.append((service, r.id, grace))

    async def fails(service: str, r: Replica, grace: float) -> None:
        raise RuntimeError("balancer bug")

    release = asyncio.Event()

    async def hangs(service: str, r: Replica, grace: float) -> None:
        await release.wait()

    for hook in (drains, fails, hangs):
        hooks.on_before_stop(hook)
    hooks.on_changed(changed.append)
    hooks.on_changed(lambda _: 1 / 0)  # type: ignore[arg-type]
    assert hooks.listening
    started = datetime.now(UTC)
    await hooks.before_stop("local/web", replica(started_at=started), grace=0.01)
    assert seen == [("local/web", "web-1", 0.01)]
    hooks.changed("local/web")
    assert changed == ["local/web"]
