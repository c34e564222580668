"""The Alembic migrations build exactly the schema the models describe, on both backends."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from models import Base
from models.db import make_engine


@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migrations_match_models(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == [], f"models and migrations disagree: {differences}"


def test_upgrade_creates_every_table(database_url: str) -> None:
    engine = make_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert set(Base.metadata.tables) <= tables


def test_expression_indexes_exist(database_url: str) -> None:
    """Alembic cannot compare expression indexes, so check the ones the models declare by name."""
    from sqlalchemy import text

    engine = make_engine(database_url)
    query = (
        "SELECT name FROM sqlite_master WHERE type = 'index'"
        if engine.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes"
    )
    with engine.connect() as connection:
        names = set(connection.scalars(text(query)))
    engine.dispose()
    declared = {index.name for table in Base.metadata.tables.values() for index in table.indexes}
    assert declared <= names
