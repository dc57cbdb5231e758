"""Operator commands over the state files (`appliance keys ...`, `appliance report`): edges,
like the API, so they may read several stages (keys and the ledger) without tying those
stages to each other. Commands that belong to one stage alone stay in it (`router/cli.py`,
`replay/cli.py`)."""

from __future__ import annotations

import sys


def fail(message: str, status: int = 2) -> int:
    """Print `appliance: <message>` to stderr; returns the exit status (2: usage/config)."""
    print(f"appliance: {message}", file=sys.stderr)
    return status
