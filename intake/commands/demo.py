"""`flask demo --leads N`: fake leads for demos and benchmarks."""

import click


@click.command("demo")
@click.option("--leads", type=int, default=1000)
def demo(leads: int) -> None:
    """Fill the database with realistic fake leads."""
    raise click.ClickException("not built yet")
