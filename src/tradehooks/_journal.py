"""The journal: every order, fill and applied preset, written to SQLite before it is acted on.

One file per engine (WAL mode, ``synchronous=FULL`` by default: a committed entry survives a power
cut; ``[engine] journal_sync = "normal"``: it survives a crash of the process, not of the machine), one
transaction per entry, a monotonic sequence number. On start the engine replays it to rebuild the
portfolio and the open orders, so a crashed session comes back knowing every order it sent, every
fill it got and every position it holds.

Entries (``kind``, ``payload`` as JSON):

* ``order``: an order's state each time it changes (submitted, accepted, cancelled, filled, ...);
* ``fill``: a fill (``trade_id`` is unique: a fill reported twice is journaled, and applied, once);
* ``snapshot``: cash and positions after a fill (``tradehooks journal verify`` checks them);
* ``preset``: a preset version put in force; ``kill`` / ``kill_reset``: the kill switch.

An exclusive lock (``<journal>.lock``) keeps a second engine off a journal in use.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from enum import Enum
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from ._convert import make_converter
from .exceptions import TradehooksError
from .model import Fill, Order, OrderStatus

__all__ = ["SCHEMA_VERSION", "Journal", "JournalError", "JournalWriteError", "export", "verify"]

SCHEMA_VERSION = 1

#: ``[engine] journal_sync`` -> SQLite's ``synchronous`` setting (with WAL, NORMAL still survives a
#: crash of the process: only a crash of the machine can lose the last commits)
_SYNC = MappingProxyType({"full": "FULL", "normal": "NORMAL"})

#: version -> the statements that bring a journal from version - 1 to it
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE entries (seq INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, kind TEXT NOT NULL,"
        " strategy_id TEXT, instrument_id TEXT, client_order_id TEXT, trade_id TEXT UNIQUE,"
        " payload TEXT NOT NULL)",
        "CREATE INDEX entries_kind ON entries (kind, seq)",
    ),
}

_converter = make_converter()


class JournalError(TradehooksError):
    """The journal cannot be used (corrupt, locked by another engine, newer than this version):
    the engine refuses to trade rather than start from nothing."""


class JournalWriteError(JournalError):
    """An entry could not be written (disk full, I/O error): trading stops."""


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if attrs.has(type(value)):
        return {f.name: _plain(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def dump_order(order: Order) -> str:
    return json.dumps(_plain(order), separators=(",", ":"))


def load_order(payload: str) -> Order:
    return _converter.structure(json.loads(payload), Order)


def dump_fill(fill: Fill) -> str:
    return json.dumps(_plain(fill), separators=(",", ":"))


def load_fill(payload: str) -> Fill:
    return _converter.structure(json.loads(payload), Fill)


class Journal:
    """One engine's journal file.

    Args:
        path: the SQLite file (created, with its folder's existence required).
        engine_id: recorded in the lock file, for the error a second engine gets.

    Raises:
        JournalError: the file is not a healthy journal, or another engine holds it.
    """

    def __init__(self, path: str | Path, engine_id: str = "", *, sync: str = "full") -> None:
        if sync not in _SYNC:
            raise ValueError(f"journal sync must be one of {sorted(_SYNC)}, got {sync!r}")
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise JournalError(f"journal {self.path}: the folder {self.path.parent} does not exist")
        self._lock = self._take_lock(engine_id)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=2.0, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={_SYNC[sync]}")
            problem = self._db.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise JournalError(f"journal {self.path} is corrupt ({problem}); refusing to trade")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._release()
            raise JournalError(f"journal {self.path} is not a readable journal ({exc}); refusing to trade") from None
        except BaseException:
            self._release()
            raise

    # --- opening ----------------------------------------------------------------------------------

    def _take_lock(self, engine_id: str) -> Any:
        lock_path = self.path.with_name(self.path.name + ".lock")
        handle = open(lock_path, "a+")  # noqa: SIM115 (held for the journal's life)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise JournalError(f"journal {self.path} is in use by {holder}; one engine per journal") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"engine {engine_id!r} (pid {os.getpid()})")
        handle.flush()
        return handle

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _migrate(self) -> None:
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = 0
        if "meta" in tables:
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
        elif tables - {"sqlite_sequence"}:
            raise JournalError(f"journal {self.path} is an SQLite file but not a tradehooks journal")
        if version > SCHEMA_VERSION:
            raise JournalError(f"journal {self.path} has schema version {version}, newer than this tradehooks "
                               f"({SCHEMA_VERSION}): upgrade tradehooks")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self._transaction():
                for statement in MIGRATIONS[target]:
                    self._db.execute(statement)
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(target),))

    # --- writing ----------------------------------------------------------------------------------

    def _transaction(self) -> Any:
        db = self._db

        class _Txn:
            def __enter__(self) -> None:
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type: Any, *rest: Any) -> None:
                db.execute("ROLLBACK" if exc_type else "COMMIT")

        return _Txn()

    def append(self, kind: str, payload: str, ts: int, *, strategy_id: str | None = None,
               instrument_id: str | None = None, client_order_id: str | None = None,
               trade_id: str | None = None) -> int | None:
        """Write one entry in its own transaction; return its sequence number, or ``None`` when a
        fill with that ``trade_id`` is journaled already.

        Raises:
            JournalWriteError: the entry could not be written (nothing was).
        """
        try:
            with self._transaction():
                cursor = self._db.execute(
                    "INSERT INTO entries (ts, kind, strategy_id, instrument_id, client_order_id, trade_id, payload)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (ts, kind, strategy_id, instrument_id, client_order_id, trade_id, payload),
                )
                return cursor.lastrowid
        except sqlite3.IntegrityError:
            return None
        except sqlite3.Error as exc:
            raise JournalWriteError(f"journal {self.path}: cannot write a {kind} entry ({exc}); "
                                    "trading stops") from None

    def order(self, order: Order, ts: int) -> None:
        self.append("order", dump_order(order), ts, strategy_id=order.strategy_id,
                    instrument_id=order.instrument_id, client_order_id=order.client_order_id)

    def fill(self, fill: Fill, ts: int) -> bool:
        """Journal a fill; False if this trade id was journaled before (apply it no second time)."""
        return self.append("fill", dump_fill(fill), ts, strategy_id=fill.strategy_id,
                           instrument_id=fill.instrument_id, client_order_id=fill.client_order_id,
                           trade_id=fill.trade_id) is not None

    def snapshot(self, cash: dict[str, Decimal], positions: dict[str, Decimal], ts: int) -> None:
        self.append("snapshot", json.dumps({"cash": _plain(cash), "positions": _plain(positions)}), ts)

    def note(self, kind: str, data: dict[str, Any], ts: int) -> None:
        self.append(kind, json.dumps(_plain(data)), ts)

    # --- reading ----------------------------------------------------------------------------------

    def entries(self, kinds: tuple[str, ...] | None = None) -> Iterator[tuple[int, int, str, str]]:
        """``(seq, ts, kind, payload)`` in sequence order."""
        query = "SELECT seq, ts, kind, payload FROM entries"
        if kinds:
            query += f" WHERE kind IN ({','.join('?' * len(kinds))})"
        yield from self._db.execute(query + " ORDER BY seq", kinds or ())

    def recover(self) -> tuple[list[Fill], dict[str, Order]]:
        """The fills in journal order and the last known state of every order.

        A fill is journaled before the order update that reports it, so a crash between the two
        leaves an order whose last state lags its fills: its filled quantity, average price and status
        are brought level with its journaled fills here, so it is never filled twice.
        """
        fills: list[Fill] = []
        orders: dict[str, Order] = {}
        for _, _, kind, payload in self.entries(("order", "fill")):
            if kind == "fill":
                fills.append(load_fill(payload))
            else:
                loaded = load_order(payload)
                orders[loaded.client_order_id] = loaded
        filled: dict[str, list[Fill]] = {}
        for fill in fills:
            filled.setdefault(fill.client_order_id, []).append(fill)
        for order_id, own in filled.items():
            order = orders.get(order_id)
            if order is None:
                continue
            quantity = sum((f.quantity for f in own), Decimal(0))
            if quantity == order.filled_quantity:
                continue
            status = order.status
            if quantity >= order.quantity:
                status = OrderStatus.FILLED
            elif order.is_open:
                status = OrderStatus.PARTIALLY_FILLED
            orders[order_id] = attrs.evolve(
                order, filled_quantity=quantity, status=status,
                avg_fill_price=sum((f.price * f.quantity for f in own), Decimal(0)) / quantity,
            )
        return fills, orders

    def last(self, kind: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT payload FROM entries WHERE kind=? ORDER BY seq DESC LIMIT 1",
                               (kind,)).fetchone()
        return json.loads(row[0]) if row else None

    def compact(self, before_ts: int | None = None) -> int:
        """Drop what replay does not need, among entries older than ``before_ts`` (all when
        ``None``): every state of an order but its last, and every snapshot but the newest. Fills,
        presets and kill-switch notes stay. Return the number of entries removed."""
        limit = before_ts if before_ts is not None else 2**63 - 1
        with self._transaction():
            removed = self._db.execute(
                "DELETE FROM entries WHERE kind = 'order' AND ts < ? AND seq NOT IN "
                "(SELECT max(seq) FROM entries WHERE kind = 'order' GROUP BY client_order_id)", (limit,)
            ).rowcount
            removed += self._db.execute(
                "DELETE FROM entries WHERE kind = 'snapshot' AND ts < ? AND seq <> "
                "(SELECT max(seq) FROM entries WHERE kind = 'snapshot')", (limit,)
            ).rowcount
        self._db.execute("VACUUM")
        return removed

    def close(self) -> None:
        """Checkpoint the WAL into the main file and release the lock."""
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass
        self._db.close()
        self._release()


def verify(path: str | Path, *, currency: str, initial_cash: Decimal) -> list[str]:
    """Check a journal: rebuild the ledger from its fills and compare it with every snapshot (each is
    written right after its fill; a crash between the two leaves the last fill without one);
    every fill belongs to a journaled order; sequence numbers increase. Return the problems found
    (an empty list when it verifies)."""
    from ._portfolio import Portfolio

    journal = Journal(path, "verify")
    try:
        problems: list[str] = []
        portfolio = Portfolio(currency, initial_cash)
        orders = {load_order(payload).client_order_id for _, _, _, payload in journal.entries(("order",))}
        previous = 0
        for seq, _, kind, payload in journal.entries():
            if seq <= previous:
                problems.append(f"entry {seq} comes after entry {previous}")
            previous = seq
            if kind == "fill":
                fill = load_fill(payload)
                if fill.client_order_id not in orders:
                    problems.append(f"fill {fill.trade_id} (entry {seq}) belongs to no journaled order "
                                    f"{fill.client_order_id}")
                portfolio.apply_fill(fill)
            elif kind == "snapshot":  # written right after its fill: the replay must agree there
                snapshot = json.loads(payload)
                cash = Decimal(snapshot["cash"].get(currency, "0"))
                if cash != portfolio.cash:
                    problems.append(f"entry {seq}: cash rebuilt from the fills is {portfolio.cash}, "
                                    f"the snapshot says {cash}")
                stored = {k: Decimal(v) for k, v in snapshot["positions"].items() if Decimal(v)}
                rebuilt = {k: v for k, v in portfolio.positions().items() if v}
                if stored != rebuilt:
                    problems.append(f"entry {seq}: positions rebuilt from the fills are {rebuilt}, "
                                    f"the snapshot says {stored}")
        try:
            portfolio.check_balanced()
        except AssertionError as exc:
            problems.append(str(exc))
        return problems
    finally:
        journal.close()


def export(path: str | Path, output: str | Path, kinds: tuple[str, ...] = ("order", "fill")) -> int:
    """Write the journal's orders and fills (one row per entry, flattened) to a .csv or .parquet file;
    return the row count."""
    import csv

    journal = Journal(path, "export")
    try:
        rows = []
        for seq, ts, kind, payload in journal.entries(kinds):
            rows.append({"seq": seq, "ts": ts, "kind": kind, **json.loads(payload)})
    finally:
        journal.close()
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    output = Path(output)
    if output.suffix == ".parquet":
        import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        table = pa.table({c: [None if row.get(c) is None else str(row.get(c)) for row in rows] for c in columns})
        pq.write_table(table, output)
    else:
        with output.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    return len(rows)
