"""The command line: parsing, subcommands, `rotsweep ui`."""
