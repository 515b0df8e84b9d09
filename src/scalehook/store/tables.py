"""The tables, in portable SQL (SQLite by default, PostgreSQL for several instances).

Alembic migrations in ``migrations/versions`` create and change them; this module is
what the code queries. Keep the two in step.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData()

receivers = Table(
    "receivers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("driver", String(40), nullable=False),
    Column("config", JSON, nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("dry_run", Boolean, nullable=False, default=False, server_default=false()),
    Column("paused", Boolean, nullable=False, default=False, server_default=false()),
    sqlite_autoincrement=True,
)

executions = Table(
    "executions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("receiver_id", Integer, nullable=True),
    Column("receiver_name", String(100), nullable=True),
    Column("driver", String(40), nullable=False),
    Column("target", String(200), nullable=True),
    Column("caller", String(100), nullable=True),
    Column("result", String(20), nullable=False),
    Column("before", Integer, nullable=True),
    Column("after", Integer, nullable=True),
    Column("message", Text, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("details", JSON, nullable=False),
    Column("status", String(20), nullable=False, default="done", server_default="done"),
    Column("updated_at", DateTime(timezone=True), nullable=True),
    Index("ix_executions_receiver", "receiver_id", "id"),
    Index("ix_executions_target", "target", "id"),
    Index("ix_executions_receiver_name", "receiver_name", "id"),
    sqlite_autoincrement=True,
)

# The alert incidents a receiver acted on (see incidents.py), so that dedupe survives
# a restart. One row per (receiver, dry_run, fingerprint, starts_at).
alert_incidents = Table(
    "alert_incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("receiver_id", Integer, nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("fired_at", DateTime(timezone=True), nullable=False),
    Column("fired_execution_id", Integer, nullable=True),
    Column("batch", Integer, nullable=True),
    Column("owes", Boolean, nullable=False),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint(
        "receiver_id", "dry_run", "fingerprint", "starts_at", name="uq_alert_incidents_key"
    ),
    Index("ix_alert_incidents_batch", "batch"),
    sqlite_autoincrement=True,
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

rollouts = Table(
    "rollouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("execution_id", Integer, nullable=False, unique=True),
    Column("target", String(200), nullable=False),
    Column("image", String(512), nullable=False),
    Column("previous", String(512), nullable=True),
    Column("strategy", JSON, nullable=False),
    Column("phase", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("instance", String(200), nullable=True),  # who runs it; NULL: not picked up yet
    # asked by hand (rollout control): pause holds between batches, also after a restart;
    # command is a cancel or rollback not yet obeyed
    Column("paused", Boolean, nullable=False, default=False, server_default=false()),
    Column("command", String(20), nullable=True),
    Index("ix_rollouts_target", "target", "id"),
    Index("ix_rollouts_phase", "phase", "id"),
    sqlite_autoincrement=True,
)

# A service's numbered changes (domain/revisions.py): one row per revision, numbered
# per target from 1; written with the execution that makes it.
revisions = Table(
    "revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target", String(200), nullable=False),
    Column("number", Integer, nullable=False),
    Column("change", String(20), nullable=False),
    Column("image", String(512), nullable=True),
    Column("previous_image", String(512), nullable=True),
    Column("resources", JSON, nullable=True),
    Column("reason", Text, nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("execution_id", Integer, nullable=True),
    Column("driver", String(40), nullable=True),
    Column("receiver_id", Integer, nullable=True),
    Column("receiver_name", String(100), nullable=True),
    Column("caller", String(100), nullable=True),
    Column("rollback_of", Integer, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("target", "number", name="uq_revisions_target_number"),
    Index("ix_revisions_execution", "execution_id"),
    sqlite_autoincrement=True,
)

# Web UI sessions (domain/sessions.py): the cookie's id only as its SHA-256.
sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("admin", String(64), nullable=False),
    Index("ix_sessions_expires_at", "expires_at"),
)

# Named leases (the leader's): who holds one and until when, by the database's clock.
leases = Table(
    "leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
)

# Notifications (domain/notifications.py): a type, its fields (secrets as given: sending
# needs them; the API never shows them) and the filter of executions.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("type", String(20), nullable=False),
    Column("config", JSON, nullable=False),
    Column("filters", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    sqlite_autoincrement=True,
)

# The outbox: one row per (notification, execution) to send, written in the transaction
# that records the execution; claimed by a delivery loop for a lease, then delivered,
# retried later, or failed for good.
notification_deliveries = Table(
    "notification_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("notification_id", Integer, nullable=False),
    Column("notification_name", String(100), nullable=False),
    Column("execution_id", Integer, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("claimed_by", String(100), nullable=True),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
    Index("ix_notification_deliveries_notification", "notification_id", "status", "id"),
    sqlite_autoincrement=True,
)

# Autoscaling policies (domain/policy_records.py): the body as given, in JSON.
policies = Table(
    "policies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("service", String(200), nullable=False),
    Column("body", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_policies_service", "service"),
    sqlite_autoincrement=True,
)

# Health checks set through the API (domain/healthchecks.py), one per service ref
# (backend/name); checks declared in scalehook.yaml are not kept here.
healthchecks = Table(
    "healthchecks",
    metadata,
    Column("service", String(200), primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
