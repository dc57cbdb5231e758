"""Who may call: client keys (`keys.py`), the admin token (`admin_token.py`) and their
operator commands (`cli.py`). Spend against budgets is counted by `ledger/budgets.py`."""
