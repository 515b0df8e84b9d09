"""What a notification says: one execution as a webhook body, a Slack message and a mail.

People read Slack and mail, so those say who did what and why in one line ("web scaled
1 → 3 by receiver web-up (scaled from 1 to 3)"), mark a failure as one, and link to
the execution when ``server.public_url`` is known. A webhook gets the execution as
``GET /v1/executions/{id}`` shows it, signed like GitHub's webhooks when a secret is
set. Pure: the senders do the I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from scalehook.domain.notifications import FAILURES

SIGNATURE_HEADER = "X-Scalehook-Signature-256"
TIMESTAMP_HEADER = "X-Scalehook-Timestamp"
DELIVERY_HEADER = "X-Scalehook-Delivery"
EVENT_HEADER = "X-Scalehook-Event"

_WHO = {
    "api": "by hand",
    "scaleService": "by receiver",
    "serviceUpgrade": "by upgrade receiver",
    "scaleHost": "by host receiver",
    "policy": "by policy",
    "health": "by health check",
}
_VERBS = {
    "scaled": "scaled",
    "clamped": "scaled (clamped)",
    "dry_run": "would be scaled (dry run)",
    "upgraded": "upgraded",
    "rolled_back": "rolled back",
    "paused": "rollout paused",
    "superseded": "rollout superseded",
    "failed": "failed",
    "rejected": "trigger rejected",
}


@dataclass(frozen=True, slots=True)
class Summary:
    """One execution for people: ``title`` (a mail's subject), ``line`` (who, what,
    why), whether it failed, and a link to it (or None)."""

    title: str
    line: str
    failed: bool
    link: str | None


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def target_name(target: str | None) -> str:
    """``local/web`` → ``web``; a host group keeps its form (``hosts/group=batch``)."""
    if not target:
        return "(no target)"
    backend, _, name = target.partition("/")
    return target if backend == "hosts" or not name else name


def who(execution: Mapping[str, Any]) -> str:
    """Who acted, in words: "by receiver web-up", "by hand (10.0.0.7)", "by policy cpu"."""
    driver = str(execution.get("driver") or "")
    words = _WHO.get(driver, f"by {driver}")
    name = execution.get("receiver_name")
    if name:
        return f"{words} {name}"
    caller = execution.get("caller")
    if driver == "api" and caller:
        return f"{words} ({caller})"
    return words


def execution_link(public_url: str | None, execution: Mapping[str, Any]) -> str | None:
    """The web UI's page of the execution, when scalehook knows its public URL."""
    if not public_url:
        return None
    ident = quote(str(execution.get("id")), safe="")
    return f"{public_url.rstrip('/')}/ui/#/activity?execution={ident}"


def summarize(execution: Mapping[str, Any], *, public_url: str | None = None) -> Summary:
    """The execution (its JSON form, as a webhook gets it) for people."""
    result = str(execution.get("result") or "")
    name = target_name(execution.get("target"))
    before, after = execution.get("before"), execution.get("after")
    verb = _VERBS.get(result, result.replace("_", " "))
    what = f"{name} {verb}"
    if before is not None and after is not None and before != after:
        what += f" {before} → {after}"
    elif before is not None and result in ("noop", "deduped", "cooldown", "ignored", "paused"):
        what += f", stays at {before}"
    failed = result in FAILURES
    message = _one_line(str(execution.get("message") or ""))
    line = f"{what} {who(execution)}"
    if message:
        line += f" ({message})"
    if failed:
        line = f"FAILED: {line}"
    title = _one_line(f"[scalehook] {'FAILED: ' if failed else ''}{what}", 200)
    return Summary(
        title=title, line=line, failed=failed, link=execution_link(public_url, execution)
    )


# webhook ------------------------------------------------------------------------------


def webhook_body(notification: str, delivery: int, execution: Mapping[str, Any]) -> bytes:
    """The JSON a webhook receives: the notification's name, the delivery's id (the same
    on every retry: dedupe on it) and the execution."""
    body = {"notification": notification, "delivery": delivery, "execution": dict(execution)}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, body: bytes) -> str:
    """GitHub's form: ``sha256=`` and the hex HMAC-SHA256 of the body, keyed by the secret."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


# slack --------------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Slack's mrkdwn reads ``&``, ``<`` and ``>`` as markup: escape them."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(notification: str, summary: Summary) -> dict[str, Any]:
    """An incoming-webhook message: the line (a failure marked), and the link."""
    mark = ":x:" if summary.failed else ":white_check_mark:"
    text = f"{mark} {slack_escape(summary.line)}"
    if summary.link:
        text += f"\n<{summary.link}|Open the execution>"
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"scalehook notification {slack_escape(notification)}",
                    }
                ],
            },
        ],
    }


# email --------------------------------------------------------------------------------


def mail_text(notification: str, summary: Summary, execution: Mapping[str, Any]) -> str:
    """A mail's plain-text body: the line, the facts, the link, the execution as JSON."""
    facts = [
        ("Result", execution.get("result")),
        ("Target", execution.get("target")),
        ("Driver", execution.get("driver")),
        ("Receiver", execution.get("receiver_name")),
        ("Caller", execution.get("caller")),
        ("Replicas", _change(execution)),
        ("Started", execution.get("started_at")),
        ("Execution", execution.get("id")),
    ]
    lines = [summary.line, ""]
    lines += [f"{label + ':':<11} {value}" for label, value in facts if value not in (None, "")]
    if summary.link:
        lines += ["", f"Open it: {summary.link}"]
    lines += [
        "",
        "The execution, as GET /v1/executions/{id} shows it:",
        json.dumps(dict(execution), indent=2, ensure_ascii=False),
        "",
        f"-- scalehook, notification {notification}",
    ]
    return "\n".join(lines) + "\n"


def _change(execution: Mapping[str, Any]) -> str | None:
    before, after = execution.get("before"), execution.get("after")
    if before is None or after is None:
        return None
    return str(before) if before == after else f"{before} → {after}"
