"""Operator commands over the state files (`appliance keys ...`, `appliance report`): edges,
like the API, so they may read several stages (keys and the ledger) without tying those
stages to each other. Commands that belong to one stage alone stay in it (`router/cli.py`,
`replay/cli.py`)."""
