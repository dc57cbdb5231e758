"""Recent route scores in 20 bins over [0, 1], coloured by the tier each bin routes to, with
the cut points drawn through it: where the knobs sit against the traffic."""

from __future__ import annotations

import bisect

from rich.console import RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from appliance.admin.messages import Stats
from tui.units import BLOCKS
from tui.widgets.share_sparklines import tier_colour

HEIGHT = 5  # rows of bars
CELL = 2  # columns per bin


class ScoreHistogram(Widget):
    stats: reactive[Stats | None] = reactive(None)

    def render(self) -> RenderableType:
        if self.stats is None:
            return Text("")
        bins = self.stats.routing.score_histogram or [0]
        cuts = self.stats.routing.cut_points
        width = len(bins) * CELL
        cut_columns = {min(round(c * width), width - 1) for c in cuts}
        top = max(bins) or 1
        text = Text()
        for row in range(HEIGHT, 0, -1):
            for column in range(width):
                index = column // CELL
                eighths = round(bins[index] / top * HEIGHT * 8) - (row - 1) * 8
                centre = (index + 0.5) / len(bins)
                colour = tier_colour(bisect.bisect_right(cuts, centre))
                if column in cut_columns and eighths <= 0:
                    text.append("│", style="bold yellow")
                elif eighths <= 0:
                    text.append(" ")
                else:
                    text.append(BLOCKS[min(eighths, 8)], style=colour)
            text.append("\n")
        axis = ["─"] * width
        for column in cut_columns:
            axis[column] = "┴"
        text.append("".join(axis) + "\n", style="dim")
        labels = [" "] * (width + 6)
        labels[0] = "0"
        labels[width - 1] = "1"
        for cut in cuts:
            label = f"{cut:.2f}"
            start = min(max(round(cut * width) - 2, 2), width - len(label) - 1)
            labels[start : start + len(label)] = list(label)
        text.append("".join(labels).rstrip(), style="yellow")
        return text
