"""The operators' dashboard (issue #4).

Entry points:

* :func:`run_dash` — ``thongsuot dash``: attach to a running monitor's database, read-only.
* :class:`DashboardApp` — give it any :class:`~tui.board.DashboardSource`; the demo passes
  a :class:`~tui.sources.LiveSource` over a monitor running in another thread.

The refresh loop (dolphie's habit): a thread worker asks the source for a board and builds
every panel's rows (:func:`tui.panels.compute_frame`) off the UI thread; the UI thread
only diffs and writes changed cells. The next poll is armed when the previous one has been
applied, so polls never overlap and a slow database only makes the screen older, never
stuck. While another screen is on top the main tables are not drawn, but polling goes on.
"""

from __future__ import annotations

import sys
import time
from contextlib import suppress
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    Sparkline,
    Static,
    TabbedContent,
    TabPane,
)

from monitor.store import OutageRow
from sites import Inventory
from tui.board import Ack, Board, CheckDetail, DashboardSource
from tui.i18n import LANGS, Lang, t
from tui.panels import (
    STATE_FILTERS,
    Column,
    Frame,
    Index,
    View,
    clip,
    compute_frame,
    cutover_columns,
    dc_columns,
    event_columns,
    fmt_duration,
    fmt_latency,
    fmt_time,
    inventory_columns,
    matrix_columns,
    outage_columns,
    outage_tree,
    shown_state,
    state_cell,
    system_columns,
)
from tui.table import LiveTable

TABS = ("overview", "outages", "cutover", "inventory", "events")

HELP_KEYS: tuple[tuple[str, str], ...] = (
    ("?", "key.help"),
    ("/", "key.search"),
    ("enter", "key.drill"),
    ("escape", "key.back"),
    ("1 … 5", "key.tabs"),
    ("tab / shift+tab", "key.focus"),
    ("d", "key.dc"),
    ("f", "key.province"),
    ("s", "key.state"),
    ("a", "key.ack"),
    ("space", "key.fold"),
    ("l", "key.lang"),
    ("r", "key.refresh"),
    ("q", "key.quit"),
)
"""Every key the dashboard answers to, as the help screen lists them."""


class FrameReady(Message):
    """A worker finished a board and its panels."""

    def __init__(self, frame: Frame, poll_ms: float, rearm: bool) -> None:
        super().__init__()
        self.frame = frame
        self.poll_ms = poll_ms
        self.rearm = rearm


