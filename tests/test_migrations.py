"""The schema comes from the migrations, and the models agree with them."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from intake.extensions import db


def test_models_and_migrations_agree(app):
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_migrations_built_every_table(app):
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
    assert set(db.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_downgrade_to_base_and_back(app):
    from flask_migrate import downgrade, upgrade

    with app.app_context():
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert set(db.metadata.tables) <= set(inspect(db.engine).get_table_names())
