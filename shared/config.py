"""Configuration of a Hearth process, read once from the environment by the composition root."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

SERVICES = ("events", "rsvps", "notifications")
MEMORY_BUS = "memory://"


NO_BROKER = (
    "AMQP_URL is not set: give the RabbitMQ URL, for example amqp://guest:guest@127.0.0.1:5672//"
)


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message says which and how to fix it."""


@dataclass(frozen=True)
class Config:
    port: int = 8000
    data_dir: Path = Path("var")
    base_url: str = "http://127.0.0.1:8000"
    secret_key: str = ""
    amqp_url: str = MEMORY_BUS
    database_urls: Mapping[str, str] = field(default_factory=dict)
    smtp_url: str | None = None
    mail_from: str = "Hearth <no-reply@localhost>"
    sms_api_url: str | None = None
    sms_account_sid: str | None = None
    sms_auth_token: str | None = None
    sms_from: str | None = None
    dev_token: str | None = None
    demo: bool = False
    # Where rate limits count (shared.ratelimit): Redis shared by every process of a deployment;
    # in memory, each process counts alone.
    rate_limit_storage_url: str = "memory://"
    # Off only where one machine stands in for a crowd: load benchmarks and tests.
    rate_limits: bool = True
    # How many proxies in front of the web processes set X-Forwarded-For (the gateway: 1), so
    # that a client's own address is known; 0 trusts no such header.
    trusted_proxies: int = 0
    # Set by `hearth dev` only: developer conveniences such as the dev mailbox, never in production.
    dev: bool = False
    # Names of the exchange and queues; only tests change them, to keep runs apart.
    exchange: str = "hearth"
    queue_prefix: str = ""
    # How long a failed message waits before each retry; None: the bus's own (shared.bus
    # RETRY_DELAYS). Only tests change them, so as not to wait minutes.
    retry_delays: tuple[float, ...] | None = None

    @property
    def uses_broker(self) -> bool:
        return self.amqp_url != MEMORY_BUS

    def database_url(self, service: str) -> str:
        return self.database_urls[service]

    def with_changes(self, **changes: object) -> Config:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, dev: bool = False, strict: bool = True
    ) -> Config:
        """Read the contract's environment variables.

        In development (`hearth dev`) every setting has an embedded default; elsewhere the secret
        key and the broker must be given, because guessing them would make a deployment insecure or
        silently split into processes that cannot hear each other. Commands that use neither (such
        as `hearth migrate`) pass `strict=False`.
        """
        env = os.environ if env is None else env
        port = _int(env, "HEARTH_PORT", 8000)
        data_dir = Path(env.get("HEARTH_DATA", "./var"))
        databases = {
            name: env.get(f"{name.upper()}_DATABASE_URL") or _sqlite_url(data_dir, name)
            for name in SERVICES
        }
        secret_key = env.get("HEARTH_SECRET_KEY", "")
        amqp_url = env.get("AMQP_URL", "")
        if dev:
            secret_key = secret_key or _dev_secret(data_dir)
            amqp_url = amqp_url or MEMORY_BUS
        elif strict:
            if not secret_key:
                raise ConfigError(
                    "HEARTH_SECRET_KEY is not set: give it a long random value "
                    '(for example: python -c "import secrets; print(secrets.token_urlsafe(48))"), '
                    "the same for every process of one deployment."
                )
            if not amqp_url:
                raise ConfigError(NO_BROKER)
        return cls(
            port=port,
            data_dir=data_dir,
            base_url=(env.get("HEARTH_BASE_URL") or f"http://127.0.0.1:{port}").rstrip("/"),
            secret_key=secret_key,
            amqp_url=amqp_url or MEMORY_BUS,
            database_urls=databases,
            smtp_url=env.get("SMTP_URL") or None,
            mail_from=env.get("MAIL_FROM") or cls.mail_from,
            sms_api_url=env.get("SMS_API_URL") or None,
            sms_account_sid=env.get("SMS_ACCOUNT_SID") or None,
            sms_auth_token=env.get("SMS_AUTH_TOKEN") or None,
            sms_from=env.get("SMS_FROM") or None,
            dev_token=env.get("HEARTH_DEV_TOKEN") or None,
            rate_limit_storage_url=env.get("RATE_LIMIT_STORAGE_URL") or cls.rate_limit_storage_url,
            trusted_proxies=_int(env, "HEARTH_TRUSTED_PROXIES", 0),
            rate_limits=env.get("HEARTH_RATE_LIMITS", "on") not in ("0", "off", "false", "no"),
            demo=env.get("HEARTH_DEMO", "1" if dev else "0") not in ("0", "", "false", "no"),
            dev=dev,
        )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None


def _sqlite_url(data_dir: Path, service: str) -> str:
    return f"sqlite:///{(data_dir / f'{service}.sqlite3').resolve()}"


def _dev_secret(data_dir: Path) -> str:
    # One random key per data folder, so sessions survive restarts of `hearth dev`.
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key
