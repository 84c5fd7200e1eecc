"""Command-line tools, each a thin wrapper over the functions the views use."""

from flask import Flask

from . import demo, locations, outbox, purge, setup, users


def register(app: Flask) -> None:
    app.cli.add_command(setup.setup)
    app.cli.add_command(locations.cli)
    app.cli.add_command(outbox.cli)
    app.cli.add_command(outbox.send_test_mail)
    app.cli.add_command(users.cli)
    app.cli.add_command(demo.demo)
    app.cli.add_command(purge.purge)
