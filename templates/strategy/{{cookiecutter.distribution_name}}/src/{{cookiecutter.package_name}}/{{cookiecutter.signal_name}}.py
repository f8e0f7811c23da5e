"""``{{ cookiecutter.signal_name }}``: long while the close runs ahead of its moving average, out (or short)
once it falls behind.

The rule is a starting point: replace it with yours and keep the shape, which is what tradehooks
relies on: a ``name``, a frozen ``Params`` class, indicators asked for in ``__init__``, a target
returned from ``on_bar``.
"""

from __future__ import annotations

from typing import ClassVar

import attrs
from tradehooks import Target
from tradehooks.contracts import ComponentContext
from tradehooks.exceptions import FieldError
from tradehooks.model import Bar


def _at_least_two(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 2:
        raise FieldError(attribute.name, f"must be >= 2, got {value}")


def _fraction(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0 <= value < 1:
        raise FieldError(attribute.name, f"must be >= 0 and < 1, got {value}")


@attrs.frozen(kw_only=True)
class {{ cookiecutter.__signal_class }}Params:
    """Parameters of :class:`{{ cookiecutter.__signal_class }}`: a strategy's ``params`` table.

    tradehooks validates the table into this class with cattrs: an unknown key, a wrong type or a
    value a validator refuses is a preset error naming the key and its line::

        example.toml:32: strategies[0].params.period: {{ cookiecutter.signal_name }}: must be >= 2, got 1

    Raise :class:`~tradehooks.exceptions.FieldError` from validators so the error points at the key.

    Attributes:
        period: bars of the exponential moving average of the close.
        threshold: how far the close must be above the average to go long (below it, to leave),
            as a fraction of the average: ``0.01`` is 1 %.
        allow_short: go short (-1) instead of flat (0) when the close falls behind.
    """

    period: int = attrs.field(default=50, validator=_at_least_two)
    threshold: float = attrs.field(default=0.01, validator=_fraction)
    allow_short: bool = False


class {{ cookiecutter.__signal_class }}:
    """Trend following on the distance between the close and its exponential moving average.

    ==========================  =========  =====================================================
    Method                      Required?  What it must do
    ==========================  =========  =====================================================
    ``name`` (class attribute)  yes        the unique name a preset's ``signal = ...`` uses
    ``Params`` (class)          no         a frozen attrs class the ``params`` table is validated
                                           into; without it the signal takes no parameters
    ``__init__(params, ctx)``   yes        keep the parameters; ask ``ctx.indicator(...)`` for
                                           every indicator ``on_bar`` reads
    ``on_bar(bar)``             yes        return a ``Target`` (or a float) in [-1, 1] to change
                                           the target exposure, ``None`` to keep it
    ==========================  =========  =====================================================

    One object is built per strategy and instrument, and ``on_bar`` is called with every closed bar
    of that instrument, after its indicators were updated. It never places orders: the sizer turns
    the exposure into a quantity, and the order fills on the next bar at the earliest.

    The rule: while the average warms up, nothing. Then +1 once the close is more than
    ``threshold`` above the average; 0 (or -1 with ``allow_short``) once it is more than
    ``threshold`` below it; in between, the previous target stands.
    """

    name: ClassVar[str] = "{{ cookiecutter.signal_name }}"
    Params: ClassVar[type] = {{ cookiecutter.__signal_class }}Params

    def __init__(self, params: {{ cookiecutter.__signal_class }}Params, ctx: ComponentContext) -> None:
        self._average = ctx.indicator("ema", period=params.period)
        self._upper = 1.0 + params.threshold
        self._lower = 1.0 - params.threshold
        self._long = Target(1.0, f"close above EMA({params.period}) by more than {params.threshold:.2%}")
        self._out = Target(-1.0 if params.allow_short else 0.0,
                           f"close below EMA({params.period}) by more than {params.threshold:.2%}")

    def on_bar(self, bar: Bar) -> Target | None:
        average = self._average.value
        if average is None:  # still warming up
            return None
        if bar.close > average * self._upper:
            return self._long
        if bar.close < average * self._lower:
            return self._out
        return None
