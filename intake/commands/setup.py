"""`flask setup`: migrate to head and seed offices and articles; safe to repeat."""

import click
from flask_migrate import upgrade

from ..extensions import db
from ..seed import seed_articles, seed_locations


@click.command("setup")
def setup() -> None:
    """Migrate the database to head and seed the six offices and the articles."""
    upgrade()
    offices = seed_locations(db.session)
    articles = seed_articles(db.session)
    db.session.commit()
    click.echo(f"Database at head; {offices} office(s) added, {articles} article(s) added or updated.")
