"""``python -m streams`` runs the cargoguard command line."""

from streams.cli import main

main()
