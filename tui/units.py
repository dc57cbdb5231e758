"""How numbers read on screen: money, bytes, percentages, bars. No Textual here."""

from __future__ import annotations

BLOCKS = " ▁▂▃▄▅▆▇█"


def money(usd: float) -> str:
    """Cents for sums, more digits for the sub-cent amounts a single request costs."""
    if abs(usd) >= 100:
        return f"${usd:,.0f}"
    if abs(usd) >= 1:
        return f"${usd:,.2f}"
    if usd == 0:
        return "$0"
    return f"${usd:.4f}"


def percent(fraction: float) -> str:
    return f"{fraction * 100:.1f}%"


def gib(n_bytes: int | None) -> str:
    if n_bytes is None:
        return "?"
    return f"{n_bytes / 2**30:.1f}"


def mib(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.0f} MiB"


def bar(fraction: float, width: int) -> str:
    """A horizontal bar of `width` cells, eighth-cell resolution."""
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = round(fraction * width * 8)
    full, rest = divmod(eighths, 8)
    partial = "▏▎▍▌▋▊▉"[rest - 1] if rest else ""
    return ("█" * full + partial).ljust(width, "·")


def sparkline(values: list[int], width: int) -> str:
    """The last `width` values as block characters scaled to their own maximum."""
    values = values[-width:]
    top = max(values, default=0)
    if top <= 0:
        return ("▁" * len(values)).rjust(width)
    return "".join(BLOCKS[max(1, round(v / top * 8))] if v else "▁" for v in values).rjust(width)
