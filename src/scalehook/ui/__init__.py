"""The web UI: static pages of our own (``static/``: HTML, CSS and ES modules, no build
step) over the same JSON API as the CLI, and the sign-in that gives a browser a session
cookie instead of the admin token. ``install`` adds its routes to the app."""

from __future__ import annotations

from fastapi import FastAPI

from scalehook.ui import assets, session


def install(app: FastAPI) -> None:
    session.install(app)
    app.include_router(session.router)
    app.include_router(assets.router)
