"""The ``privroute`` command: the click group and where each subcommand lives.

Exit codes: 0 success; 1 an error (the message says which); 2 a usage error;
3 the policy blocked the prompt (privroute.errors.EXIT_CODES). User mistakes print
one line on stderr, never a traceback. Every subcommand is a module of this package,
imported on first use (``COMMANDS``), so ``privroute --help`` stays instant and a
missing optional extra only disables its own commands.
"""

from __future__ import annotations

import importlib

import click

from .common import fail

__all__ = ["COMMANDS", "main"]

# name -> "module:attribute" of a click command, imported on first use.
COMMANDS: dict[str, str] = {
    "route": "privroute.cli.prompt:route",
    "classify": "privroute.cli.prompt:classify",
    "redact": "privroute.cli.prompt:redact",
    "policy": "privroute.cli.policy:policy",
    "models": "privroute.cli.models:models",
    "eval": "privroute.cli.eval:eval_command",
    "audit": "privroute.cli.audit:audit_group",
    "serve": "privroute.cli.serve:serve_command",
    "dashboard": "privroute.cli.dashboard:dashboard_command",
    "demo": "privroute.cli.demo:demo",
    "doctor": "privroute.cli.doctor:doctor",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS:
            module_name, attribute = COMMANDS[name].split(":")
            try:
                command: click.Command = getattr(importlib.import_module(module_name), attribute)
            except (ImportError, AttributeError) as exc:
                return _unavailable(name, exc)
            return command
        return super().get_command(ctx, name)


def _unavailable(name: str, exc: Exception) -> click.Command:
    @click.command(name=name, context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    def command() -> None:
        fail(f"'{name}' is not available in this installation ({type(exc).__name__}: {exc})")

    return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="privroute")
def main() -> None:
    """privroute: route LLM prompts by sensitivity; redact PII before a frontier model sees it."""


if __name__ == "__main__":  # pragma: no cover
    main()
