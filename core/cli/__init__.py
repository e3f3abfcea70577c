"""The ``moebius-inpaint`` command line: :mod:`core.cli.main` holds the entry point and the table of commands."""
