"""What changes between two presets, and what cannot change without a restart."""

from __future__ import annotations

import attrs

from .exceptions import PresetError
from .presets import Preset

__all__ = ["PresetDiff", "diff_presets"]


@attrs.frozen(kw_only=True)
class PresetDiff:
    """The difference between the preset in force and a new one, by strategy id.

    Attributes:
        added: strategies only in the new preset.
        removed: strategies only in the old one.
        changed: strategies in both whose settings differ (rebuilt; their indicators start afresh).
        enabled: strategies switched from ``enabled = false`` to ``true`` (and otherwise unchanged).
        disabled: strategies switched from ``true`` to ``false`` (and otherwise unchanged).
        unchanged: strategies that keep running as they are, with their state.
        risk_changed: the risk rules differ (they are all rebuilt).
        observers_changed: the ``[[observers]]`` differ (they are all replaced).
        reloaded: strategies rebuilt because their plugin's code was re-imported.
    """

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    enabled: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    risk_changed: bool = False
    observers_changed: bool = False
    reloaded: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.enabled or self.disabled
                    or self.risk_changed or self.observers_changed or self.reloaded)

    def as_dict(self) -> dict[str, object]:
        return attrs.asdict(self)


#: top-level settings that only a restart can change, and why
_RESTART = {
    "engine": "the mode, account and currency",
    "data": "the data source",
    "instruments": "the instruments",
    "broker": "the broker",
    "plugins": "the plugin set",
}


def diff_presets(old: Preset, new: Preset) -> PresetDiff:
    """Compare two presets; raise :class:`PresetError` (located in ``new``) if ``new`` changes
    something a running engine cannot change."""
    for name, what in _RESTART.items():
        if getattr(old, name) != getattr(new, name):
            source = new.source
            error = f"changing {what} ([{name}]) needs a restart; the running preset is kept"
            if source is not None:
                raise source.error((name,), error)
            raise PresetError(error, key=name)
    before = {s.id: s for s in old.strategies}
    after = {s.id: s for s in new.strategies}
    added: list[str] = []
    changed: list[str] = []
    enabled: list[str] = []
    disabled: list[str] = []
    unchanged: list[str] = []
    for strategy_id, settings in after.items():
        previous = before.get(strategy_id)
        if previous is None:
            added.append(strategy_id)
        elif previous == settings:
            unchanged.append(strategy_id)
        elif attrs.evolve(previous, enabled=settings.enabled) == settings:
            (enabled if settings.enabled else disabled).append(strategy_id)
        else:
            changed.append(strategy_id)
    return PresetDiff(
        added=tuple(added),
        removed=tuple(s for s in before if s not in after),
        changed=tuple(changed),
        enabled=tuple(enabled),
        disabled=tuple(disabled),
        unchanged=tuple(unchanged),
        risk_changed=old.risk != new.risk,
        observers_changed=old.observers != new.observers,
    )
