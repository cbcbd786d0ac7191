"""A DataTable that takes whole panels of rows and applies only what changed."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from tui.panels import Cell, Column, Row

REBUILD_LIMIT = 600
"""Tables up to this many rows are rebuilt in order when their row set changes; bigger
ones get rows removed and appended instead (a rebuild of 10k rows stalls ~1 s)."""


def cell_text(cell: Cell) -> Text:
    """A cell as Rich ``Text``: never parsed as markup, so device text shows literally."""
    text, style = cell
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


class LiveTable(DataTable[Text]):
    """Fixed-width columns; :meth:`apply` diffs against what is shown and updates cells in
    place (never ``update_width=True``, NOTES A5.1)."""

    DEFAULT_CSS = """
    LiveTable { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(
            id=id,
            classes=classes,
            cursor_type="row",
            zebra_stripes=False,
            cursor_foreground_priority="renderable",
        )
        self._columns_spec: tuple[Column, ...] = ()
        self._order: list[str] = []
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self.cells_updated = 0
        """Cells written by the last :meth:`apply` (for the benchmark)."""

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Set the columns; a change of labels (language) re-adds every row on next apply."""
        spec = tuple(columns)
        if spec == self._columns_spec:
            return
        self.clear(columns=True)
        for c in spec:
            self.add_column(Text(c.label, style="bold"), key=c.key, width=c.width)
        self._columns_spec = spec
        self._order = []
        self._cells = {}

    @property
    def current_key(self) -> str | None:
        """The key of the row under the cursor."""
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return key.value

    def apply(self, rows: Sequence[Row]) -> int:
        """Show ``rows``; return how many cells were written."""
        keys = [k for k, _ in rows]
        written = 0
        if keys != self._order:
            if len(rows) <= REBUILD_LIMIT or not self._order:
                return self._rebuild(rows)
            new = set(keys)
            for k in self._order:
                if k not in new:
                    self.remove_row(k)
                    del self._cells[k]
            kept = set(self._cells)
            for k, cells in rows:
                if k not in kept:
                    self.add_row(*map(cell_text, cells), key=k)
                    self._cells[k] = cells
                    written += len(cells)
            self._order = [k for k in self._order if k in new] + [k for k in keys if k not in kept]
        col_keys = [c.key for c in self._columns_spec]
        shown = self._cells
        for k, cells in rows:
            old = shown.get(k)
            if old is None or old == cells:
                continue
            for i, (a, b) in enumerate(zip(old, cells, strict=False)):
                if a != b:
                    self.update_cell(k, col_keys[i], cell_text(b))
                    written += 1
            shown[k] = cells
        self.cells_updated = written
        return written

    def _rebuild(self, rows: Sequence[Row]) -> int:
        cursor = self.current_key
        self.clear()
        for k, cells in rows:
            self.add_row(*map(cell_text, cells), key=k)
        self._order = [k for k, _ in rows]
        self._cells = dict(rows)
        if cursor is not None and cursor in self._cells:
            self.move_cursor(row=self._order.index(cursor), animate=False, scroll=False)
        self.cells_updated = sum(len(c) for _, c in rows)
        return self.cells_updated
