"""`flask purge --older-than DAYS`: retention."""

import click


@click.command("purge")
@click.option("--older-than", type=int, required=True)
@click.option("--dry-run", is_flag=True)
def purge(older_than: int, dry_run: bool) -> None:
    """Anonymise closed and spam leads past retention."""
    raise click.ClickException("not built yet")
