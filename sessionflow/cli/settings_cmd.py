"""``sessionflow settings``: every environment variable, its default and meaning."""

from __future__ import annotations

import click

from sessionflow.cli.settings_catalog import markdown_table


@click.command("settings")
def settings_command() -> None:
    """Print the settings table (Markdown), as the README shows it."""
    click.echo(markdown_table())
