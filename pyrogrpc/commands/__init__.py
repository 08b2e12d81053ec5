"""Client commands of the `pyrogrpc` CLI, one module per area; each has `add_parsers(commands)`."""

from . import accounts, camera, health, operate, watch

CLIENT_COMMAND_MODULES = (health, accounts, camera, watch, operate)
