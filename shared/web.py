"""Web plumbing every service shares: problem+json errors, JSON bodies, sessions, CSRF, health,
readiness and Prometheus metrics."""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    session,
)
from flask_wtf.csrf import CSRFError, CSRFProtect
from jinja2 import ChoiceLoader, PackageLoader
from limits import RateLimitItem
from markupsafe import Markup, escape
from marshmallow import Schema, ValidationError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy.engine import Engine
from werkzeug.exceptions import HTTPException, TooManyRequests
from werkzeug.middleware.proxy_fix import ProxyFix

from shared import logs
from shared.bus import Bus
from shared.config import Config
from shared.inputs import messages_by_field
from shared.openapi import blueprint as openapi_blueprint
from shared.ratelimit import RateLimits
from shared.runtime import Service

log = logging.getLogger(__name__)

# Only our own files: no inline script or style (so injected markup cannot run or restyle), no
# plugins, forms that post only to us, and no framing by other sites (a page of one button, such
# as "cancel my RSVP", must not be clickable through someone else's page).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# One line per request answered, with its ids, method, path, status and time taken.
access_log = logging.getLogger("hearth.access")

SESSION_COOKIE = "hearth_session"
PROBLEM_JSON = "application/problem+json"


class ApiError(Exception):
    """An error answered as RFC 9457 problem+json, with `errors` naming each bad field."""

    def __init__(
        self,
        status: int,
        title: str,
        errors: Mapping[str, Any] | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.errors = dict(errors or {})
        self.detail = detail


def problem(
    status: int, title: str, errors: Mapping[str, Any] | None = None, detail: str | None = None
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = dict(errors)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    return response


def json_body(*, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object, or a 400 that says how to send one.

    Requiring the JSON media type also keeps cross-site HTML forms, which cannot send it, away from
    the cookie-authenticated API. So an `optional` body may be left out only by callers with a
    Bearer token, which a browser never attaches by itself.
    """
    if optional and request.authorization and not request.get_data(cache=True):
        return {}
    if not request.is_json:
        raise ApiError(400, "Send the body as JSON with Content-Type: application/json.")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "The body is not valid JSON.")
    if not isinstance(data, dict):
        raise ApiError(400, "The body must be a JSON object.")
    return data


def load(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    """The body checked by `schema`, or a 422 naming each field to fix."""
    try:
        return schema.load(data)  # type: ignore[no-any-return]
    except ValidationError as error:
        raise ApiError(422, "Some fields need fixing.", messages_by_field(error)) from None


def rate_limit(limits: list[RateLimitItem], action: str) -> None:
    """Count this request against the client's `limits` for `action` (shared.ratelimit); a 429
    that says when to try again, as a page or as problem+json, once it goes over."""
    rate_limits = current_app.extensions["hearth.rate_limits"]
    client = request.remote_addr or ""
    wait = rate_limits.hit(limits, action, client) if rate_limits is not None else None
    if wait is not None:
        minutes = math.ceil(wait / 60)
        raise TooManyRequests(
            "That was a lot of requests in a short time. Try again in "
            + (f"{minutes} minutes." if minutes > 1 else "a minute."),
            retry_after=math.ceil(wait),
        )


def is_api_request() -> bool:
    return "/api/" in request.path or request.accept_mimetypes.best == "application/json"


def correlation_id() -> str:
    """The id that ties one request to every message it causes (taken from the caller if given)."""
    return g.get("correlation_id") or str(uuid.uuid4())


def configure_sessions(app: Flask, secret_key: str, base_url: str) -> CSRFProtect:
    """One signed session cookie, valid for all three services on the shared origin."""
    app.config.update(
        SECRET_KEY=secret_key,
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=base_url.startswith("https://"),
        SESSION_COOKIE_PATH="/",
        PERMANENT_SESSION_LIFETIME=60 * 60 * 24 * 30,
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=False,
    )
    app.context_processor(lambda: {"signed_in": "member_id" in session})
    return CSRFProtect(app)


def service_app(
    import_name: str,
    *,
    parts: Service,
    prefix: str,
    config: Config,
    bus: Bus,
    store: Any,
    openapi: Callable[[], dict[str, Any]],
    static_folder: str | None = None,
) -> tuple[Flask, CSRFProtect]:
    """A service's Flask app with what every service has: the shared session and CSRF, the
    shared templates, its store, its OpenAPI document and the operations endpoints."""
    app = Flask(import_name, static_folder=static_folder)
    if config.trusted_proxies:
        # The client's address, which rate limits count by, from the proxies' X-Forwarded-For.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies)  # type: ignore[method-assign]
    app.config["HEARTH_BASE_URL"] = config.base_url
    app.extensions["hearth.rate_limits"] = (
        RateLimits(config.rate_limit_storage_url) if config.rate_limits else None
    )
    csrf = configure_sessions(app, config.secret_key, config.base_url)
    use_shared_templates(app)
    app.extensions["hearth.store"] = store
    app.extensions["hearth.service"] = parts
    app.register_blueprint(openapi_blueprint(parts.name, prefix, openapi))
    install(
        app,
        service=parts.name,
        prefix=prefix,
        engine=parts.engine,
        ping_broker=bus.ping,
        outbox_backlog=parts.outbox.backlog,
    )
    return app, csrf


def use_shared_templates(app: Flask) -> None:
    """The service's own templates first, then the shared layout and error pages."""
    app.jinja_loader = ChoiceLoader([app.jinja_loader, PackageLoader("shared", "templates")])  # type: ignore[list-item]
    app.add_template_filter(linkify)


# A web address in text people typed: up to the first space or character that cannot end one.
WEB_ADDRESS = re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)
TRAILING = ".,;:!?'\")]"


def linkify(text: str | None) -> Markup:
    """Plain text as HTML with its web addresses as links, everything else escaped. An address
    keeps a closing bracket only when it opened one itself, as in Wikipedia's addresses, so a
    sentence's "(see https://example.org)" links without the bracket."""
    if not text:
        return Markup("")
    parts, done = [], 0
    for found in WEB_ADDRESS.finditer(text):
        address = found.group(0)
        while address and address[-1] in TRAILING:
            if address[-1] == ")" and address.count("(") >= address.count(")"):
                break
            address = address[:-1]
        start = found.start()
        parts.append(escape(text[done:start]))
        parts.append(
            Markup('<a href="{0}" rel="nofollow noopener noreferrer">{0}</a>').format(address)
        )
        done = start + len(address)
    parts.append(escape(text[done:]))
    return Markup("").join(parts)


class Metrics:
    """Prometheus metrics of one service, in a registry of its own (several apps share a process
    in `hearth dev`)."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "hearth_http_requests",
            "HTTP requests answered",
            ["service", "method", "endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hearth_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["service", "endpoint"],
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "hearth_outbox_backlog",
            "Messages written but not yet published",
            ["service"],
            registry=self.registry,
        )
        self.outbox_age = Gauge(
            "hearth_outbox_oldest_age_seconds",
            "Age of the oldest unpublished message",
            ["service"],
            registry=self.registry,
        )
        self.service = service


def install(
    app: Flask,
    *,
    service: str,
    prefix: str,
    engine: Engine,
    ping_broker: Callable[[], None],
    outbox_backlog: Callable[[sa.engine.Connection], tuple[int, datetime | None]],
) -> None:
    """Error handlers, request metrics and the `healthz`, `readyz` and `metrics` endpoints."""
    metrics = Metrics(service)
    # A service adds its own collectors to `app.extensions["hearth.metrics"].registry`.
    app.extensions["hearth.metrics"] = metrics
    ops = Blueprint(f"{service}_ops", __name__)

    @ops.get(f"{prefix}healthz")
    def healthz() -> Any:
        return {"status": "ok", "service": service}

    @ops.get(f"{prefix}readyz")
    def readyz() -> Any:
        checks: dict[str, str] = {}
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as error:  # readiness reports every failure rather than raising
            checks["database"] = f"unreachable: {type(error).__name__}"
        try:
            ping_broker()
            checks["broker"] = "ok"
        except Exception as error:
            checks["broker"] = f"unreachable: {type(error).__name__}"
        ready = all(value == "ok" for value in checks.values())
        body = {"status": "ready" if ready else "unavailable", "service": service, **checks}
        return body, 200 if ready else 503

    @ops.get(f"{prefix}metrics")
    def metrics_endpoint() -> Response:
        try:
            with engine.connect() as conn:
                backlog, oldest = outbox_backlog(conn)
            metrics.outbox_backlog.labels(service).set(backlog)
            age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0
            metrics.outbox_age.labels(service).set(age)
        except Exception:
            log.exception("could not read the outbox backlog")
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    app.register_blueprint(ops)

    # Probes come every few seconds from the orchestrator: their access lines are DEBUG.
    probes = {f"{prefix}healthz", f"{prefix}readyz", f"{prefix}metrics"}

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        incoming = request.headers.get("X-Correlation-ID", "")
        g.correlation_id = incoming if _is_uuid(incoming) else str(uuid.uuid4())
        # The gateway's id of this request if it sent one (nginx's $request_id is 32 hex
        # digits), so its lines and ours can be matched.
        request_id = request.headers.get("X-Request-ID", "")
        g.request_id = request_id if _is_uuid(request_id) else uuid.uuid4().hex
        # Every line logged while answering carries the ids; reset when the request ends.
        g.log_context = logs.bind(
            service=service, correlation_id=g.correlation_id, request_id=g.request_id
        )

    @app.after_request
    def _finish(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        metrics.requests.labels(service, request.method, endpoint, response.status_code).inc()
        metrics.latency.labels(service, endpoint).observe(elapsed)
        path = _loggable_path()
        access_log.log(
            logging.DEBUG if request.path in probes else logging.INFO,
            "%s %s %d",
            request.method,
            path,
            response.status_code,
            extra={
                "method": request.method,
                "path": path,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 1),
            },
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # A view that needs more (the dev mailbox's preview of a mail) sets its own first.
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")  # for browsers before CSP 2
        if "correlation_id" in g:
            response.headers.setdefault("X-Correlation-ID", g.correlation_id)
        return response

    @app.teardown_request
    def _forget(error: BaseException | None) -> None:
        if "log_context" in g:
            logs.unbind(g.pop("log_context"))

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return problem(error.status, error.title, error.errors, error.detail)

    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError) -> Any:
        message = (
            "This form has expired or was sent from another site. Reload the page and try again."
        )
        return render_template("error.html", status=400, message=message), 400

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Any:
        # What the error adds for the client, such as a 429's Retry-After.
        headers = [(name, value) for name, value in error.get_headers() if name != "Content-Type"]
        if is_api_request():
            response = problem(error.code or 500, error.name, detail=error.description)
            response.headers.extend(headers)
            return response
        return (
            render_template("error.html", status=error.code, message=error.description),
            error.code or 500,
            headers,
        )


def _loggable_path() -> str:
    """The request's path without the secret of a signed link or a private feed (a route's
    `<token>`), which anyone who reads the logs could otherwise use."""
    token = (request.view_args or {}).get("token")
    return request.path.replace(token, "<token>") if token else request.path


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
