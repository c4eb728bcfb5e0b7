"""``privroute policy check | diff | test | explain | list``."""

from __future__ import annotations

import sys

import click

from .common import EXIT_ERROR, EXIT_USAGE, fail, handle_errors, json_option, print_json, read_text_arg

__all__ = ["policy"]


@click.group()
def policy() -> None:
    """Check, diff, test, explain and list policies."""


@policy.command("check")
@click.argument("file")
@click.option("--offline", is_flag=True, help="Skip what needs the network (frontier and local server reachability).")
@json_option
@handle_errors
def policy_check(file: str, offline: bool, as_json: bool) -> None:
    """Check that FILE (or a shipped name) is deployable: everything a route needs resolves.

    Reports every problem with its file, line and key, and exits 1 when there is any.
    """
    from ..policy_check import check_policy

    report = check_policy(file, offline=offline)
    if as_json:
        print_json(report.as_dict())
    else:
        for problem in report.problems:
            click.echo(str(problem))
        if report.ok:
            click.echo(f"ok: {report.name} (sha256 {(report.content_hash or '')[:12]})")
        for line in report.checked:
            click.echo(f"  checked: {line}")
        for line in report.skipped:
            click.echo(f"  skipped: {line}")
        for line in report.notes:
            click.echo(f"  note: {line}")
    if not report.ok:
        count = len(report.problems)
        fail(f"{count} problem{'s' if count > 1 else ''} in {file}")


@policy.command("diff")
@click.argument("before", metavar="A")
@click.argument("after", metavar="B")
@json_option
@handle_errors
def policy_diff(before: str, after: str, as_json: bool) -> None:
    """What policy B changes relative to A, rule by rule and route by route; loosenings marked."""
    from ..loosening import compare
    from ..policy import load_policy

    a, b = load_policy(before), load_policy(after)
    changes = compare(a, b)
    loosened = [c for c in changes if c.loosens]
    if as_json:
        print_json({"a": a.name, "b": b.name, "changes": [c.as_dict() for c in changes],
                    "loosens": len(loosened)})
        return
    click.echo(f"{a.name} -> {b.name}: {len(changes)} change{'s' if len(changes) != 1 else ''}, "
               f"{len(loosened)} loosen{'s' if len(loosened) == 1 else ''}")
    for change in changes:
        mark = "LOOSENS" if change.loosens else "       "
        click.echo(f"  {mark}  {change.key}: {change.describe()}")


@policy.command("test")
@click.argument("policy_ref", metavar="POLICY")
@click.argument("cases", required=False, type=click.Path(dir_okay=False))
@json_option
@handle_errors
def policy_test(policy_ref: str, cases: str | None, as_json: bool) -> None:
    """Run the example prompts of CASES.yaml against POLICY; exit 1 on any mismatch.

    Without CASES, a shipped policy runs its own case file (policies/tests/<name>.yaml).
    """
    from ..policy_cases import run_cases, shipped_cases

    if cases is None:
        cases_path = shipped_cases().get(policy_ref)
        if cases_path is None:
            fail(f"no CASES file given, and {policy_ref!r} has no shipped case file", EXIT_USAGE)
        cases = str(cases_path)
    report = run_cases(policy_ref, cases)
    if as_json:
        print_json(report.as_dict())
    else:
        for result in report.results:
            where = f" ({report.cases_file}:{result.line})" if result.line else ""
            click.echo(f"{'PASS' if result.passed else 'FAIL'} {result.name}{where}")
            width = max((len(m.field) for m in result.mismatches), default=0)
            for mismatch in result.mismatches:
                click.echo(f"    {mismatch.field + ':':<{width + 1}} expected {mismatch.expected}, "
                           f"got {mismatch.actual}")
        click.echo(f"{len(report.results) - len(report.failed)} passed, {len(report.failed)} failed "
                   f"({report.policy}, {report.cases_file})")
    if not report.ok:
        sys.exit(EXIT_ERROR)


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
    for loosened in report["loosened"]:
        click.echo(f"loosened on purpose: {loosened['key']} ({loosened['reason']})")


@policy.command("list")
def policy_list() -> None:
    """List the policies shipped with privroute."""
    from ..policy import shipped_policies

    for name in shipped_policies():
        click.echo(name)
