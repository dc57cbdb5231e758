"""What the request feed's filter (`/`) means: `tier:local cache:hit client:alice`, free text,
or both. No Textual here, so the rules are tested without a screen.

Terms separated by spaces must all match. `key:value` compares the start of that field,
case-insensitively (`tier:fr` finds "frontier"); the same key given twice means either
(`tier:local tier:mid`). Any other word must appear somewhere in the row: client, tier,
cache outcome, model, route, status or request id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.admin.messages import RequestEvent

KEYS = ("client", "tier", "cache", "status", "model")
SYNTAX = (
    "tier:local cache:hit client:alice: fields start with the value (tier:fr finds frontier);\n"
    "the same key twice means either (tier:local tier:mid); any other word is searched in the\n"
    f"whole row. Keys: {', '.join(KEYS)}. Empty filter: every request."
)


@dataclass(frozen=True)
class FeedFilter:
    text: str = ""
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    words: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()  # `key:` prefixes that are not KEYS, searched as text

    @classmethod
    def parse(cls, text: str) -> FeedFilter:
        fields: dict[str, tuple[str, ...]] = {}
        words: list[str] = []
        unknown: list[str] = []
        for term in text.lower().split():
            key, sep, value = term.partition(":")
            if sep and key in KEYS and value:
                fields[key] = (*fields.get(key, ()), value)
                continue
            if sep and key and value and key not in KEYS:
                unknown.append(key)
            words.append(term)
        return cls(" ".join(text.split()), fields, tuple(words), tuple(unknown))

    def __bool__(self) -> bool:
        return bool(self.fields or self.words)

    def matches(self, event: RequestEvent) -> bool:
        for key, values in self.fields.items():
            value = str(getattr(event, key)).lower()
            if not any(value.startswith(wanted) for wanted in values):
                return False
        if self.words:
            row = " ".join(
                (
                    event.id,
                    event.client,
                    event.tier,
                    event.cache,
                    event.model,
                    event.route_reason,
                    event.status,
                )
            ).lower()
            return all(word in row for word in self.words)
        return True
