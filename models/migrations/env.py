"""Alembic environment: runs migrations against the URL set by `models.db.alembic_config`."""

from alembic import context
from models.db import make_engine
from models.schema import Base

target_metadata = Base.metadata


def run_migrations() -> None:
    """Run online migrations; batch mode lets SQLite alter tables."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set by models.db.alembic_config"
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