class PollFailed(Message):
    """The source raised; the message is shown literally in the status line."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class DetailReady(Message):
    """History for the detail screen arrived."""

    def __init__(self, details: dict[str, CheckDetail]) -> None:
        super().__init__()
        self.details = details


def _update(static: Static, text: Text) -> None:
    """Update a Static only when its text changed (each update costs a layout pass)."""
    if getattr(static, "_shown", None) != text:
        static._shown = text  # type: ignore[attr-defined]
        static.update(text)


def _text(*parts: tuple[str, str] | str) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis")
    for p in parts:
        if isinstance(p, str):
            out.append(p)
        else:
            out.append(p[0], style=p[1])
    return out


class HelpScreen(ModalScreen[None]):
    """Every key, in the current language."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    #help-box { width: 84; height: auto; max-height: 90%; border: round $accent;
                padding: 0 1; background: $surface; }
    """

    def __init__(self, lang: Lang) -> None:
        super().__init__()
        self.lang = lang

    def compose(self) -> ComposeResult:
        lang = self.lang
        body = Text()
        body.append(t("help.title", lang) + "\n\n", style="bold")
        for key, label in HELP_KEYS:
            body.append(f"{key:>16}  ", style="bold cyan")
            body.append(t(label, lang) + "\n")
        body.append(f"{'':>16}  {t('key.mouse', lang)}\n\n", style="grey62")
        body.append(t("help.close", lang), style="grey62")
        with VerticalScroll(id="help-box"):
            yield Static(body, id="help-text")

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)


class AckScreen(ModalScreen[tuple[str, str] | None]):
    """Ask for a name and a note to acknowledge one outage."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    AckScreen { align: center middle; }
    #ack-box { width: 76; height: auto; border: round $warning; padding: 0 1;
               background: $surface; }
    #ack-box Input { margin: 0 0 1 0; }
    #ack-buttons { height: auto; align: right middle; }
    #ack-error { color: $error; height: auto; }
    """

    def __init__(self, lang: Lang, what: str, by: str = "") -> None:
        super().__init__()
        self.lang = lang
        self.what = what
        self.by = by

    def compose(self) -> ComposeResult:
        lang = self.lang
        with Vertical(id="ack-box"):
            yield Static(_text((t("ack.title", lang), "bold")))
            yield Static(Text(self.what, no_wrap=True, overflow="ellipsis"), id="ack-what")
            yield Label(t("ack.by", lang))
            yield Input(value=self.by, id="ack-by")
            yield Label(t("ack.note", lang))
            yield Input(id="ack-note")
            yield Static("", id="ack-error")
            with Horizontal(id="ack-buttons"):
                yield Button(t("ack.save", lang), variant="primary", id="ack-save")
                yield Button(t("ack.cancel", lang), id="ack-cancel")

    def on_mount(self) -> None:
        self.query_one("#ack-by" if not self.by else "#ack-note", Input).focus()

    @on(Input.Submitted, "#ack-by")
    def _next(self) -> None:
        self.query_one("#ack-note", Input).focus()

    @on(Input.Submitted, "#ack-note")
    @on(Button.Pressed, "#ack-save")
    def _save(self) -> None:
        by = self.query_one("#ack-by", Input).value.strip()
        note = self.query_one("#ack-note", Input).value.strip()
        if not by:
            self.query_one("#ack-error", Static).update(t("ack.need_name", self.lang))
            self.query_one("#ack-by", Input).focus()
            return
        self.dismiss((by, note))

    @on(Button.Pressed, "#ack-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class _DashboardScreen(Screen[None]):
    """A screen of the dashboard, with the app at hand as :class:`DashboardApp`."""

    @property
    def dash(self) -> DashboardApp:
        app = self.app
        assert isinstance(app, DashboardApp)
        return app


class DetailScreen(_DashboardScreen):
    """One data centre, site, system or check: facts, checks, latency chart, history."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("a", "ack", "Acknowledge"),
        Binding("r", "reload", "Refresh"),
    ]
    DEFAULT_CSS = """
    #detail-title { height: 1; background: $boost; }
    #detail-facts { height: auto; max-height: 4; }
    #detail-top { height: 12; }
    #detail-checks { width: 1fr; }
    #detail-snmp { width: 60; height: 12; border-left: vkey $panel; padding: 0 1; }
    #detail-chart-title { height: 1; }
    #detail-chart { height: 3; }
    #detail-bottom { height: 1fr; }
    #detail-obs { width: 1fr; }
    #detail-outages { width: 1fr; }
    """

    def __init__(self, element: str, check: str | None = None) -> None:
        super().__init__()
        self.element = element
        self.selected = check
        self.details: dict[str, CheckDetail] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="detail-title")
        yield Static(id="detail-facts")
        with Horizontal(id="detail-top"):
            yield LiveTable(id="detail-checks")
            yield Static(id="detail-snmp")
        yield Static(id="detail-chart-title")
        yield Sparkline([], id="detail-chart")
        with Horizontal(id="detail-bottom"):
            yield LiveTable(id="detail-obs")
            yield LiveTable(id="detail-outages")
        yield Static(id="detail-hint")

    ready = False
    """True once composed."""

    def on_mount(self) -> None:
        checks = self.dash.index.by_element.get(self.element, [])
        if self.selected is None and checks:
            self.selected = checks[0]
        self.ready = True
        self.redraw()
        table = self.query_one("#detail-checks", LiveTable)
        if self.selected in checks:
            table.move_cursor(row=checks.index(self.selected))
        table.focus()
        self.action_reload()
        self.set_interval(2.0, self.action_reload)

    def action_back(self) -> None:
        self.dismiss(None)

    def action_ack(self) -> None:
        if self.selected is not None:
            self.dash.acknowledge_checks([self.selected])

    def action_reload(self) -> None:
        checks = [c for c in (self.selected, self._snmp_check()) if c is not None]
        if checks:
            self._load(list(dict.fromkeys(checks)))

    @work(thread=True, group="detail", exclusive=True, exit_on_error=False)
    def _load(self, checks: list[str]) -> None:
        try:
            details = self.dash.source.detail(checks)
        except Exception as exc:
            self.app.post_message(PollFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(DetailReady(details))

    def on_detail_ready(self, message: DetailReady) -> None:
        self.details.update(message.details)
        if self.ready:
            self.redraw()

    def _snmp_check(self) -> str | None:
        index = self.dash.index
        for c in index.by_element.get(self.element, []):
            if index.checks[c].kind == "snmp":
                return c
        return None

    @on(DataTable.RowHighlighted, "#detail-checks")
    def _highlight(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        if key is not None and key != self.selected and self.ready:
            self.selected = key
            self.redraw()
            self.action_reload()

    def on_unmount(self) -> None:
        self.ready = False

    def redraw(self) -> None:
        """Draw from the latest board and the history loaded so far."""
        # Being dismissed, or the app is closing: nothing left to draw on.
        with suppress(NoMatches):
            self._redraw()

    def _redraw(self) -> None:
        dash = self.dash
        lang, tz, index = dash.view.lang, dash.tz, dash.index
        board = dash.board
        now = board.ts if board is not None else time.time()
        kind = index.element_type(self.element)
        name = index.element_name(self.element)
        _update(
            self.query_one("#detail-title", Static),
            _text(
                (f" {t('type.' + kind, lang) if kind else ''}: ", "bold"),
                (name, "bold"),
                (f"  ({self.element})", "grey62"),
            ),
        )
        _update(self.query_one("#detail-facts", Static), self._facts(lang))
        checks = index.by_element.get(self.element, [])
        table = self.query_one("#detail-checks", LiveTable)
        table.set_columns(
            [
                Column("check", t("col.check", lang), 26),
                Column("kind", t("col.kind", lang), 5),
                Column("state", t("col.state", lang), 12),
                Column("since", t("col.since", lang), 11),
                Column("latency", t("col.latency", lang), 9),
                Column("reason", t("col.reason", lang), 40),
            ]
        )
        rows = []
        for c in checks:
            spec = index.checks[c]
            row = board.checks.get(c) if board is not None else None
            state = shown_state(row, spec)
            rows.append(
                (
                    c,
                    (
                        (clip(spec.role or c.split(".", 1)[-1], 26), ""),
                        (spec.kind, "grey62"),
                        state_cell(state, lang),
                        (fmt_time(row.since if row else None, tz, now), ""),
                        (fmt_latency(row.latency_ms if row else None), ""),
                        (clip(row.reason if row else "", 40), "grey70"),
                    ),
                )
            )
        table.apply(rows)
        _update(self.query_one("#detail-snmp", Static), self._snmp(lang))
        self._draw_history(lang, tz, now)
        _update(
            self.query_one("#detail-hint", Static),
            _text(
                ("esc", "bold cyan"),
                f" {t('key.back', lang)}  ",
                ("a", "bold cyan"),
                f" {t('key.ack', lang)}  ",
                ("r", "bold cyan"),
                f" {t('key.refresh', lang)}",
            ),
        )

    def _facts(self, lang: Lang) -> Text:
        index = self.dash.index
        out = Text()
        site = index.sites.get(self.element)
        system = index.systems.get(self.element)
        dc = index.datacenters.get(self.element)
        facts: list[tuple[str, str]] = []
        if site is not None:
            facts += [
                (t("col.kind", lang), site.kind),
                (t("col.former", lang), site.former_province),
                (t("col.dc", lang), index.dc_short(site.datacenter)),
                (t("col.lifecycle", lang), str(site.lifecycle)),
            ]
            if site.old_domains:
                facts.append(("old", ", ".join(d.domain for d in site.old_domains)))
        elif system is not None:
            facts += [
                (t("col.kind", lang), system.category),
                (t("col.dc", lang), index.dc_short(system.datacenter)),
                (t("col.lifecycle", lang), str(system.lifecycle)),
            ]
            if system.source:
                facts.append(("src", system.source))
        elif dc is not None:
            facts += [
                (t("col.former", lang), dc.former_province),
                (t("col.lifecycle", lang), str(dc.lifecycle)),
            ]
            if dc.location:
                facts.append(("loc", dc.location))
        for label, value in facts:
            out.append(f" {label}: ", style="grey62")
            out.append(value)
        return out

    def _snmp(self, lang: Lang) -> Text:
        out = Text()
        out.append(t("detail.snmp", lang) + "\n", style="bold")
        key = self._snmp_check()
        detail = self.details.get(key) if key is not None else None
        values = None
        if detail is not None:
            for obs in detail.observations:
                if obs.values:
                    values = obs.values
                    break
        if values is None:
            out.append(t("detail.none", lang), style="grey50")
            return out
        for label, field in (("sysName", "sys_name"), ("sysDescr", "sys_descr")):
            out.append(f"{label}: ", style="grey62")
            out.append(str(values.get(field) or "—") + "\n")
        uptime = values.get("sys_uptime_s")
        out.append("uptime: ", style="grey62")
        out.append(
            (fmt_duration(float(uptime), lang) if isinstance(uptime, int | float) else "—") + "\n"
        )
        for k, v in sorted(values.items()):
            if k.startswith("if.") and k.endswith(".oper_status"):
                ifname = k[3 : -len(".oper_status")]
                out.append(f"  {ifname}: ", style="grey62")
                out.append(str(v), style="green" if v == "up" else "bold red")
                out.append("\n")
        return out

    def _draw_history(self, lang: Lang, tz: ZoneInfo, now: float) -> None:
        index = self.dash.index
        sel = self.selected
        detail = self.details.get(sel) if sel is not None else None
        obs = detail.observations if detail is not None else ()
        latencies = [o.latency_ms for o in reversed(obs) if o.latency_ms is not None]
        name = index.checks[sel].name if sel is not None and sel in index.checks else (sel or "")
        stats = ""
        if latencies:
            stats = (
                f"  min {fmt_latency(min(latencies))} · "
                f"avg {fmt_latency(sum(latencies) / len(latencies))} · "
                f"max {fmt_latency(max(latencies))}"
            )
        _update(
            self.query_one("#detail-chart-title", Static),
            _text((f" {t('detail.latency', lang)}: ", "bold"), name, (stats, "grey62")),
        )
        chart = self.query_one("#detail-chart", Sparkline)
        data = latencies or [0.0]
        if chart.data != data:
            chart.data = data
        obs_table = self.query_one("#detail-obs", LiveTable)
        obs_table.set_columns(
            [
                Column("time", t("col.time", lang), 14),
                Column("result", t("col.result", lang), 11),
                Column("latency", t("col.latency", lang), 9),
                Column("reason", t("col.reason", lang), 40),
            ]
        )
        styles = {0: "green", 1: "dark_orange", 2: "bold red", 3: "magenta"}
        obs_table.apply(
            [
                (
                    f"{o.ts!r}#{i}",
                    (
                        (fmt_time(o.ts, tz, now), ""),
                        (t(f"outcome.{o.outcome}", lang), styles.get(o.outcome, "italic")),
                        (fmt_latency(o.latency_ms), ""),
                        (clip(o.reason, 40), "grey70"),
                    ),
                )
                for i, o in enumerate(obs)
            ]
        )
        out_table = self.query_one("#detail-outages", LiveTable)
        out_table.set_columns(
            [
                Column("start", t("col.start", lang), 14),
                Column("end", t("col.end", lang), 14),
                Column("duration", t("col.duration", lang), 12),
                Column("reason", t("col.reason", lang), 34),
            ]
        )
        outages = detail.outages if detail is not None else ()
        out_table.apply(
            [
                (
                    str(o.id),
                    (
                        (fmt_time(o.start_ts, tz, now), ""),
                        (fmt_time(o.end_ts, tz, now) if o.end_ts else "…", ""),
                        (fmt_duration((o.end_ts or now) - o.start_ts, lang), "bold"),
                        (clip(o.reason, 34), "grey70"),
                    ),
                )
                for o in outages
            ]
        )


class MainScreen(_DashboardScreen):
    """Overview, outages, cutover, inventory and events, as tabs."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search"),
        Binding("escape", "back", "Back"),
        Binding("d", "cycle_dc", "Data centre"),
        Binding("f", "cycle_province", "Former province"),
        Binding("s", "cycle_state", "State"),
        Binding("a", "ack", "Acknowledge"),
        Binding("space", "fold", "Fold"),
        *(
            Binding(str(i + 1), f"tab('{tab}')", tab.title(), show=False)
            for i, tab in enumerate(TABS)
        ),
    ]
    DEFAULT_CSS = """
    #title { height: 1; background: $primary-background; }
    #summary { height: 1; }
    #dcs { height: 5; }
    #overview-body { height: 1fr; }
    #matrix { width: 1fr; }
    #systems { width: 52; }
    #search { height: 3; }
    #status { height: 1; background: $boost; }
    #hint { height: 1; color: $text-muted; }
    #tabs { height: 1fr; }
    #tabs > ContentSwitcher { height: 1fr; }
    TabPane { padding: 0; height: 1fr; }
    """

    def compose(self) -> ComposeResult:
        lang = self.dash.view.lang
        yield Static(id="title")
        yield Static(id="summary")
        with TabbedContent(id="tabs", initial="tab-overview"):
            with TabPane(t("tab.overview", lang), id="tab-overview"):
                yield LiveTable(id="dcs")
                with Horizontal(id="overview-body"):
                    yield LiveTable(id="matrix")
                    yield LiveTable(id="systems")
            with TabPane(t("tab.outages", lang), id="tab-outages"):
                yield LiveTable(id="outages")
            with TabPane(t("tab.cutover", lang), id="tab-cutover"):
                yield LiveTable(id="cutovers")
            with TabPane(t("tab.inventory", lang), id="tab-inventory"):
                yield Input(placeholder=t("search.placeholder", lang), id="search")
                yield LiveTable(id="inventory")
            with TabPane(t("tab.events", lang), id="tab-events"):
                yield LiveTable(id="events")
        yield Static(id="status")
        yield Static(id="hint")

    ready = False
    """True once composed (frames arriving earlier wait for on_mount)."""

    def on_mount(self) -> None:
        self.set_labels()
        self.query_one("#matrix", LiveTable).focus()
        self.ready = True
        if self.dash.frame is not None:
            self.dash.apply_frame(self.dash.frame)

    def on_screen_resume(self) -> None:
        if self.dash.frame is not None:
            self.dash.apply_frame(self.dash.frame)

    def set_labels(self) -> None:
        """Columns, tab titles and hints in the current language."""
        lang = self.dash.view.lang
        for table_id, columns in (
            ("dcs", dc_columns),
            ("matrix", matrix_columns),
            ("systems", system_columns),
            ("outages", outage_columns),
            ("cutovers", cutover_columns),
            ("inventory", inventory_columns),
            ("events", event_columns),
        ):
            self.query_one(f"#{table_id}", LiveTable).set_columns(columns(lang))
        tabs = self.query_one(TabbedContent)
        for tab in TABS:
            tabs.get_tab(f"tab-{tab}").label = t(f"tab.{tab}", lang)
        self.query_one("#search", Input).placeholder = t("search.placeholder", lang)
        hint = Text(no_wrap=True, overflow="ellipsis")
        for key, label in (
            ("?", "key.help"),
            ("/", "key.search"),
            ("↵", "key.drill"),
            ("d/f/s", "status.filter"),
            ("a", "key.ack"),
            ("l", "key.lang"),
            ("q", "key.quit"),
        ):
            hint.append(f" {key} ", style="bold cyan")
            hint.append(t(label, lang).split(" (")[0] + " ")
        _update(self.query_one("#hint", Static), hint)

    def on_unmount(self) -> None:
        self.ready = False

    def show(self, frame: Frame) -> None:
        """Apply one frame: only changed cells are written."""
        with suppress(NoMatches):  # the app is closing
            self._show(frame)

    def _show(self, frame: Frame) -> None:
        dash = self.dash
        view = dash.view
        lang = view.lang
        board = frame.board
        tables = (
            ("dcs", frame.dcs),
            ("matrix", frame.matrix),
            ("systems", frame.systems),
            ("outages", frame.outages),
            ("cutovers", frame.cutovers),
            ("inventory", frame.inventory),
            ("events", frame.events),
        )
        written = 0
        for table_id, rows in tables:
            written += self.query_one(f"#{table_id}", LiveTable).apply(rows)
        dash.cells_written = written
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(f" {t('title', lang)} ", style="bold")
        title.append(f"· {dash.inventory.province.name} ", style="")
        local = datetime.fromtimestamp(board.ts, dash.tz).strftime("%H:%M:%S %d/%m/%Y")
        title.append(f"· {local} ", style="grey70")
        _update(self.query_one("#title", Static), title)
        _update(
            self.query_one("#summary", Static),
            Text.assemble(*((text, style) for text, style in frame.summary)),
        )
        status = Text(no_wrap=True, overflow="ellipsis")
        status.append(f" {t('status.source', lang)}: ", style="grey62")
        status.append(board.source)
        status.append(f" · {len(board.checks)} {t('status.checks', lang)}")
        status.append(f" · {len(board.outages)} {t('status.open', lang)}")
        status.append(f" · {t('status.filter', lang)}: ", style="grey62")
        dc = dash.index.dc_short(view.dc) if view.dc else t("filter.all", lang)
        status.append(f"{t('col.dc', lang)}={dc}, ")
        status.append(f"{t('col.former', lang)}={view.province or t('filter.all', lang)}, ")
        status.append(f"{t('status.state', lang)}={t('filter.' + view.state, lang)}")
        if view.search:
            status.append(f" · /{view.search} ({len(frame.inventory)} {t('search.count', lang)})")
        if dash.show_timing:
            status.append(
                f" · {t('status.refresh', lang)} {dash.poll_ms:.0f}+{dash.apply_ms:.0f} ms",
                style="grey50",
            )
        warning = dash.error or board.warning
        if warning:
            status.append(" · ⚠ ", style="bold yellow")
            status.append(warning, style="yellow")
        _update(self.query_one("#status", Static), status)

    def _active_tab(self) -> str:
        active = self.query_one(TabbedContent).active
        return active.removeprefix("tab-")

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = f"tab-{tab}"
        first = {
            "overview": "#matrix",
            "outages": "#outages",
            "cutover": "#cutovers",
            "inventory": "#inventory",
            "events": "#events",
        }[tab]
        self.query_one(first, LiveTable).focus()

    def action_search(self) -> None:
        self.query_one(TabbedContent).active = "tab-inventory"
        self.query_one("#search", Input).focus()

    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.dash.set_view(search=event.value)

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self.query_one("#inventory", LiveTable).focus()

    def action_back(self) -> None:
        search = self.query_one("#search", Input)
        if search.value or self.focused is search:
            search.value = ""
            self.query_one("#inventory", LiveTable).focus()
            self.dash.set_view(search="")
            return
        self.dash.set_view(dc=None, province=None, state="all")

    def action_cycle_dc(self) -> None:
        options: list[str | None] = [None, *self.dash.index.dc_ids]
        self.dash.set_view(dc=options[(options.index(self.dash.view.dc) + 1) % len(options)])

    def action_cycle_province(self) -> None:
        options: list[str | None] = [None, *self.dash.index.provinces]
        current = self.dash.view.province
        self.dash.set_view(province=options[(options.index(current) + 1) % len(options)])

    def action_cycle_state(self) -> None:
        current = self.dash.view.state
        self.dash.set_view(state=STATE_FILTERS[(STATE_FILTERS.index(current) + 1) % 3])

    def _focused_table(self) -> LiveTable | None:
        focused = self.focused
        return focused if isinstance(focused, LiveTable) else None

    def action_fold(self) -> None:
        table = self._focused_table()
        if table is None or table.id != "outages" or table.current_key is None:
            return
        outage_id = int(table.current_key.removeprefix("o:"))
        expanded = set(self.dash.view.expanded)
        expanded.symmetric_difference_update({outage_id})
        self.dash.set_view(expanded=frozenset(expanded))

    def action_ack(self) -> None:
        table = self._focused_table()
        key = table.current_key if table is not None else None
        if table is None or key is None:
            self.dash.notify(t("ack.nothing", self.dash.view.lang))
            return
        if table.id == "outages":
            self.dash.acknowledge_outage(int(key.removeprefix("o:")))
            return
        self.dash.acknowledge_checks(self.dash.checks_for_row(table.id or "", key))

    @on(DataTable.RowSelected)
    def _drill(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        table_id = event.data_table.id or ""
        if key is None:
            return
        element, check = self.dash.target_of_row(table_id, key)
        if element is not None:
            self.dash.push_screen(DetailScreen(element, check))


class DashboardApp(App[int]):
    """The dashboard over any :class:`~tui.board.DashboardSource`.

    ``period`` is the seconds between the end of one refresh and the start of the next;
    ``lang`` defaults to the inventory's locale; ``show_timing`` adds refresh costs to the
    status line (off for snapshot tests, whose pictures must not change).
    """

    TITLE = "thongsuot"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("l", "lang", "Language"),
        Binding("r", "refresh_now", "Refresh"),
    ]

    def __init__(
        self,
        source: DashboardSource,
        inventory: Inventory,
        *,
        period: float = 1.0,
        lang: Lang | None = None,
        show_timing: bool = True,
        ack_name: str = "",
    ) -> None:
        super().__init__()
        # Calm and cheap: no sliding tab underlines or smooth scrolls on a wall screen.
        self.animation_level = "none"
        self.source = source
        self.inventory = inventory
        self.index = Index(inventory)
        self.period = period
        self.tz = ZoneInfo(inventory.province.timezone)
        self.view = View(lang=lang or inventory.province.locale, tz=self.tz)
        self.show_timing = show_timing
        self.ack_name = ack_name
        self.board: Board | None = None
        self.frame: Frame | None = None
        self.error = ""
        self.poll_ms = 0.0
        self.apply_ms = 0.0
        self.cells_written = 0
        self.frames_applied = 0
        self._poll_started = 0.0
        self._timer: Any = None
        self.main = MainScreen()

    def get_default_screen(self) -> Screen[Any]:
        return self.main

    def on_mount(self) -> None:
        self._poll()

    def _arm(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.stop()
        # Textual timers divide by their delay: never zero.
        self._timer = self.set_timer(max(0.01, delay), self._poll)

    def _poll(self) -> None:
        self._timer = None
        self._poll_started = time.perf_counter()
        self._poll_worker(self.view)

    @work(thread=True, group="poll", exit_on_error=False)
    def _poll_worker(self, view: View) -> None:
        t0 = time.perf_counter()
        try:
            board = self.source.snapshot()
            frame = compute_frame(board, self.index, view)
        except Exception as exc:
            self.post_message(PollFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(FrameReady(frame, (time.perf_counter() - t0) * 1000, rearm=True))

    @work(thread=True, group="recompute", exclusive=True, exit_on_error=False)
    def _recompute(self, board: Board, view: View) -> None:
        t0 = time.perf_counter()
        frame = compute_frame(board, self.index, view)
        self.post_message(FrameReady(frame, (time.perf_counter() - t0) * 1000, rearm=False))

    def on_poll_failed(self, message: PollFailed) -> None:
        self.error = message.error
        if not self.screen_stack or not self.main.ready or self.screen is not self.main:
            pass
        elif self.frame is not None:
            self.main.show(self.frame)
        else:
            status = Text(f" {t('status.error', self.view.lang)}: ", style="bold red")
            status.append(message.error)
            _update(self.main.query_one("#status", Static), status)
        self._arm(self.period)

    def on_frame_ready(self, message: FrameReady) -> None:
        frame = message.frame
        self.board = frame.board
        if message.rearm:
            self.error = ""
            self.poll_ms = message.poll_ms
            elapsed = time.perf_counter() - self._poll_started
            self._arm(self.period - elapsed)
        if frame.view != self.view:
            # Built for a view the operator has since changed: redo it from this board.
            self._recompute(frame.board, self.view)
            return
        self.frame = frame
        self.apply_frame(frame)

    def apply_frame(self, frame: Frame) -> None:
        """Draw a frame on the main screen, unless another screen is on top."""
        if not self.screen_stack:
            return  # shutting down
        screen = self.screen
        if not getattr(screen, "ready", False):
            return  # still composing; it draws the latest frame when mounted
        if screen is self.main:
            t0 = time.perf_counter()
            self.main.show(frame)
            self.apply_ms = (time.perf_counter() - t0) * 1000
            self.frames_applied += 1
        elif isinstance(screen, DetailScreen):
            screen.redraw()

    def set_view(self, **changes: Any) -> None:
        """Change filters, search or language and redraw from the last board at once."""
        new = replace(self.view, **changes)
        if new == self.view:
            return
        self.view = new
        if self.board is not None:
            self._recompute(self.board, new)

    def action_refresh_now(self) -> None:
        if self._timer is not None:
            self._arm(0)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen(self.view.lang))

    def action_lang(self) -> None:
        lang = LANGS[(LANGS.index(self.view.lang) + 1) % len(LANGS)]
        self.set_view(lang=lang)
        self.main.set_labels()
        if isinstance(self.screen, DetailScreen):
            self.screen.redraw()

    def target_of_row(self, table_id: str, key: str) -> tuple[str | None, str | None]:
        """The (element, check) a row of a main table stands for."""
        if table_id in ("dcs", "matrix", "systems"):
            return key, None
        if table_id == "outages":
            outage = self._outage(int(key.removeprefix("o:")))
            if outage is None:
                return None, None
            check = outage.check
        elif table_id == "events":
            check = key.split("@", 1)[0]
        elif table_id == "inventory":
            check = key
        else:
            return None, None
        spec = self.index.checks.get(check)
        return (spec.element, check) if spec is not None else (None, None)

    def checks_for_row(self, table_id: str, key: str) -> list[str]:
        """The checks a main-table row covers (for acknowledging)."""
        element, check = self.target_of_row(table_id, key)
        if check is not None:
            return [check]
        if element is None:
            return []
        return list(self.index.by_element.get(element, []))

    def _outage(self, outage_id: int) -> OutageRow | None:
        if self.board is None:
            return None
        for o in self.board.outages:
            if o.id == outage_id:
                return o
        return None

    def acknowledge_checks(self, checks: list[str]) -> None:
        """Acknowledge the most significant open outage among ``checks``."""
        if self.board is not None and checks:
            wanted = set(checks)
            for root, children in outage_tree(self.board, self.index):
                for o in (root, *children):
                    if o.check in wanted:
                        self.acknowledge_outage(o.id)
                        return
        self.notify(t("ack.nothing", self.view.lang))

    def acknowledge_outage(self, outage_id: int) -> None:
        """Ask for a name and note, then store the acknowledgement off the UI thread."""
        outage = self._outage(outage_id)
        if outage is None:
            self.notify(t("ack.nothing", self.view.lang))
            return
        spec = self.index.checks.get(outage.check)
        what = f"{spec.name if spec else outage.check} — {outage.reason}"

        def done(result: tuple[str, str] | None) -> None:
            if result is None:
                return
            by, note = result
            self.ack_name = by
            self._store_ack(Ack(outage.check, outage.start_ts, by, note, time.time()))

        self.push_screen(AckScreen(self.view.lang, what, self.ack_name), done)

    @work(thread=True, group="ack", exit_on_error=False)
    def _store_ack(self, ack: Ack) -> None:
        try:
            self.source.acknowledge(ack)
        except Exception as exc:
            self.call_from_thread(
                self.notify, f"{type(exc).__name__}: {exc}", severity="error", markup=False
            )
            return
        self.call_from_thread(
            self.notify, f"{t('ack.done', self.view.lang)}: {ack.by}", markup=False
        )
        self.call_from_thread(self.action_refresh_now)


def run_dash(inventory: Inventory, db_path: str | Path, *, period: float = 1.0) -> int:
    """``thongsuot dash``: show a running monitor's database; return the exit code.

    Exits 2 with a message when there is no database at ``db_path`` yet.
    """
    from tui.sources import DbSource

    path = Path(db_path)
    if not path.exists():
        print(
            f"error: no monitor database at {path}; start the monitor first "
            "(thongsuot run) or pass the path it writes to",
            file=sys.stderr,
        )
        return 2
    source = DbSource(path, inventory)
    try:
        app = DashboardApp(source, inventory, period=period)
        code = app.run()
    finally:
        source.close()
    return code or 0


__all__ = ["HELP_KEYS", "DashboardApp", "run_dash"]
