"""The store's side of alert scaling, on every store (SQLite both ways, PostgreSQL):
migration 0002 (on a SQLite file), memory, cooldowns."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from scalehook.domain.executions import ExecutionDraft, Result
from scalehook.domain.incidents import Incident, IncidentKey, IncidentMark, remember
from scalehook.domain.receivers import ReceiverId
from scalehook.store import Store
from scalehook.store.database import MIGRATIONS

R1, R2 = ReceiverId(1), ReceiverId(2)
T0 = datetime(2026, 11, 23, 6, 14, 58, 206000, tzinfo=UTC)


HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()


def draft(
    result: Result, before: int, after: int, at: datetime, receiver: int = 1
) -> ExecutionDraft:
    return ExecutionDraft(
        started_at=at,
        driver="scaleService",
        target="local/web",
        result=result,
        message="",
        duration_ms=1.0,
        receiver_id=ReceiverId(receiver),
        before=before,
        after=after,
    )


async def test_0002_upgrades_a_0001_database(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        config = Config(str(MIGRATIONS / "alembic.ini"))
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.exec_driver_sql(
            "INSERT INTO receivers (name, driver, config, key_hash, enabled, created_at, "
            "updated_at) VALUES ('old', 'scaleService', '{}', 'h', 1, '2026-01-01 00:00:00', "
            "'2026-01-01 00:00:00')"
        )
    engine.dispose()
    store = Store(f"sqlite+aiosqlite:///{path}")
    await store.open()
    try:
        (old,) = await store.receivers.all()
        assert (old.name, old.dry_run, old.paused) == ("old", False, False)
        updated = await store.receivers.update(old.id, paused=True, dry_run=True)
        assert (updated.paused, updated.dry_run) == (True, True)
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone() == (HEAD,)


async def test_memory_is_written_with_the_execution_as_remember_says(store: Store) -> None:
    a, b, c = (("fa", T0), ("fb", T0), ("fc", T0 + timedelta(seconds=1)))
    steps: list[tuple[IncidentMark, ...]] = [
        (IncidentMark(*a, fired=True, shared=True), IncidentMark(*b, fired=True, shared=True)),
        (IncidentMark(*c, fired=True, owes=False),),
        (IncidentMark(*a, fired=False),),
    ]
    expected: dict[IncidentKey, Incident] = {}
    for marks in steps:
        execution = await store.executions.add(draft("scaled", 1, 2, T0), marks=marks)
        remember(expected, marks, execution.id)
    keys = [a, b, c, ("unknown", T0)]
    assert await store.incidents.find(receiver_id=R1, dry_run=False, keys=keys) == expected
    # asking for one incident of a batch brings its batch-mates along
    assert set(await store.incidents.find(receiver_id=R1, dry_run=False, keys=[b])) == {a, b}
    assert await store.incidents.find(receiver_id=R1, dry_run=True, keys=keys) == {}
    assert await store.incidents.find(receiver_id=R2, dry_run=False, keys=keys) == {}


async def test_last_actions_come_from_the_audit_trail(store: Store) -> None:
    assert await store.executions.last_actions(receiver_id=R1, target="local/web") == {
        "up": None,
        "down": None,
    }
    await store.executions.add(draft("scaled", 1, 2, T0))
    await store.executions.add(draft("clamped", 2, 3, T0 + timedelta(seconds=5)))
    await store.executions.add(draft("noop", 3, 3, T0 + timedelta(seconds=9)))
    await store.executions.add(draft("deduped", 3, 3, T0 + timedelta(seconds=10)))
    await store.executions.add(draft("failed", 3, 3, T0 + timedelta(seconds=11)))
    await store.executions.add(draft("scaled", 3, 2, T0 + timedelta(seconds=7)))
    await store.executions.add(draft("scaled", 9, 10, T0 + timedelta(seconds=50), receiver=2))
    await store.executions.add(draft("dry_run", 2, 3, T0 + timedelta(seconds=60)))
    assert await store.executions.last_actions(receiver_id=R1, target="local/web") == {
        "up": T0 + timedelta(seconds=5),
        "down": T0 + timedelta(seconds=7),
    }
    assert await store.executions.last_actions(
        receiver_id=R1, target="local/web", dry_run=True
    ) == {
        "up": T0 + timedelta(seconds=60),
        "down": None,
    }
    assert await store.executions.last_actions(receiver_id=R1, target="local/other") == {
        "up": None,
        "down": None,
    }


async def test_deleting_a_receiver_forgets_its_incidents(store: Store) -> None:
    receiver = await store.receivers.add(
        name="r", driver="scaleService", config={}, key_hash="h", enabled=True
    )
    mark = IncidentMark("fa", T0, fired=True)
    await store.executions.add(draft("scaled", 1, 2, T0, receiver=receiver.id), marks=(mark,))
    keys = [mark.key]
    assert await store.incidents.find(receiver_id=receiver.id, dry_run=False, keys=keys)
    await store.receivers.delete(receiver.id)
    assert await store.incidents.find(receiver_id=receiver.id, dry_run=False, keys=keys) == {}
