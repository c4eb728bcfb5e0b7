"""``privroute models list``: the local model catalog."""

from __future__ import annotations

import click

from ..errors import PrivrouteError
from .common import handle_errors, json_option, print_json

__all__ = ["models"]


@click.group()
def models() -> None:
    """Local models."""


@models.command("list")
@json_option
@handle_errors
def models_list(as_json: bool) -> None:
    """List the local model catalog and whether each file is present."""
    from ..models import catalog, resolve_model, user_models

    rows = []
    for entry in catalog():
        try:
            resolved = resolve_model(entry.name)
            status, where = "available", str(resolved.path)
        except PrivrouteError as exc:
            status, where = "missing", str(exc)
        rows.append({"name": entry.name, "status": status, "path": where, "chat_format": entry.chat_format,
                     "license": entry.license, "description": entry.description})
    for model in user_models():
        rows.append({"name": model.name, "status": "available", "path": str(model.path), "chat_format": None,
                     "license": None, "description": "a .gguf file in a user model folder"})
    if as_json:
        print_json(rows)
        return
    for row in rows:
        click.echo(f"{row['name']}\t{row['status']}\t{row['path']}")
