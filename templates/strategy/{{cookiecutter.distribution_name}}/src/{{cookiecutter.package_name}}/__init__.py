"""{{ cookiecutter.description }}

The plugin's whole wiring is one hook implementation: tradehooks finds this package through the
entry point ``{{ cookiecutter.plugin_name }}`` in group ``tradehooks`` (see ``pyproject.toml``).
"""

from tradehooks import hookimpl

from .{{ cookiecutter.signal_name }} import {{ cookiecutter.__signal_class }}, {{ cookiecutter.__signal_class }}Params

__all__ = ["{{ cookiecutter.__signal_class }}", "{{ cookiecutter.__signal_class }}Params", "register_signals"]


@hookimpl
def register_signals() -> list[type]:
    """The signal classes this plugin offers; presets name them by their ``name``."""
    return [{{ cookiecutter.__signal_class }}]


# An indicator of your own goes through its own hook, next to this one; signals then ask for it by
# name with ``ctx.indicator("my_indicator", ...)``. See the Indicator contract in the tradehooks docs.
#
# @hookimpl
# def register_indicators() -> list[type]:
#     return [MyIndicator]
