"""The ``sessionflow`` command line: one click group, one module per subcommand group."""
