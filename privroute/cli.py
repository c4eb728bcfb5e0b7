"""The ``privroute`` command.

Exit codes: 0 success; 1 an error (the message says which); 2 a usage error;
3 the policy blocked the prompt. User mistakes print one line on stderr, never a
traceback. Subcommands that pull heavy or optional dependencies are loaded lazily
(``_LAZY``), so ``privroute --help`` stays instant.
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .errors import Blocked, PrivrouteError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BLOCKED = 3

F = TypeVar("F", bound=Callable[..., Any])

# name -> "module:attribute" of a click command, imported on first use.
_LAZY: dict[str, str] = {
    "eval": "privroute.evaluate:eval_command",
    "audit": "privroute.audit_cli:audit_group",
    "serve": "privroute.server_cli:serve_command",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_LAZY))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in _LAZY:
            module_name, attribute = _LAZY[name].split(":")
            try:
                return getattr(importlib.import_module(module_name), attribute)
            except (ImportError, AttributeError) as exc:
                return _unavailable(name, exc)
        return super().get_command(ctx, name)


def _unavailable(name: str, exc: Exception) -> click.Command:
    @click.command(name=name, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def command() -> None:
        fail(f"'{name}' is not available in this installation ({type(exc).__name__}: {exc})")

    return command


def fail(message: str, code: int = EXIT_ERROR) -> None:
    """Print one line on stderr and exit. No traceback."""
    click.echo(f"privroute: error: {message}", err=True)
    sys.exit(code)


def handle_errors(func: F) -> F:
    """Map privroute errors to one stderr line and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Blocked as exc:
            fail(str(exc), EXIT_BLOCKED)
        except PrivrouteError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted", 130)

    return wrapper  # type: ignore[return-value]


def read_text_arg(text: str | None) -> str:
    """The TEXT argument, or stdin when it is '-' or absent; strict UTF-8."""
    if text is not None and text != "-":
        return text
    if sys.stdin is None or sys.stdin.isatty():
        fail("no text given (pass it as an argument or on stdin)", EXIT_USAGE)
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(f"stdin is not valid UTF-8 (byte {exc.start})", EXIT_USAGE)
    raise AssertionError("unreachable")


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


policy_option = click.option(
    "--policy", "-p", default="general", show_default=True,
    help="Shipped policy name (general, healthcare, finance, legal, public-sector) or a YAML path.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="privroute")
def main() -> None:
    """privroute: route LLM prompts by sensitivity; redact PII before a frontier model sees it."""


@main.command()
@click.argument("prompt", required=False)
@policy_option
@json_option
@click.option("--max-tokens", type=click.IntRange(1), default=None, help="Cap on the answer's tokens.")
@handle_errors
def route(prompt: str | None, policy: str, as_json: bool, max_tokens: int | None) -> None:
    """Route PROMPT (or stdin) under a policy and print the answer."""
    from . import route as route_prompt

    result = route_prompt(read_text_arg(prompt), policy=policy, max_tokens=max_tokens)
    if as_json:
        print_json(result.as_dict())
        return
    click.echo(result.answer)
    click.echo(f"[{result.decision.action} via {result.backend}; sensitivity {result.decision.sensitivity}; "
               f"reasons: {', '.join(result.decision.reasons) or '-'}]", err=True)


@main.command()
@click.argument("prompt", required=False)
@policy_option
@json_option
@handle_errors
def classify(prompt: str | None, policy: str, as_json: bool) -> None:
    """Show the decision for PROMPT (or stdin) without calling any model."""
    from . import classify as classify_prompt

    decision = classify_prompt(read_text_arg(prompt), policy=policy)
    if as_json:
        print_json(decision.as_dict())
        return
    click.echo(f"action: {decision.action}\nsensitivity: {decision.sensitivity}\n"
               f"reasons: {', '.join(decision.reasons) or '-'}\n"
               f"entities: {', '.join(f'{t}={n}' for t, n in decision.entity_counts) or '-'}")


@main.command()
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
@click.option("--quiet", "-q", is_flag=True, help="Batch: no progress bar or summary.")
@click.option("--progress/--no-progress", default=None, help="Batch: force the progress bar on or off (default: on a TTY).")
@handle_errors
def redact(inputs: tuple[str, ...], policy: str, as_json: bool, out_dir: str | None, **batch: Any) -> None:
    """Redact TEXT (or stdin); with --out, redact files, directories and globs in batch."""
    if out_dir is not None:
        from .batch_cli import run_batch_cli

        if batch["workers"] is None:
            del batch["workers"]
        sys.exit(run_batch_cli(inputs, policy=policy, out_dir=out_dir, as_json=as_json, **batch))
    defaults = {"key_env": "PRIVROUTE_MAPPING_KEY", "engine": "pool", "columns": ()}
    given = sorted(name for name, value in batch.items() if value not in (None, False, defaults.get(name)))
    if given:
        fail(f"--{given[0].replace('_', '-')} is a batch option: add --out OUTDIR and file inputs", EXIT_USAGE)
    if len(inputs) > 1:
        fail("give one text argument (quote it), or use --out OUTDIR for files", EXIT_USAGE)
    from . import redact as redact_text

    redaction = redact_text(read_text_arg(inputs[0] if inputs else None), policy=policy)
    if as_json:
        print_json({"text": redaction.text, "entities": redaction.entity_counts,
                    "placeholders": redaction.vault.tokens()})
        return
    click.echo(redaction.text)


@main.group()
def policy() -> None:
    """Check, explain and list policies."""


@policy.command("check")
@click.argument("file")
@handle_errors
def policy_check(file: str) -> None:
    """Validate a policy FILE (or shipped name); exit 1 naming the file, line and key on error."""
    from .policy import load_policy

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
    from .explain import explain

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
    from .policy import shipped_policies

    for name in shipped_policies():
        click.echo(name)


@main.group()
def models() -> None:
    """Local models."""


@models.command("list")
@json_option
@handle_errors
def models_list(as_json: bool) -> None:
    """List the local model catalog and whether each file is present."""
    from .models import catalog, resolve_model

    rows = []
    for entry in catalog():
        try:
            resolved = resolve_model(entry.name)
            status, where = "available", str(resolved.path)
        except PrivrouteError as exc:
            status, where = "missing", str(exc)
        rows.append({"name": entry.name, "status": status, "path": where, "chat_format": entry.chat_format,
                     "license": entry.license, "description": entry.description})
    if as_json:
        print_json(rows)
        return
    for row in rows:
        click.echo(f"{row['name']}\t{row['status']}\t{row['path']}")


@main.command()
@click.option("--policy", "-p", default="healthcare", show_default=True, help="Policy to demonstrate.")
@handle_errors
def demo(policy: str) -> None:
    """Run a few prompts through every action on the embedded defaults."""
    from .demo import run_demo

    run_demo(policy)


if __name__ == "__main__":  # pragma: no cover
    main()
