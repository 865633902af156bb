"""Alembic runs inside the server's own start-up, on the connection it hands over (see db.py)."""

from alembic import context

from sync.server.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
