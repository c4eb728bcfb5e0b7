"""``privroute doctor``: the checks live in privroute.doctor; this prints them."""

from __future__ import annotations

import sys

import click

from .common import EXIT_ERROR, handle_errors, json_option, policy_option, print_json

__all__ = ["doctor"]


@click.command()
@policy_option
@json_option
@handle_errors
def doctor(policy: str, as_json: bool) -> None:
    """Check that everything a route needs works here; exit 1 naming each failed check."""
    from ..doctor import run_doctor

    report = run_doctor(policy)
    if as_json:
        print_json(report.as_dict())
    else:
        for check in report.checks:
            click.echo(check.line())
    if not report.ok:
        sys.exit(EXIT_ERROR)
