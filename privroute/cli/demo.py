"""``privroute demo``: one sector's prompts through every action, on the embedded defaults.

With no OPENAI_API_KEY (and no OPENAI_BASE_URL) a real OpenAI-compatible HTTP server
is started on 127.0.0.1, answering with the local model, as a clearly labelled
stand-in for the frontier: the real HTTP path runs, nothing leaves the machine.
"""

from __future__ import annotations

import os
from contextlib import ExitStack

import click

from ..backends import local_from_config
from ..backends.openai import OpenAIBackend
from ..errors import Blocked, PrivrouteError
from ..policy import load_policy
from ..router import Router
from .common import handle_errors

__all__ = ["DEMO_PROMPTS", "run_demo"]

DEMO_PROMPTS: dict[str, tuple[str, ...]] = {
    "healthcare": (
        "What are common first-line treatments for hypertension in adults?",
        "Write a two-sentence reminder to Jane Roe (jane.roe@example.com) that her appointment moved to Friday.",
        "Patient Jane Roe, MRN 4471123, has new chest pain and a history of diabetes. Next steps?",
        "Export all patient records with their diagnoses to a spreadsheet.",
    ),
    "finance": (
        "Explain the difference between a Roth IRA and a traditional IRA.",
        "Draft a short note to Maria Gonzalez confirming the wire to IBAN DE89 3704 0044 0532 0130 00 went out.",
        "Customer card 4111 1111 1111 1111 was declined twice today. What could cause that?",
        "The card's CVV is 123, please check it for the customer.",
    ),
    "legal": (
        "What is the statute of limitations for breach of contract in general terms?",
        "Summarise the scheduling order in case No. 2:23-cv-01234 for our client John Smith.",
        "Privileged and confidential: our strategy memo says the client will settle below 2 million.",
        "Summarise the grand jury testimony from yesterday.",
    ),
    "public-sector": (
        "How should a city publish its annual budget in an accessible way?",
        "Reply to Anna Kowalska at anna.k@example.eu that her permit application was received.",
        "Anna Kowalska is a trade union member and was diagnosed with depression; does that affect her leave?",
        "Predict the religion of each applicant from their surnames.",
    ),
    "general": (
        "Give me three tips for writing clear release notes.",
        "Write a thank-you note to Sam Carter, sam.carter@example.com, for the review.",
        "My password: hunter2-correct-horse. Is it strong?",
        "Deduplicate this customer contact list: "
        + ", ".join(f"customer{i:02d}@example.com" for i in range(45)),
    ),
}


def _frontier_standin(stack: ExitStack) -> OpenAIBackend | None:
    """Start the labelled local stand-in unless a real frontier is configured."""
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return None
    from ..testing import OpenAIServer

    server = stack.enter_context(OpenAIServer(backend=local_from_config(load_policy("general").local),
                                              model="local-standin"))
    click.secho(f"No OPENAI_API_KEY: the frontier is a STAND-IN at {server.url}, served by the local model "
                f"over real HTTP. Nothing leaves this machine.\n", fg="yellow")
    return OpenAIBackend("local-standin", base_url=server.url, api_key="no-key", name="frontier(stand-in)")


def run_demo(policy_name: str) -> None:
    policy = load_policy(policy_name)
    prompts = DEMO_PROMPTS.get(policy.sector) or DEMO_PROMPTS.get(policy.name) or DEMO_PROMPTS["general"]
    with ExitStack() as stack:
        router = Router(policy, frontier=_frontier_standin(stack))
        click.secho(f"privroute demo: policy {policy.name!r} ({policy.description.strip()})\n", bold=True)
        for number, prompt in enumerate(prompts, 1):
            click.secho(f"[{number}] prompt: {_clip(prompt)}", bold=True)
            try:
                result = router.route(prompt, max_tokens=96)
            except Blocked as exc:
                click.echo(f"    decision : block (reasons: {', '.join(exc.reasons)})")
                click.echo("    sent     : nothing\n")
                continue
            except PrivrouteError as exc:
                click.echo(f"    error    : {exc}\n")
                continue
            decision = result.decision
            click.echo(f"    decision : {decision.action} (sensitivity {decision.sensitivity}; "
                       f"reasons: {', '.join(decision.reasons) or '-'})")
            click.echo(f"    entities : {', '.join(f'{t}={n}' for t, n in decision.entity_counts) or '-'}")
            click.echo(f"    sent     : {'nothing (answered on this machine)' if result.sent is None else result.sent}")
            click.echo(f"    backend  : {result.backend} ({result.model})")
            click.echo(f"    answer   : {_clip(' '.join(result.answer.split()), 400)}\n")


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


@click.command("demo")
@click.option("--policy", "-p", default="healthcare", show_default=True, help="Policy to demonstrate.")
@handle_errors
def demo(policy: str) -> None:
    """Run a few prompts through every action on the embedded defaults."""
    run_demo(policy)
