"""The dashboard page (``GET /``): one HTML page whose script reads the service's own JSON API
and draws it with plotly.js, served from the installed ``plotly`` package (no CDN, no font
from elsewhere: the page works on a machine without internet).

The page itself holds no data, so ``/`` and ``/static/...`` need no token; the script sends
the token (``?token=`` in the page's address, or typed into its prompt after a 401; kept in the
tab's ``sessionStorage``) with every API call.
"""

from __future__ import annotations

import html
import importlib.resources
import json
import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response

from pipelines.config import Settings
from pipelines.errors import DataError

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
#: The files the page loads from ``/static/``, besides plotly's.
OWN_FILES = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
#: Browsers revalidate (ETag) rather than re-download: the files change only with the package.
CACHE = {"Cache-Control": "no-cache"}


def plotly_js() -> Path:
    """The installed plotly package's ``plotly.min.js`` (the dashboard's charting library)."""
    resource = importlib.resources.files("plotly") / "package_data" / "plotly.min.js"
    path = Path(str(resource))
    if not path.is_file():
        raise DataError(f"plotly.min.js not found at {path}: reinstall the project "
                        "(`pip install -e .`), which installs plotly")
    return path


def page_html(settings: Settings) -> str:
    """The page: its layout, the defaults the script starts from (poll interval, model name)
    as data attributes; everything else is fetched."""
    config = {"refresh": settings.service.refresh_seconds,
              "model": settings.tracking.registered_model_name}
    template = (STATIC / "dashboard.html").read_text(encoding="utf-8")
    return (template
            .replace("{{config}}", html.escape(json.dumps(config), quote=True))
            .replace("{{model}}", html.escape(config["model"])))


def mount_dashboard(app: FastAPI, settings: Settings) -> None:
    """Add ``GET /`` (the page), ``/static/plotly.min.js``, ``/static/dashboard.js`` and
    ``/static/dashboard.css`` to ``app`` (none in the OpenAPI schema)."""
    plotly_path = plotly_js()
    body = page_html(settings)

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def dashboard() -> HTMLResponse:
        return HTMLResponse(body, headers=CACHE)

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly() -> FileResponse:
        return FileResponse(plotly_path, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Any:
        if name not in OWN_FILES:
            return Response(status_code=404, media_type="application/json",
                            content=json.dumps({"error": {"status": 404,
                                                          "message": f"no static file {name}"}}))
        return FileResponse(STATIC / name, media_type=OWN_FILES[name], headers=CACHE)

    logger.debug("dashboard mounted (plotly.js from %s)", plotly_path)
