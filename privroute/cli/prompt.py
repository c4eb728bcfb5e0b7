"""``privroute route | classify | redact``: one prompt or text, from the argument or stdin.

``redact --out OUTDIR INPUT...`` hands over to the batch frontend (privroute.cli.batch).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .common import (
    EXIT_USAGE,
    fail,
    handle_errors,
    json_option,
    policy_option,
    print_json,
    read_text_arg,
)

__all__ = ["classify", "redact", "route"]


@click.command()
@click.argument("prompt", required=False)
@policy_option
@json_option
@click.option("--max-tokens", type=click.IntRange(1), default=None, help="Cap on the answer's tokens.")
@handle_errors
def route(prompt: str | None, policy: str, as_json: bool, max_tokens: int | None) -> None:
    """Route PROMPT (or stdin) under a policy and print the answer."""
    from .. import route as route_prompt

    result = route_prompt(read_text_arg(prompt), policy=policy, max_tokens=max_tokens)
    if as_json:
        print_json(result.as_dict())
        return
    click.echo(result.answer)
    click.echo(f"[{result.decision.action} via {result.backend}; sensitivity {result.decision.sensitivity}; "
               f"reasons: {', '.join(result.decision.reasons) or '-'}]", err=True)


@click.command()
@click.argument("prompt", required=False)
@policy_option
@json_option
@handle_errors
def classify(prompt: str | None, policy: str, as_json: bool) -> None:
    """Show the decision for PROMPT (or stdin) without calling any model."""
    from .. import classify as classify_prompt

    decision = classify_prompt(read_text_arg(prompt), policy=policy)
    if as_json:
        print_json(decision.as_dict())
        return
    click.echo(f"action: {decision.action}\nsensitivity: {decision.sensitivity}\n"
               f"reasons: {', '.join(decision.reasons) or '-'}\n"
               f"entities: {', '.join(f'{t}={n}' for t, n in decision.entity_counts) or '-'}")


@click.command()
@click.argument("inputs", nargs=-1)
@policy_option
@json_option
@click.option("--out", "out_dir", default=None, help="Batch mode: write redacted copies of INPUTS under OUTDIR.")
@click.option("--consistent", is_flag=True, help="Batch: the same value gets the same placeholder in every document.")
@click.option("--mapping", type=click.Path(dir_okay=False), default=None,
              help="Batch: keep the placeholder mapping in FILE, encrypted with the mapping key.")
@click.option("--key-env", default="PRIVROUTE_MAPPING_KEY", show_default=True,
              help="Batch: environment variable holding the mapping key (16+ characters).")
@click.option("--key", default=None, help="Batch: the mapping key itself (prefer --key-env: argv is visible).")
@click.option("--force", is_flag=True, help="Batch: redo documents a previous run finished.")
@click.option("--verify", is_flag=True, help="Batch: rescan outputs; fail documents that still hold detectable PII.")
@click.option("--engine", type=click.Choice(["pool", "ray"]), default="pool", show_default=True,
              help="Batch: local process pool, or Ray (see --address).")
@click.option("--address", default=None, help="Batch, --engine ray: Ray cluster address (default: a local Ray).")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Batch: worker processes (default: all cores).")
@click.option("--columns", multiple=True, help="Batch: CSV columns to redact (comma-separated or repeated; default all).")
@click.option("--max-size", "max_size_mb", type=click.FloatRange(min=0.001), default=None,
              help="Batch: largest file in MiB (default 100); larger files fail with a reason.")
@click.option("--detect-budget", "detect_budget_s", type=click.FloatRange(min=0.001, max=86_400), default=None,
              help="Batch: detection time budget per document in seconds (default: the policy's "
                   "limits.detect_budget_s); a document past it fails and the run goes on.")
@click.option("--quiet", "-q", is_flag=True, help="Batch: no progress bar or summary.")
@click.option("--progress/--no-progress", default=None, help="Batch: force the progress bar on or off (default: on a TTY).")
@handle_errors
def redact(inputs: tuple[str, ...], policy: str, as_json: bool, out_dir: str | None, **batch: Any) -> None:
    """Redact TEXT (or stdin); with --out, redact files, directories and globs in batch."""
    if out_dir is not None:
        from .batch import run_batch_cli

        if batch["workers"] is None:
            del batch["workers"]
        sys.exit(run_batch_cli(inputs, policy=policy, out_dir=out_dir, as_json=as_json, **batch))
    defaults = {"key_env": "PRIVROUTE_MAPPING_KEY", "engine": "pool", "columns": ()}
    given = sorted(name for name, value in batch.items() if value not in (None, False, defaults.get(name)))
    if given:
        fail(f"--{given[0].replace('_', '-')} is a batch option: add --out OUTDIR and file inputs", EXIT_USAGE)
    if len(inputs) > 1:
        fail("give one text argument (quote it), or use --out OUTDIR for files", EXIT_USAGE)
    from .. import redact as redact_text

    redaction = redact_text(read_text_arg(inputs[0] if inputs else None), policy=policy)
    if as_json:
        print_json({"text": redaction.text, "entities": redaction.entity_counts,
                    "placeholders": redaction.vault.tokens()})
        return
    click.echo(redaction.text)
