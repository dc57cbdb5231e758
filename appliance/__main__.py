"""`appliance` command line: parse arguments, load config, hand over. No logic lives here.

Subcommands register themselves through `add_commands(subparsers)` in their own package, so
this file does not grow with every feature.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from appliance.config import ConfigError, load_config
from appliance.version import version

# Packages that contribute subcommands; each has `cli.add_commands(subparsers)`.
_COMMAND_MODULES = (
    "appliance.router.cli",
    "appliance.cli.keys",
    "appliance.cli.report",
    "appliance.cli.prices",
    "appliance.replay.cli",
    "tui.cli",
)


def _serve(args: argparse.Namespace) -> int:
    import msgspec

    from appliance.app import create_app
    from appliance.server import serve

    config = load_config(args.config)
    host = args.host or config.server.host
    port = args.port or config.server.port
    server = msgspec.structs.replace(config.server, host=host, port=port)
    config = msgspec.structs.replace(config, server=server)
    if args.check_config:
        print(f"config OK: {len(config.tiers)} tier(s), state_dir={config.state_path}")
        return 0
    logging.basicConfig(
        level=config.server.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Whatever starts the daemon (systemd, a shell, a test), the state it creates (ledger,
    # keys, admin token, cache) is readable by its own user only.
    os.umask(0o077)
    serve(create_app(config, args.config), config.server)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appliance", description="The LLM appliance.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the OpenAI-compatible endpoint")
    serve.add_argument("--config", help="TOML config (default: $APPLIANCE_CONFIG or built-in)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--check-config", action="store_true", help="validate the config and exit")
    serve.set_defaults(func=_serve)
    for module_name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # that feature is not part of this build
            raise
        module.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
