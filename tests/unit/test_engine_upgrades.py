"""The pure parts of rolling upgrades on the engines: which container is a member, what a
replacement is made of, when to pull, readiness, and the Swarm update written and read."""

from __future__ import annotations

from typing import Any

from scalehook.backends.base import UpgradeStrategy
from scalehook.backends.docker.clone import fixed_ports, plan_replica, without_image_defaults
from scalehook.backends.docker.groups import (
    REPLACES_LABEL,
    REPLICA_LABEL,
    SERVICE_LABEL,
    Container,
    group,
)
from scalehook.backends.docker.pull import needs_pull
from scalehook.backends.engine.readiness import readiness
from scalehook.backends.rolling import IMAGE_LABEL
from scalehook.backends.swarm.update import (
    configured,
    declared,
    observe,
    update_config,
    with_config,
    with_image,
)
from scalehook.domain.images import parse_image


def row(ident: str, number: int, *, labels: dict[str, str] | None = None, **more: Any) -> Any:
    return {
        "Id": ident,
        "Names": [f"/web-{number}"],
        "Image": "acme/app:1",
        "Labels": {SERVICE_LABEL: "web", REPLICA_LABEL: str(number), **(labels or {})},
        "State": "running",
        "Status": "Up",
        "Created": number,
        **more,
    }


def test_a_replacement_is_surge_while_the_one_it_replaces_is_there() -> None:
    rows = [
        row("a", 1),
        row("b", 2),
        row("c", 3, labels={REPLACES_LABEL: "a", IMAGE_LABEL: "acme/app:2@sha256:" + "f" * 64}),
    ]
    (found,) = group(Container.of(r) for r in rows)
    assert [c.id for c in found.surge] == ["c"]
    assert [c.id for c in found.members] == ["a", "b"]
    state = found.state(name="web", backend="docker")
    assert (state.desired, state.running, state.image) == (2, 3, "acme/app:1")
    assert found.next_number == 4
    assert "scalehook.replaces" not in state.labels and IMAGE_LABEL not in state.labels
    # once the old one is gone, the new one is the member, and its image is the label's
    (after,) = group(Container.of(r) for r in rows if r["Id"] != "a")
    assert [c.id for c in after.members] == ["b", "c"]
    assert after.members[1].image.endswith("f" * 64)
    assert after.image == "acme/app:1"  # the oldest member's, until every one runs 2
    assert after.state(name="web", backend="docker", image="acme/app:0").image == "acme/app:0"


