"""``python -m sessionflow.cli``: the same as the ``sessionflow`` console script."""

from sessionflow.cli.main import main

main()
