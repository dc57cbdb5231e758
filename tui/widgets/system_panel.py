"""The server's load as the daemon samples it: CPU, RAM, and each GPU. A box without a GPU is
a normal state and reads "no GPU", never as an error."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from appliance.admin.messages import GpuStats, Stats
from tui.daemon_info import fleet_link_line
from tui.units import bar, gib, mib

BAR = 14


def _level(fraction: float) -> str:
    return "red" if fraction >= 0.9 else "yellow" if fraction >= 0.7 else "green"


def _uptime(seconds: float) -> str:
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if days else f"{hours}h {minutes:02d}m"


class SystemPanel(Widget):
    """The server's CPU, RAM and each GPU (use, memory, temperature, power), its ledger, and
    in a fleet its link to Redis."""

    stats: reactive[Stats | None] = reactive(None)

    def on_mount(self) -> None:
        self.border_title = "System"

    def render(self) -> RenderableType:
        if self.stats is None:
            return Text("")
        system = self.stats.system
        table = Table(box=None, expand=True, pad_edge=False, show_header=False)
        table.add_column("what", no_wrap=True, style="bold", min_width=6)
        table.add_column("bar", no_wrap=True, width=BAR)
        table.add_column("value", no_wrap=True, ratio=1)
        cpu = system.cpu_percent / 100
        load = " ".join(f"{x:.1f}" for x in system.load_avg)
        table.add_row(
            "CPU", Text(bar(cpu, BAR), style=_level(cpu)), f"{system.cpu_percent:.0f}%  load {load}"
        )
        ram = system.ram_used_bytes / system.ram_total_bytes if system.ram_total_bytes else 0.0
        table.add_row(
            "RAM",
            Text(bar(ram, BAR), style=_level(ram)),
            f"{gib(system.ram_used_bytes)}/{gib(system.ram_total_bytes)} GiB",
        )
        table.add_row(
            "daemon", "", f"{mib(system.process_rss_bytes)} RSS, up {_uptime(self.stats.uptime_s)}"
        )
        for gpu in system.gpus:
            self._add_gpu(table, gpu)
        if not system.gpus:
            reason = system.gpu_error or ""
            table.add_row("GPU", Text("no GPU", style="dim"), Text(reason, style="dim"))
        ledger = self.stats.ledger
        table.add_row(
            "ledger",
            Text("ok", style="green") if ledger.ok else Text("failing", style="bold red"),
            ledger.error or "",
        )
        link, healthy = fleet_link_line(self.stats)
        if link:
            state = Text("ok", style="green") if healthy else Text("alone", style="bold red")
            table.add_row("fleet", state, link)
        return table

    @staticmethod
    def _add_gpu(table: Table, gpu: GpuStats) -> None:
        util = (gpu.utilization_percent or 0.0) / 100
        table.add_row(
            f"GPU{gpu.index}",
            Text(bar(util, BAR), style=_level(util)),
            f"{gpu.utilization_percent or 0:.0f}%  {gpu.name}",
        )
        memory = (
            (gpu.memory_used_bytes or 0) / gpu.memory_total_bytes if gpu.memory_total_bytes else 0.0
        )
        temperature = f"{gpu.temperature_c:.0f}°C" if gpu.temperature_c is not None else "?°C"
        power = f"{gpu.power_w:.0f} W" if gpu.power_w is not None else "? W"
        table.add_row(
            "",
            Text(bar(memory, BAR), style=_level(memory)),
            f"{gib(gpu.memory_used_bytes)}/{gib(gpu.memory_total_bytes)} GiB  "
            f"{temperature}  {power}",
        )
