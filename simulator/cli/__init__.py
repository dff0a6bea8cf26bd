"""Command line: ``python -m simulator <command>``."""
