"""The baseline server: a bare ASGI app on the same uvicorn stack scalehook serves with.

``python -m bench.bare_app PORT`` answers every request with a small JSON body; it
uses the same HTTP protocol class (with the header deadline), loop and settings as
``scalehook.server``, so the difference to scalehook is scalehook's own work.
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.types import Receive, Scope, Send

from scalehook.protocol import with_header_timeout

BODY = b'{"status":"ok"}'


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    uvicorn.run(
        app,
        http=with_header_timeout(10.0),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_keep_alive=5,
    )


if __name__ == "__main__":
    main()
