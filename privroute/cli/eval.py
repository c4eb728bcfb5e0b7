"""``privroute eval``: detection quality on labeled data (privroute.evaluate does the work)."""

from __future__ import annotations

import json

import click

from ..errors import PrivrouteError
from ..evaluate import EvalReport, LabelRoles, Miss, categories_of, evaluate, load_examples
from .common import fail

__all__ = ["eval_command"]

_METRICS = ("recall", "precision", "verbatim_leak", "token_leak", "over_redaction", "clean_changed", "caught",
            "protected_words_left", "other_words_destroyed")


def _fmt(value: float | int | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _print_report(report: EvalReport, policy: str) -> None:
    data = report.as_dict()
    click.echo(f"policy {policy}: {report.texts} texts, p50 {report.p50_ms:.1f} ms, p95 {report.p95_ms:.1f} ms")
    for key in _METRICS:
        if data[key] is not None:
            click.echo(f"  {key:<22} {_fmt(data[key])}")
    if report.per_type:
        with_roles = any("role" in row for row in report.per_type.values())
        header = f"  {'type':<26}{'count':>7}{'recall':>9}{'typed':>9}{'precision':>11}"
        click.echo(header + (f"{'role':>8}{'destroyed':>11}" if with_roles else ""))
        for type_, row in sorted(report.per_type.items()):
            line = (f"  {type_:<26}{row.get('count', 0) or 0:>7}{_fmt(row.get('recall')):>9}"
                    f"{_fmt(row.get('typed_recall')):>9}{_fmt(row.get('precision')):>11}")
            if with_roles:
                line += f"{row.get('role', ''):>8}{_fmt(row.get('destroyed')) if 'destroyed' in row else '':>11}"
            click.echo(line)
    if len(report.per_language) > 1 or any(code != "en" for code in report.per_language):
        click.echo(f"  {'language':<10}{'texts':>7}{'recall':>9}{'words left':>12}{'destroyed':>11}{'p50 ms':>9}")
        for code, lang in sorted(report.per_language.items()):
            left = lang["protected_words_left"] if lang["protected_words_left"] is not None else lang["token_leak"]
            gone = lang["other_words_destroyed"] if lang["other_words_destroyed"] is not None else lang[
                "over_redaction"]
            click.echo(f"  {code:<10}{lang['texts']:>7}{_fmt(lang['recall']):>9}{_fmt(left):>12}{_fmt(gone):>11}"
                       f"{lang['p50_ms'] or 0:>9.1f}")
    for category, row in report.per_category.items():
        click.echo(f"  {category or '(none)':<26}{row['caught']}/{row['values']} caught")


def _print_misses(misses: tuple[Miss, ...], count: int) -> None:
    # Raw text from the data, on request only: this view is for development on labeled data.
    for kind, title in (("left", "values to redact with words left"), ("destroyed", "redacted outside them")):
        chosen = [m for m in misses if m.kind == kind]
        step = max(1, len(chosen) // count) if chosen else 1
        click.echo(f"\n{title}: {len(chosen)} (showing {min(count, len(chosen))}, evenly spaced)")
        for miss in chosen[::step][:count]:
            click.echo(f"  {miss.label:<28} {miss.context}")


@click.command(name="eval")
@click.option("--policy", "-p", default="general", show_default=True,
              help="Shipped policy name or a YAML path.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N texts.")
@click.option("--labels", "labels", default=None, metavar="SPEC",
              help="Which labels must be redacted and which may stay: 'redact=A,B;keep=C,D' or a "
                   "YAML/JSON file {redact: [...], keep: [...]}. Unnamed labels must be redacted.")
@click.option("--show-misses", type=click.IntRange(min=0), default=0, metavar="N",
              help="Development: print N values left and N spans destroyed, in context (raw data text).")
@click.argument("data", type=click.Path(dir_okay=False))
def eval_command(policy: str, as_json: bool, limit: int | None, labels: str | None, show_misses: int,
                 data: str) -> None:
    """Measure leaks, over-redaction and speed of redaction on labeled DATA."""
    try:
        roles = LabelRoles.parse(labels) if labels else None
        examples = load_examples(data)
        if limit is not None:
            examples = examples[:limit]
        categories = categories_of(data) if any(e.values for e in examples) else []
        report = evaluate(examples, policy, categories=categories, roles=roles, show_misses=show_misses > 0)
    except PrivrouteError as exc:
        fail(str(exc))
        return
    except KeyboardInterrupt:
        fail("interrupted", 130)
        return
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    else:
        _print_report(report, policy)
    if show_misses:
        _print_misses(report.misses, show_misses)
