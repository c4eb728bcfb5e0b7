"""``privroute eval``: detection quality on labeled data (privroute.evaluate does the work)."""

from __future__ import annotations

import json

import click

from ..errors import PrivrouteError
from ..evaluate import EvalReport, categories_of, evaluate, load_examples
from .common import fail

__all__ = ["eval_command"]


def _fmt(value: float | int | None, percent: bool = True) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) and not percent:
        return str(value)
    return f"{value * 100:.1f}%" if percent else f"{value:.2f}"


def _print_report(report: EvalReport, policy: str) -> None:
    data = report.as_dict()
    click.echo(f"policy {policy}: {report.texts} texts, p50 {report.p50_ms:.1f} ms, p95 {report.p95_ms:.1f} ms")
    for key in ("recall", "precision", "verbatim_leak", "token_leak", "over_redaction", "clean_changed",
                "caught"):
        if data[key] is not None:
            click.echo(f"  {key:<15} {_fmt(data[key])}")
    if report.per_type:
        click.echo(f"  {'type':<26}{'count':>7}{'recall':>9}{'typed':>9}{'precision':>11}")
        for type_, row in sorted(report.per_type.items()):
            click.echo(f"  {type_:<26}{row.get('count', 0) or 0:>7}{_fmt(row.get('recall')):>9}"
                       f"{_fmt(row.get('typed_recall')):>9}{_fmt(row.get('precision')):>11}")
    for category, row in report.per_category.items():
        click.echo(f"  {category or '(none)':<26}{row['caught']}/{row['values']} caught")


@click.command(name="eval")
@click.option("--policy", "-p", default="general", show_default=True,
              help="Shipped policy name or a YAML path.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N texts.")
@click.argument("data", type=click.Path(dir_okay=False))
def eval_command(policy: str, as_json: bool, limit: int | None, data: str) -> None:
    """Measure leaks, over-redaction and speed of redaction on labeled DATA."""
    try:
        examples = load_examples(data)
        if limit is not None:
            examples = examples[:limit]
        categories = categories_of(data) if any(e.values for e in examples) else []
        report = evaluate(examples, policy, categories=categories)
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
