"""Process-wide resources built at startup from the settings: secrets, pool, scorer, migrations.

Startup fails fast on what a restart cannot fix (invalid settings, model artifact, API
configuration, a broken migration) and tolerates what heals by itself: an unreachable database
only leaves ``/api/ready`` and the data endpoints at 503 while a background thread keeps trying
the migrations and the pool keeps reconnecting.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from opentelemetry.sdk.trace.export import SpanExporter

from fraud_api.app.core.config import SERVICE_DB_USER, Settings
from fraud_api.app.core.db import Database
from fraud_api.app.core.metrics import DecisionMetrics
from fraud_api.app.core.migrations import MigrationError, migrate
from fraud_api.app.core.overload import AdmissionGate
from fraud_api.app.core.secrets import (
    CredentialsSource,
    DbCredentialsProvider,
    IamTokenCredentials,
    RefreshingValue,
    SecretError,
    SecretReader,
    rds_token_signer,
    secrets_manager_reader,
)
from fraud_api.app.core.tracing import Tracing
from fraud_api.app.scoring import ScoringService
from fraud_common.api_config import ApiConfiguration, parse_api_configuration
from fraud_scoring import Scorer
from fraud_scoring.registry import (
    ModelWatcher,
    Pointer,
    S3Store,
    ShadowWatcher,
    SsmPointer,
    Store,
    local_registry,
    local_shadow_pointer,
)

logger = logging.getLogger(__name__)

MIGRATION_RETRY_MAX_S = 30.0


@dataclass
class Runtime:
    settings: Settings
    db: Database
    scorer: Callable[[], Scorer]
    """The model serving now: the shipped one, or the registry's promoted version (followed live)."""
    shadow_scorer: Callable[[], Scorer | None]
    """The registry's shadow version (followed live), scored beside each decision; None: no shadow."""
    api_config: RefreshingValue[ApiConfiguration]
    service: ScoringService
    schema_ready: threading.Event
    admission: AdmissionGate
    metrics: DecisionMetrics
    tracing: Tracing
    _stop: threading.Event
    _migrator: threading.Thread | None = None

    @classmethod
    def build(
        cls, settings: Settings, secret_reader: SecretReader | None = None, span_exporter: SpanExporter | None = None
    ) -> Runtime:
        reader = secret_reader
        if reader is None and (settings.DB_SECRET_ARN or settings.API_CONFIG_SECRET_ARN):
            reader = secrets_manager_reader(settings.AWS_REGION, settings.AWS_ENDPOINT_URL)
        master = None
        if settings.DB_SECRET_ARN:
            assert reader is not None
            master = DbCredentialsProvider(settings.DB_SECRET_ARN, reader, settings.DB_USER)
        # With IAM authentication the requests run as the least-privileged service user; only the
        # migrations, which own the schema, use the master secret.
        pool_credentials: CredentialsSource | None = master
        if settings.DB_IAM_AUTH:
            signer = rds_token_signer(settings.AWS_REGION, settings.AWS_ENDPOINT_URL)
            pool_credentials = IamTokenCredentials(
                settings.DB_HOST or "localhost", settings.DB_PORT, SERVICE_DB_USER, signer
            )
        api_config = _api_config_source(settings, reader)
        scorer, shadow_scorer = _scorer_sources(settings)
        db = Database(settings, pool_credentials, migration_credentials=master)
        schema_ready = threading.Event()
        metrics = DecisionMetrics()
        admission = AdmissionGate(
            settings.DB_POOL_MAX_SIZE,
            settings.DB_POOL_MAX_WAITING,
            settings.ADMISSION_QUEUE_TIMEOUT_MS / 1000.0,
            settings.ADMISSION_REFUSAL_DELAY_MS / 1000.0,
            metrics.record_refusal,
        )
        service = ScoringService(db, scorer, shadow_scorer, api_config.get, schema_ready, metrics)
        logger.info(
            "fraud-api configured",
            extra={"model_version": scorer().model_version, "environment": settings.ENVIRONMENT},
        )
        tracing = Tracing.build(settings, span_exporter)
        return cls(
            settings,
            db,
            scorer,
            shadow_scorer,
            api_config,
            service,
            schema_ready,
            admission,
            metrics,
            tracing,
            threading.Event(),
        )

    async def start(self) -> None:
        if not self.settings.DB_MIGRATE_ON_START:
            self.schema_ready.set()
        elif not await asyncio.to_thread(self._try_migrate):
            self._migrator = threading.Thread(target=self._migrate_until_done, name="fraud-api-migrator", daemon=True)
            self._migrator.start()
        await self.db.open(fill=self.schema_ready.is_set())
        await self.metrics.start()

    async def stop(self) -> None:
        self._stop.set()
        await self.metrics.stop()
        if self._migrator is not None:
            await asyncio.to_thread(self._migrator.join, 5.0)
        await self.db.close()
        await asyncio.to_thread(self.tracing.shutdown)

    def _try_migrate(self) -> bool:
        """True once the schema is current; False if the database is unreachable (retry later).

        Raises MigrationError / psycopg.Error for problems a retry will not fix.
        """
        try:
            with self.db.connect_direct(self.settings.DB_MIGRATION_TIMEOUT_S * 1000) as conn:
                applied = migrate(conn, iam_auth=self.settings.DB_IAM_AUTH)
        except (psycopg.OperationalError, SecretError) as exc:
            logger.warning("database unreachable for migrations; will retry", extra={"error": type(exc).__name__})
            return False
        logger.info("schema up to date", extra={"applied": applied})
        self.schema_ready.set()
        return True

    def _migrate_until_done(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                if self._try_migrate():
                    return
            except (MigrationError, psycopg.Error):
                # Not a connectivity problem: keep the service at 503 and shout; an operator must act.
                logger.critical("migration failed; data endpoints stay unavailable", exc_info=True)
            self._stop.wait(delay)
            delay = min(delay * 2, MIGRATION_RETRY_MAX_S)


def _api_config_source(settings: Settings, reader: SecretReader | None) -> RefreshingValue[ApiConfiguration]:
    if settings.API_CONFIG_JSON is not None:
        fixed = settings.API_CONFIG_JSON.get_secret_value()
        return RefreshingValue(lambda: fixed, parse_api_configuration, settings.API_CONFIG_REFRESH_S, "api-config")
    arn = settings.API_CONFIG_SECRET_ARN
    assert arn is not None and reader is not None  # guaranteed by Settings validation
    return RefreshingValue(lambda: reader(arn), parse_api_configuration, settings.API_CONFIG_REFRESH_S, "api-config")


def _scorer_sources(settings: Settings) -> tuple[Callable[[], Scorer], Callable[[], Scorer | None]]:
    """The live scorer and the shadow scorer (None while no shadow is set)."""
    shipped = Scorer.load(settings.MODEL_PATH)  # fails startup on a bad artifact: a restart will not fix it
    store: Store
    pointer: Pointer
    shadow: Pointer | None = None
    if settings.MODEL_REGISTRY_DIR is not None:
        store, pointer = local_registry(settings.MODEL_REGISTRY_DIR)
        shadow = local_shadow_pointer(settings.MODEL_REGISTRY_DIR)
    elif settings.MODEL_BUCKET is not None and settings.MODEL_POINTER_PARAMETER is not None:
        import boto3
        from botocore.config import Config

        # Short timeouts: a hung call would hold the refresh (and so the next promotion) until it returns.
        config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 2, "mode": "standard"})

        def aws(service: str) -> object:
            return boto3.client(
                service, region_name=settings.AWS_REGION, endpoint_url=settings.AWS_ENDPOINT_URL, config=config
            )

        store = S3Store(settings.MODEL_BUCKET, aws("s3"))
        pointer = SsmPointer(settings.MODEL_POINTER_PARAMETER, aws("ssm"))
        if settings.MODEL_SHADOW_PARAMETER is not None:
            shadow = SsmPointer(settings.MODEL_SHADOW_PARAMETER, aws("ssm"))
    else:
        return (lambda: shipped), _no_shadow
    # Refreshed in a background thread: the event loop never waits on S3 or SSM.
    watcher = ModelWatcher(store, pointer, shipped, settings.MODEL_REFRESH_S, refresh_in_background=True)
    if shadow is None:
        return watcher.current, _no_shadow
    shadow_watcher = ShadowWatcher(store, shadow, settings.MODEL_REFRESH_S, refresh_in_background=True)
    return watcher.current, shadow_watcher.current


def _no_shadow() -> Scorer | None:
    return None
