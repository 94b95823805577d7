"""Alembic environment: runs on the connection handed in by :mod:`arkitekt.server.db`."""

from alembic import context

# Imported for their side effect: they register their tables on Base.metadata.
import arkitekt.server.rpc.models
import arkitekt.server.storage.collection_models
import arkitekt.server.storage.models  # noqa: F401
from arkitekt.server.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always run through arkitekt.server.db
    raise RuntimeError("Run migrations through arkitekt.server.db.Database.migrate()")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
