"""The `flockwatch` command. Each module here that defines `register(cli)` adds its
subcommands; `main.py` finds them, so a new command is one new file."""
