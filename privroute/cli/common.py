"""What every ``privroute`` subcommand shares: exit codes, ``fail``, error mapping, options.

User mistakes print one line on stderr, never a traceback. The exit codes are a
public contract (README): 0 success, 1 an error, 2 a usage error, 3 blocked.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from ..errors import Blocked, PrivrouteError, exit_code_for

__all__ = [
    "EXIT_BLOCKED", "EXIT_ERROR", "EXIT_USAGE", "fail", "handle_errors", "json_option", "policy_option",
    "print_json", "read_text_arg",
]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BLOCKED = 3

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print one line on stderr and exit. No traceback."""
    click.echo(f"privroute: error: {message}", err=True)
    sys.exit(code)


def handle_errors(func: F) -> F:
    """Map privroute errors to one stderr line and the exit code ``errors.exit_code_for`` gives."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Blocked as exc:
            fail(str(exc), EXIT_BLOCKED)
        except PrivrouteError as exc:
            fail(str(exc), exit_code_for(exc))
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


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False))


policy_option = click.option(
    "--policy", "-p", default="general", show_default=True,
    help="Shipped policy name (general, healthcare, finance, legal, public-sector) or a YAML path.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
