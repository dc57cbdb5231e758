"""`appliance tui`: find the daemon and its admin token, run the control panel.

The defaults find a local daemon (`./install.sh --local` serves on 127.0.0.1:8080 with
`./state`); `--url` and `--admin-token-file` reach one on a server, e.g. over an SSH tunnel.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from appliance.admin.client import DEFAULT_URL, AdminClient, read_token


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tui = subparsers.add_parser("tui", help="the live control panel (spend, routing, load)")
    tui.add_argument("--url", default=DEFAULT_URL, help=f"the daemon (default: {DEFAULT_URL})")
    tui.add_argument(
        "--admin-token-file",
        default=None,
        metavar="F",
        help="admin token file (default: $APPLIANCE_ADMIN_TOKEN, state/admin_token, "
        "/var/lib/appliance/admin_token)",
    )
    tui.add_argument("--readonly", action="store_true", help="watch only; disable every change")
    tui.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds between stats polls (default: 1)",
    )
    tui.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from tui.app import make_app

    token = read_token(args.admin_token_file)
    if not token:
        print(
            "no admin token found; the panel will show the daemon's refusal "
            "(pass --admin-token-file)",
            file=sys.stderr,
        )
    client = AdminClient(args.url, token)
    app = make_app(client, readonly=args.readonly, poll_interval_s=args.poll_interval)

    async def run() -> None:
        try:
            await app.run_async()
        finally:
            await client.close()

    asyncio.run(run())
    return app.return_code or 0