def test_a_replica_of_another_image_drops_what_the_old_image_gave() -> None:
    image = {
        "Env": ["PATH=/bin", "VERSION=1"],
        "Cmd": ["serve"],
        "Healthcheck": {"Test": ["CMD", "check"]},
        "ExposedPorts": {"8080/tcp": {}},
        "Labels": {"org.version": "1"},
        "WorkingDir": "/app",
    }
    config: dict[str, Any] = {
        "Env": ["PATH=/bin", "VERSION=1", "MODE=prod"],
        "Cmd": ["serve"],
        "Healthcheck": {"Test": ["CMD", "check"]},
        "ExposedPorts": {"8080/tcp": {}, "9090/tcp": {}},
        "Labels": {"org.version": "1", "team": "shop"},
        "WorkingDir": "/srv",  # set at docker run: kept
    }
    kept = without_image_defaults(config, image)
    assert kept["Env"] == ["MODE=prod"]
    assert "Cmd" not in kept and "Healthcheck" not in kept
    assert kept["ExposedPorts"] == {"9090/tcp": {}}
    assert kept["Labels"] == {"team": "shop"}
    assert kept["WorkingDir"] == "/srv"

    inspect: dict[str, Any] = {
        "Id": "a" * 64,
        "Name": "/web-1",
        "Config": {**config, "Labels": {**config["Labels"], REPLACES_LABEL: "old"}},
        "HostConfig": {"PortBindings": {"8080/tcp": [{"HostIp": "", "HostPort": "80"}]}},
    }
    plan = plan_replica(
        inspect,
        name="web-2",
        image="acme/app:2",
        number_label=REPLICA_LABEL,
        number=2,
        labels={IMAGE_LABEL: "acme/app:2"},
        keep_ports=True,
        old_image=image,
    )
    assert plan.body["Env"] == ["MODE=prod"] and plan.body["Image"] == "acme/app:2"
    assert plan.body["Labels"] == {"team": "shop", REPLICA_LABEL: "2", IMAGE_LABEL: "acme/app:2"}
    assert plan.body["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostPort"] == "80"
    clone = plan_replica(inspect, name="web-3", image="x", number_label=REPLICA_LABEL, number=3)
    assert clone.body["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostPort"] == ""
    assert REPLACES_LABEL not in clone.body["Labels"]
    assert fixed_ports(inspect["HostConfig"]["PortBindings"]) == ["*:80->8080/tcp"]
    assert fixed_ports({"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}) == []


def test_an_image_is_pulled_only_when_the_engine_lacks_it_or_holds_another_digest() -> None:
    digest = "sha256:" + "a" * 64
    other = "sha256:" + "b" * 64
    ref = parse_image(f"acme/app:2@{digest}")
    assert needs_pull(None, parse_image("acme/app:2"))
    assert not needs_pull({"RepoDigests": []}, ref)  # built here: nothing to compare
    assert not needs_pull({"RepoDigests": [f"acme/app@{digest}"]}, ref)
    assert needs_pull({"RepoDigests": [f"acme/app@{other}"]}, ref)
    assert not needs_pull({"RepoDigests": [f"acme/app@{other}"]}, parse_image("acme/app:2"))
    assert ref.by_tag() == "acme/app:2"


def test_readiness_from_the_state_and_the_healthcheck() -> None:
    def record(status: str, health: str | None = None, **more: Any) -> Any:
        state: dict[str, Any] = {"Status": status, "ExitCode": 3}
        if health is not None:
            state["Health"] = {
                "Status": health,
                "Log": [{"ExitCode": 1, "Output": "wget: 404\n"}],
            }
        return {"State": state, **more}

    assert readiness(record("running")).verdict == "ready"
    assert readiness(record("running", "healthy")).verdict == "ready"
    assert readiness(record("running", "starting")).verdict == "waiting"
    assert readiness(record("created")).verdict == "waiting"
    unhealthy = readiness(record("running", "unhealthy"))
    assert (unhealthy.verdict, unhealthy.detail) == (
        "failed",
        "it is unhealthy (last check: exit 1, wget: 404)",
    )
    assert readiness(record("exited")).detail == "it exited with code 3"
    assert readiness(record("running", RestartCount=1)).verdict == "failed"
    assert readiness(None).verdict == "failed"


def test_a_strategy_becomes_the_swarm_update_config() -> None:
    strategy = UpgradeStrategy(
        batch_size=2, batch_interval=1.5, start_first=True, health_timeout=30, on_failure="pause"
    )
    assert update_config(strategy) == {
        "Parallelism": 2,
        "Delay": 1_500_000_000,
        "FailureAction": "pause",
        "Monitor": 30_000_000_000,
        "MaxFailureRatio": 0,
        "Order": "start-first",
    }
    assert update_config(strategy, rollback=True)["FailureAction"] == "pause"
    spec = {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "acme/app:1@sha256:x"}}}
    assert not configured(spec, strategy)
    written = with_config(spec, strategy)
    assert configured(written, strategy)
    # the engine leaves zero values out of what it returns
    del written["UpdateConfig"]["MaxFailureRatio"]
    assert configured(written, strategy)
    assert declared(spec) == "acme/app:1"


def test_the_swarm_spec_names_the_tag_and_keeps_what_was_pushed() -> None:
    digest = "sha256:" + "c" * 64
    spec: dict[str, Any] = {
        "Labels": {"tier": "front"},
        "TaskTemplate": {"ContainerSpec": {"Image": "acme/app:1"}},
    }
    new = with_image(spec, f"docker.io/acme/app:2@{digest}")
    assert new["TaskTemplate"]["ContainerSpec"]["Image"] == "acme/app:2"
    assert "ForceUpdate" not in new["TaskTemplate"]
    assert declared(new) == f"acme/app:2@{digest}"
    assert spec["TaskTemplate"]["ContainerSpec"]["Image"] == "acme/app:1"  # not changed
    rebuilt = with_image(new, "acme/app:2")
    assert rebuilt["TaskTemplate"]["ForceUpdate"] == 1  # the same tag again: new tasks
    # a label that no longer names the spec's image (changed by hand) is not believed
    by_hand = {**new, "TaskTemplate": {"ContainerSpec": {"Image": "acme/app:5"}}}
    assert declared(by_hand) == "acme/app:5"


def test_an_update_is_read_from_the_service_and_its_tasks() -> None:
    def task(ident: str, slot: int, image: str, state: str, desired: str = "running") -> Any:
        return {
            "ID": ident,
            "Slot": slot,
            "DesiredState": desired,
            "CreatedAt": ident,
            "Spec": {"ContainerSpec": {"Image": image}},
            "Status": {"State": state, "Err": "dockerexec: unhealthy container"},
        }

    service = {
        "ID": "s1",
        "Spec": {"Name": "web", "Mode": {"Replicated": {"Replicas": 3}}},
        "UpdateStatus": {"State": "rollback_started", "Message": "update rolled back: task t3"},
    }
    tasks = [
        task("t1", 1, "acme/app:2", "running"),
        task("t2", 2, "acme/app:1", "running"),
        task("t3", 3, "acme/app:2", "failed", desired="shutdown"),
        task("t4", 3, "acme/app:1", "running"),
    ]
    seen = observe(service, tasks, image="acme/app:2", force=0)
    assert (seen.state, seen.total, seen.updated, seen.others) == (
        "rollback_started",
        3,
        ("web.1",),
        2,
    )
    assert seen.failed is not None and seen.failed["ID"] == "t3"
    assert observe(service, tasks, image="acme/app:2", force=1).updated == ()
