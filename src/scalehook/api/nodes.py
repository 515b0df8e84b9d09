"""/v1/nodes: every machine that runs replicas, with what it holds against its most.

The local machine, each Docker engine, every Swarm node: CPUs, memory, the replicas or
tasks it runs now and the most it may hold (what a scale-up is clamped to). A backend
that cannot be read is listed with its ``error``, not left out and not shown empty.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends

from scalehook.answers import AUTH, errors
from scalehook.api.deps import RuntimeDep, require_admin
from scalehook.api.schemas import NodeOut
from scalehook.errors import ScalehookError

router = APIRouter(
    prefix="/v1/nodes",
    tags=["nodes"],
    dependencies=[Depends(require_admin)],
    responses=errors(*AUTH),
)


@router.get("", response_model=list[NodeOut], operation_id="listNodes")
async def list_nodes(runtime: RuntimeDep) -> list[NodeOut]:
    """Each machine of each backend, by backend then name; a backend that cannot be
    read is one row with its ``error`` (and nothing it could not read: no zeros)."""
    backends = list(runtime.backends)
    found = await asyncio.gather(*(b.nodes() for b in backends), return_exceptions=True)
    out: list[NodeOut] = []
    for backend, nodes in zip(backends, found, strict=True):
        if isinstance(nodes, ScalehookError):
            out.append(
                NodeOut(
                    backend=backend.name,
                    kind=backend.kind,
                    id="",
                    name=backend.name,
                    state="unknown",
                    role=None,
                    availability=None,
                    cpus=None,
                    memory=None,
                    replicas=None,
                    max_replicas=None,
                    free=None,
                    bound="none",
                    reserved_cpus=None,
                    reserved_memory=None,
                    full=False,
                    labels={},
                    services={},
                    error=nodes.message,
                )
            )
            continue
        if isinstance(nodes, BaseException):
            raise nodes
        out.extend(
            NodeOut.of(n) for n in sorted(nodes, key=lambda n: (n.role != "manager", n.name))
        )
    return out
