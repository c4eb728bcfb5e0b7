"""``python -m privroute.cli``: the same as the ``privroute`` command."""

from .main import main

main()
