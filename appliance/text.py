"""How the gateway sees a prompt's text before it hashes, embeds or scores it.

One definition shared by the cache key (`cache.scope`) and the router's features, so the two
never disagree about what "the same text" is.
"""

from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """NFKC and collapsed whitespace; case and punctuation are kept because they can matter
    ("US" vs "us", "C" vs "C#") and the exact tier must never merge different requests."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()
