"""One module per CLI subcommand; see :mod:`zodarts.cli`."""
