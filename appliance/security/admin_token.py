"""The admin API's bearer token: where it comes from and how a presented one is checked.

It owns the token file (`<state_dir>/admin_token`, created 0600) and the timing-safe check.
It must not know the HTTP framework: the API's guard hands it the header's value.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from appliance.config import ConfigError

ADMIN_TOKEN_FILE = "admin_token"


def load_or_create_admin_token(state_dir: Path, configured: str = "", token_file: str = "") -> str:
    """The admin API token: `security.admin_token`, else the contents of
    `security.admin_token_file`, else `<state_dir>/admin_token`, created 0600 on first start.

    The file is created with O_EXCL so two processes starting at once agree on one token.
    """
    if configured:
        return configured
    if token_file:
        path = Path(token_file).expanduser()
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"config: security.admin_token_file: cannot read {path}: {exc}"
            ) from None
        if not token:
            raise ConfigError(f"config: security.admin_token_file: {path} is empty")
        return token
    path = Path(state_dir) / ADMIN_TOKEN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        token = path.read_text(encoding="utf-8").strip()
        if token:
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)  # a copied-in file: readable only by us from now on
            return token
        # An empty file (a crash between create and write): fill it.
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return token


def check_bearer(header_value: str | None, token: str) -> bool:
    """Whether an `Authorization` header carries `Bearer <token>`; timing-safe.
    An empty configured token never matches (fail closed)."""
    if not token or not header_value:
        return False
    scheme, _, given = header_value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(
        given.strip().encode("utf-8", "surrogatepass"), token.encode("utf-8")
    )
