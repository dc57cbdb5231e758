"""The in-memory catalogue: which entry owns each index label, when it was made, LRU order.

It owns the bookkeeping a lookup needs without touching disk (label -> entry id, created
time for TTL, scope numbers for the index filter) and the order eviction follows. It must not
read or write the store or the index; the facade keeps all three in step under its lock.

Labels of removed entries are reused, so the hnswlib graph stays as large as the live set
instead of growing with every eviction (hnswlib re-inserts a deleted label in place).
"""

from __future__ import annotations

from collections import OrderedDict
from contextlib import suppress
from itertools import islice

import numpy as np


class Catalogue:
    def __init__(self) -> None:
        self.ids: list[str | None] = []  # label -> entry id
        self.labels: dict[str, int] = {}
        self.created = np.zeros(0, dtype=np.float64)  # 0 = free label
        self.lru: OrderedDict[str, None] = OrderedDict()
        self.free: list[int] = []
        self.scope_ids: dict[str, int] = {}
        self.scope_names: list[str] = []

    def __len__(self) -> int:
        return len(self.labels)

    def scope_number(self, name: str) -> int:
        number = self.scope_ids.get(name)
        if number is None:
            number = len(self.scope_names)
            self.scope_names.append(name)
            self.scope_ids[name] = number
        return number

    def next_label(self) -> int:
        return self.free.pop() if self.free else len(self.ids)

    def entry_id(self, label: int) -> str | None:
        return self.ids[label] if 0 <= label < len(self.ids) else None

    def add(self, entry_id: str, label: int, created: float) -> None:
        if label >= len(self.ids):
            self.ids.extend([None] * (label + 1 - len(self.ids)))
        if label >= len(self.created):
            grown = np.zeros(max(label + 1, 2 * len(self.created), 1024), dtype=np.float64)
            grown[: len(self.created)] = self.created
            self.created = grown
        self.ids[label] = entry_id
        self.created[label] = created
        self.labels[entry_id] = label
        self.lru[entry_id] = None

    def remove(self, entry_id: str) -> int | None:
        """Forget an entry; returns its label (now free) or None if unknown."""
        label = self.labels.pop(entry_id, None)
        self.lru.pop(entry_id, None)
        if label is not None:
            self.ids[label] = None
            self.created[label] = 0.0
            self.free.append(label)
        return label

    def touch(self, entry_id: str) -> None:
        with suppress(KeyError):  # removed meanwhile
            self.lru.move_to_end(entry_id)

    def least_recent(self, n: int) -> list[str]:
        return list(islice(self.lru, max(0, n)))

    def older_than(self, cutoff: float) -> list[str]:
        created = self.created[: len(self.ids)]
        labels = np.nonzero((created > 0) & (created < cutoff))[0]
        return [i for i in (self.ids[int(label)] for label in labels) if i is not None]

    def recompute_free(self) -> None:
        self.free = [label for label, i in enumerate(self.ids) if i is None][::-1]

    def snapshot(self) -> dict[str, object]:
        return {
            "ids": list(self.ids),
            "created": self.created[: len(self.ids)].tolist(),
            "lru": list(self.lru),
            "scopes": list(self.scope_names),
        }

    @classmethod
    def from_snapshot(cls, meta: dict[str, object]) -> Catalogue:
        self = cls()
        ids = meta.get("ids")
        created = meta.get("created")
        lru = meta.get("lru")
        scopes = meta.get("scopes")
        if not (
            isinstance(ids, list)
            and isinstance(created, list)
            and isinstance(lru, list)
            and isinstance(scopes, list)
            and len(ids) == len(created)
        ):
            raise ValueError("manifest is incomplete")
        self.ids = [None if i is None else str(i) for i in ids]
        self.created = np.asarray(created, dtype=np.float64)
        self.labels = {i: label for label, i in enumerate(self.ids) if i is not None}
        self.lru = OrderedDict((str(i), None) for i in lru if i in self.labels)
        for entry_id in self.labels:  # entries missing from the saved order go last
            self.lru.setdefault(entry_id, None)
        self.scope_names = [str(s) for s in scopes]
        self.scope_ids = {name: n for n, name in enumerate(self.scope_names)}
        self.recompute_free()
        return self
