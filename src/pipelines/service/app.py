"""The service's FastAPI app: one route per endpoint, each answering from the newest snapshot.

Routes do no work of their own: they take the snapshot :class:`~pipelines.service.state.
ServiceState` holds (re-read in the background), call the matching pure function of
:mod:`pipelines.service.queries` and add ``as_of`` (when the snapshot was taken). Nothing here
writes to the store; the one request that may wait on it, ``/batches/{key}`` (the run's full
report), waits at most ``service.store_timeout_seconds``.

Errors are JSON ``{"error": {"status": code, "message": "..."}}``: 404 for an unknown batch,
feature or route, 422 for a bad query parameter (FastAPI's validation reworded into that
shape), 401 for a missing or wrong token (with ``WWW-Authenticate: Bearer``), 503 when the
store could not be read.

Access: with ``service.token`` set, every route needs ``Authorization: Bearer <token>`` except
``/health`` (for load balancers and probes) and the public metadata and page shells that hold
no data: ``/docs``, ``/redoc``, ``/openapi.json`` (what the API is, not what it knows), the
dashboard's ``/`` and ``/static/...`` (the page fetches the data from the API with the token).
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at runtime,
# and those naming objects local to create_app (the bearer scheme of the token check) must be
# objects, not strings.
import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines.config import Settings
from pipelines.errors import TrackingError, TrackingUnavailable
from pipelines.service import queries
from pipelines.service.snapshot import Snapshot
from pipelines.service.state import ServiceState, package_version
from pipelines.store.views import ReportNotFound

logger = logging.getLogger(__name__)

TITLE = "churnmon service"
DESCRIPTION = """\
Read-only REST API over the monitoring system's MLflow tracking store: the verdict of every
monitored batch, performance over batches, drift evidence per feature, the model's versions,
retraining and the registry's audit trail.

Every body comes from the newest read of the store, taken in the background every
`service.refresh_seconds`; its time is the body's `as_of` (ISO 8601, UTC). Errors are
`{"error": {"status": code, "message": "..."}}` (404 unknown batch, feature or route; 422 bad
query parameter; 401 missing or wrong token; 503 store unreachable).

With `service.token` set (`CHURNMON_SERVICE__TOKEN`), send `Authorization: Bearer <token>`
with every request but `/health` (this page and `/openapi.json` are public).
"""

#: Bounds of the ``limit`` parameters (the queries' own): lists, and per-batch series.
LIST_LIMIT = queries.MAX_LIST
SERIES_LIMIT = queries.MAX_HISTORY

Status = Literal["ok", "warning", "critical", "failed"]
Severity = Literal["info", "warning", "critical"]


class ErrorDetail(BaseModel):
    status: int
    message: str


class ErrorBody(BaseModel):
    """What every error answers."""

    error: ErrorDetail


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None
                   ) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status,
                        headers=dict(headers or {}))


class ApiError(Exception):
    """Answer ``status`` with ``message`` (raised by routes and the token check)."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None
                 ) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, dict(headers or {})


