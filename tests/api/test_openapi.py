"""The OpenAPI document: operation ids a client generator can use, every error with the
body actually sent, typed driver configs; and a client generated from the live server's
document (openapi-python-client) that creates a receiver and triggers it."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute

from scalehook.app import build_app
from scalehook.config import Settings
from scalehook.drivers import DRIVERS
from scalehook.runtime import Runtime
from scalehook.testing import ServerProcess

CAMEL_CASE = re.compile(r"[a-z]+(?:[A-Z][a-z0-9]*)*")
ERROR_REF = "#/components/schemas/ErrorOut"
BODY_STATUSES = {"400", "408", "413", "422"}


def app_and_document() -> tuple[Any, dict[str, Any]]:
    app = build_app(Runtime(Settings(data_dir=Path("/nonexistent"))))
    return app, app.openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def api_routes(routes: Sequence[Any]) -> list[APIRoute]:
    """Every FastAPI route, in included routers too (FastAPI nests them)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found += api_routes(inner.routes)
    return found


def test_every_route_has_a_camel_case_operation_id() -> None:
    app, document = app_and_document()
    routes = [r for r in api_routes(app.routes) if r.include_in_schema]
    assert routes
    for route in routes:
        assert route.operation_id, f"{route.methods} {route.path} has no operation_id"
        assert CAMEL_CASE.fullmatch(route.operation_id), route.operation_id
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids)) == len(routes)
    assert {"triggerHook", "createReceiver", "listReceivers", "getService", "scaleService"} <= set(
        ids
    )


def test_every_error_is_documented_with_the_body_sent() -> None:
    _, document = app_and_document()
    assert "HTTPValidationError" not in json.dumps(document)
    assert "ValidationError" not in document["components"]["schemas"]
    for method, path, operation in operations(document):
        answers = operation["responses"]
        for status, answer in answers.items():
            if int(status) >= 400:
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_REF}, f"{method} {path} {status}"
                assert answer["description"], f"{method} {path} {status}"
        if "requestBody" in operation:
            assert set(answers) >= BODY_STATUSES, f"{method} {path}"
        # signing out needs no token: it ends whatever session the cookie names, or none
        if operation["operationId"] not in (
            "triggerHook",
            "getHealth",
            "getMetrics",
            "deleteSession",
        ):
            assert "401" in answers, f"{method} {path} needs the admin token"
    hook = document["paths"]["/v1/hooks/{key}"]["post"]["responses"]
    assert hook["429"]["headers"]["Retry-After"]["required"] is True
    listing = document["paths"]["/v1/services"]["get"]["responses"]["200"]
    assert "X-Unavailable-Backends" in listing["headers"]


def test_a_receivers_config_is_typed_by_its_driver() -> None:
    _, document = app_and_document()
    body = document["paths"]["/v1/receivers"]["post"]["requestBody"]["content"]
    schema = body["application/json"]["schema"]
    mapping = schema["discriminator"]["mapping"]
    assert schema["discriminator"]["propertyName"] == "driver"
    assert set(mapping) == set(DRIVERS)
    schemas = document["components"]["schemas"]
    configs = {"scaleService": "ScaleServiceConfig", "serviceUpgrade": "ServiceUpgradeConfig",
               "scaleHost": "ScaleHostConfig"}  # fmt: skip
    for driver, ref in mapping.items():
        member = schemas[ref.rsplit("/", 1)[1]]
        assert member["properties"]["driver"]["const"] == driver
        assert member["properties"]["config"]["$ref"].endswith(f"/{configs[driver]}")
        assert member["additionalProperties"] is False
    assert {"service", "action"} <= set(schemas["ScaleServiceConfig"]["required"])
    interval = schemas["ServiceUpgradeConfig"]["properties"]["batch_interval"]
    assert {"type": "string"} in interval["anyOf"]  # "2s" as well as 2


def test_a_generated_client_creates_a_receiver_and_triggers_it(
    web_server: ServerProcess, tmp_path: Path
) -> None:
    spec = tmp_path / "openapi.json"
    spec.write_text(web_server.client.get("/openapi.json").text)
    config = tmp_path / "generator.yaml"
    config.write_text("post_hooks: []\n")
    package = tmp_path / "scalehook_api"
    generated = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(spec),
         "--output-path", str(package), "--meta", "none", "--config", str(config)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout, generated.stdout
    sys.path.insert(0, str(tmp_path))
    try:
        api = importlib.import_module("scalehook_api")
        models = importlib.import_module("scalehook_api.models")
        create = importlib.import_module("scalehook_api.api.receivers.create_receiver")
        trigger = importlib.import_module("scalehook_api.api.trigger.trigger_hook")
        get_service = importlib.import_module("scalehook_api.api.services.get_service")
        with (
            api.AuthenticatedClient(base_url=web_server.url, token=web_server.token) as client,
            api.Client(base_url=web_server.url) as anonymous,
        ):
            before = get_service.sync(ref="web", client=client).desired
            body = models.ScaleServiceReceiverCreate(
                name="generated",
                driver="scaleService",
                config=models.ScaleServiceConfig(
                    service="web",
                    action=models.ScaleServiceConfigAction.UP,
                    max_=before + 1,
                ),
            )
            created = create.sync_detailed(client=client, body=body)
            assert created.status_code == 201, created.content
            assert isinstance(created.parsed, models.ReceiverWithUrl)
            key = created.parsed.url.rsplit("/", 1)[1]
            fired = trigger.sync_detailed(key=key, client=anonymous)
            assert fired.status_code == 200, fired.content
            assert isinstance(fired.parsed, models.ExecutionOut)
            assert (fired.parsed.result, fired.parsed.after) == ("scaled", before + 1)
            again = create.sync_detailed(client=client, body=body)  # the name is taken
            assert again.status_code == 409
            assert isinstance(again.parsed, models.ErrorOut)
            assert again.parsed.error == "conflict"
            wrong = models.ScaleServiceReceiverCreate(
                name="wrong",
                driver="scaleService",
                config=models.ScaleServiceConfig(
                    service="web", action=models.ScaleServiceConfigAction.UP, amount=0
                ),
            )
            refused = create.sync_detailed(client=client, body=wrong)
            assert refused.status_code == 422
            assert isinstance(refused.parsed, models.ErrorOut)
            assert refused.parsed.field == "config.amount"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.split(".")[0] == "scalehook_api"]:
            del sys.modules[name]
