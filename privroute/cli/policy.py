"""``privroute policy check | explain | list``."""

from __future__ import annotations

import click

from .common import handle_errors, json_option, print_json, read_text_arg

__all__ = ["policy"]


@click.group()
def policy() -> None:
    """Check, explain and list policies."""


@policy.command("check")
@click.argument("file")
@handle_errors
def policy_check(file: str) -> None:
    """Validate a policy FILE (or shipped name); exit 1 naming the file, line and key on error."""
    from ..policy import load_policy

    loaded = load_policy(file)
    click.echo(f"ok: {loaded.name} ({len(loaded.classify.rules)} rules, "
               f"{len(loaded.detect.recognizers)} extra recognizers, sha256 {loaded.content_hash[:12]})")


@policy.command("explain")
@click.argument("policy_ref", metavar="POLICY")
@click.argument("prompt", required=False)
@json_option
@handle_errors
def policy_explain(policy_ref: str, prompt: str | None, as_json: bool) -> None:
    """Explain how POLICY decides PROMPT: entities, every rule matched, the route."""
    from ..explain import explain

    report = explain(policy_ref, read_text_arg(prompt))
    if as_json:
        print_json(report)
        return
    click.echo(f"policy: {report['policy']}")
    click.echo(f"entities: {', '.join(f'{t}={n}' for t, n in report['entities'].items()) or '-'}")
    for rule in report["rules"]:
        mark = "MATCH" if rule["matched"] else "  -  "
        click.echo(f"  [{mark}] {rule['id']} -> {rule['sensitivity']}  {rule['description']}")
    click.echo(f"sensitivity: {report['sensitivity']} (default {report['default']})")
    click.echo(f"action: {report['action']}")


@policy.command("list")
def policy_list() -> None:
    """List the policies shipped with privroute."""
    from ..policy import shipped_policies

    for name in shipped_policies():
        click.echo(name)