def _iso(epoch: float) -> str:
    """As the queries write times: ISO 8601, UTC, milliseconds."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def _validation_message(exc: RequestValidationError) -> str:
    """FastAPI's list of errors as one sentence: ``limit: Input should be greater than or
    equal to 1 (got '0')``."""
    parts = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body")]
        where = ".".join(loc) or "request"
        got = f" (got {err['input']!r})" if "input" in err and err["input"] is not None else ""
        parts.append(f"{where}: {err.get('msg', 'invalid')}{got}")
    return "; ".join(parts) or "invalid request"


#: The error statuses each route may answer, documented on the OpenAPI page.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or wrong bearer token"},
    422: {"model": ErrorBody, "description": "Bad query parameter"},
    503: {"model": ErrorBody, "description": "The tracking store could not be read"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    **ERRORS, 404: {"model": ErrorBody, "description": "No such batch or feature"}}


def create_app(settings: Settings, state: ServiceState | None = None) -> FastAPI:
    """The service's app over ``settings``' store. ``state`` None: a :class:`ServiceState`
    started when the app starts (its first read bounded by ``service.store_timeout_seconds``)
    and stopped when it stops; a given ``state`` is used as is (its owner starts and stops
    it)."""
    service = settings.service
    owned = state is None
    live: ServiceState = state if state is not None else ServiceState(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if owned:
            await run_in_threadpool(live.start)
        try:
            yield
        finally:
            if owned:
                await run_in_threadpool(live.stop)

    app = FastAPI(title=TITLE, description=DESCRIPTION, version=package_version(),
                  lifespan=lifespan)
    app.state.service = live
    _install_error_handlers(app)
    if service.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(service.cors_origins),
                           allow_methods=["GET"], allow_headers=["Authorization"])

    bearer = HTTPBearer(auto_error=False, description="`service.token` "
                        "(CHURNMON_SERVICE__TOKEN); required when set")
    expected = service.token.encode()

    def require_token(
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if not expected:
            return
        given = credentials.credentials.encode() if credentials is not None else b""
        if not secrets.compare_digest(given, expected):
            message = ("missing bearer token: send 'Authorization: Bearer <token>' "
                       "(service.token)" if credentials is None else "wrong bearer token")
            raise ApiError(401, message, {"WWW-Authenticate": "Bearer"})

    def current() -> Snapshot:
        try:
            return live.snapshot()
        except TrackingUnavailable as exc:
            raise ApiError(503, str(exc)) from exc

    def answer(query: Callable[[Snapshot], dict[str, Any]],
               snapshot: Snapshot | None = None) -> dict[str, Any]:
        """``query`` on ``snapshot`` (default: the newest), with its ``as_of``. The snapshot
        is taken here, not as a dependency: a bad parameter is a 422 whatever the store's
        state."""
        if snapshot is None:
            snapshot = current()
        try:
            result = query(snapshot)
        except queries.NotFound as exc:
            raise ApiError(404, str(exc)) from exc
        except queries.BadQuery as exc:
            raise ApiError(422, str(exc)) from exc
        return {**result, "as_of": result.get("as_of") or _iso(snapshot.taken_at)}

    @app.get("/health", tags=["service"], summary="Is the service up and the store readable",
             responses={503: {"description": "The newest read of the store failed"}})
    def health() -> JSONResponse:
        """No token needed. 200 with `status` "ok" while the newest read of the store
        succeeded; 503 with `status` "unavailable", `store` "unreachable" and a `message`
        otherwise."""
        found = queries.health(live.health())
        ok = found.get("status") == "ok"
        return JSONResponse(found, status_code=200 if ok else 503)

    api = APIRouter(dependencies=[Depends(require_token)], responses=ERRORS)

    @api.get("/alerts", tags=["verdicts"], summary="Newest alerts, newest first")
    def alerts(
            limit: Annotated[int, Query(ge=1, le=LIST_LIMIT)] = 50,
            min_severity: Annotated[Severity, Query(
                description="the least severe level listed")] = "warning",
    ) -> dict[str, Any]:
        return answer(lambda s: queries.alerts(s, limit=limit, min_severity=min_severity))

    @api.get("/metrics/baseline", tags=["performance"],
             summary="The serving champion's reference metrics")
    def metrics_baseline() -> dict[str, Any]:
        return answer(lambda s: queries.metrics_baseline(s))

    @api.get("/metrics/latest", tags=["performance"],
             summary="The newest finished batch's metrics", responses=NOT_FOUND)
    def metrics_latest() -> dict[str, Any]:
        return answer(lambda s: queries.metrics_latest(s))

    @api.get("/metrics/history", tags=["performance"],
             summary="One metric over batches, with retraining and champion-change markers")
    def metrics_history(
            metric: Annotated[str | None, Query(
                max_length=200, description="default: the model's primary metric")] = None,
            since: Annotated[str | None, Query(
                max_length=64, description="ISO 8601 date/time (monitoring time) or a batch "
                "sequence number")] = None,
            limit: Annotated[int, Query(ge=1, le=SERIES_LIMIT)] = 500,
    ) -> dict[str, Any]:
        return answer(lambda s: queries.metrics_history(s, metric=metric, since=since,
                                                       limit=limit))

    @api.get("/drift/data", tags=["drift"], summary="The newest batch's data drift",
             responses=NOT_FOUND)
    def drift_data() -> dict[str, Any]:
        return answer(lambda s: queries.drift_data(s))

    @api.get("/drift/concept", tags=["drift"], summary="The newest batch's concept drift",
             responses=NOT_FOUND)
    def drift_concept() -> dict[str, Any]:
        return answer(lambda s: queries.drift_concept(s))

    @api.get("/drift/matrix", tags=["drift"],
             summary="Feature x batch drift evidence (the dashboard's heat map)")
    def drift_matrix(
            limit: Annotated[int, Query(ge=1, le=LIST_LIMIT, description="newest batches")] = 50,
    ) -> dict[str, Any]:
        return answer(lambda s: queries.drift_matrix(s, limit=limit))

    @api.get("/features/{name}/drift", tags=["drift"],
             summary="One feature's drift test per batch", responses=NOT_FOUND)
    def feature_drift(
            name: Annotated[str, Path(max_length=200)],
            limit: Annotated[int, Query(ge=1, le=SERIES_LIMIT)] = 500,
    ) -> dict[str, Any]:
        return answer(lambda s: queries.feature_drift(s, name, limit=limit))

    @api.get("/retraining/status", tags=["model"],
             summary="Last retraining, cooldown and recent retrainings")
    def retraining_status() -> dict[str, Any]:
        return answer(lambda s: queries.retraining_status(s, now=time.time()))

    @api.get("/models", tags=["model"],
             summary="Serving version, fallback, waiting challenger, last retraining")
    def models() -> dict[str, Any]:
        return answer(lambda s: queries.models(s))

    @api.get("/batches", tags=["batches"], summary="Monitored batches, newest first (paged)")
    def batches(
            since: Annotated[str | None, Query(
                max_length=64, description="ISO 8601 date/time (monitoring time) or a batch "
                "sequence number: batches from then on")] = None,
            status: Annotated[Status | None, Query(description="only batches with this "
                                                   "verdict")] = None,
            limit: Annotated[int, Query(ge=1, le=LIST_LIMIT)] = 50,
            offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        return answer(lambda s: queries.batches(s, since=since, status=status, limit=limit,
                                               offset=offset))

    @api.get("/batches/{key}", tags=["batches"],
             summary="One batch: its summary and full monitoring report", responses=NOT_FOUND)
    async def batch(
            key: Annotated[str, Path(max_length=64, description="the batch's sequence number "
                                     "or its run id")],
    ) -> dict[str, Any]:
        snapshot = current()
        summary = answer(lambda s: queries.batch(s, key), snapshot)
        labels_at = str(summary.get("labels_registered_at") or "")  # the verdict its tags show
        report = await _report(partial(live.report, labels_at=labels_at), str(summary["run_id"]),
                               timeout=service.store_timeout_seconds)
        return answer(lambda s: queries.batch(s, key, report), snapshot)

    @api.get("/quality/history", tags=["verdicts"], summary="Data quality over batches")
    def quality_history(
            limit: Annotated[int, Query(ge=1, le=SERIES_LIMIT)] = 500,
    ) -> dict[str, Any]:
        return answer(lambda s: queries.quality_history(s, limit=limit))

    @api.get("/audit", tags=["model"], summary="The registry's alias moves, newest first")
    def audit(limit: Annotated[int, Query(ge=1, le=LIST_LIMIT)] = 50) -> dict[str, Any]:
        return answer(lambda s: queries.audit(s, limit=limit))

    prom = _optional("pipelines.service.prom")
    if prom is not None:
        exposition = prom.exposition

        @api.get("/metrics", tags=["service"], response_class=Response,
                 summary="Prometheus text exposition")
        def metrics() -> Response:
            try:
                current: Snapshot | None = live.snapshot()
            except TrackingUnavailable:
                current = None
            content, media_type = exposition(current, live.health())
            return Response(content, media_type=media_type)

    app.include_router(api)
    dashboard = _optional("pipelines.service.dashboard")
    if dashboard is not None:
        dashboard.mount_dashboard(app, settings)
    return app


async def _report(read: Callable[[str], dict[str, Any]], run_id: str, *, timeout: float
                  ) -> dict[str, Any] | None:
    """The run's report, read in a worker thread and given up (503) after ``timeout`` seconds
    (the state bounds it too; the thread ends on its own: an executor future, unlike anyio's
    worker threads, lets the request go at once). None when the run has no report (a failed
    run)."""
    loop = asyncio.get_running_loop()
    try:
        return await asyncio.wait_for(loop.run_in_executor(None, read, run_id), timeout + 0.5)
    except TimeoutError as exc:
        raise ApiError(503, f"The MLflow store did not send the report of run {run_id} within "
                       f"{timeout:g} s (service.store_timeout_seconds)") from exc
    except ReportNotFound:
        return None
    except TrackingError as exc:
        raise ApiError(503, str(exc)) from exc


def _optional(module: str) -> Any:
    """``module`` if it exists (the dashboard and ``/metrics`` come from their own modules),
    else None; an import error inside it is raised."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        logger.debug("%s not installed: its routes are left out", module)
        return None


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, _validation_message(exc))

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        logger.error("%s %s failed: %s: %s", request.method, request.url.path,
                     type(exc).__name__, exc, exc_info=exc)
        return error_response(500, f"internal error ({type(exc).__name__}); see the service's "
                              "log")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.url.path} (see /docs)"
        return error_response(exc.status_code, message, getattr(exc, "headers", None))
