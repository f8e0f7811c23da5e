"""Injected faults: each is armed for ``count`` matching requests, then disarms itself.

The server consults :class:`Faults` on its event loop only; the emulator's public methods arm faults
through ``loop.call_soon_threadsafe``, so no lock is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Fault", "Faults"]


@dataclass(slots=True)
class Fault:
    """One armed fault. ``path`` None matches every REST path."""

    kind: str  # "rate_limit", "http_status", "delay", "late_answer"
    count: int
    path: str | None = None
    status: int = 0
    seconds: float = 0.0
    with_reset_header: bool = True

    def matches(self, path: str) -> bool:
        return self.count > 0 and (self.path is None or self.path == path)


@dataclass(slots=True)
class Faults:
    armed: list[Fault] = field(default_factory=list)
    skew_ms: int = 0
    skip_delta: set[tuple[str, str]] = field(default_factory=set)

    def arm(self, fault: Fault) -> None:
        if fault.count < 1:
            raise ValueError(f"a fault needs count >= 1, got {fault.count}")
        self.armed.append(fault)

    def take(self, kind: str, path: str) -> Fault | None:
        """The first armed fault of ``kind`` matching ``path``, with one use consumed; else None."""
        for fault in self.armed:
            if fault.kind == kind and fault.matches(path):
                fault.count -= 1
                if fault.count == 0:
                    self.armed.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        self.armed.clear()
        self.skew_ms = 0
        self.skip_delta.clear()
