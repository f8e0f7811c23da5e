"""{{ cookiecutter.description }}

The plugin's whole wiring is two hook implementations: tradehooks finds this package through the
entry point ``{{ cookiecutter.plugin_name }}`` in group ``tradehooks`` (see ``pyproject.toml``), and
presets name its components ``{{ cookiecutter.plugin_name }}``::

    [data]
    source = "{{ cookiecutter.plugin_name }}"

    [broker]
    name = "{{ cookiecutter.plugin_name }}"

Every adapter uses the same module names: ``config`` (the components' parameters), ``constants``,
``data`` (the data source), ``broker`` (the broker), and the private ``_http``, ``_ws``,
``_signing``, ``_schemas`` and ``_errors``.
"""

from tradehooks import hookimpl

from .broker import {{ cookiecutter.__class_prefix }}Broker
from .config import {{ cookiecutter.__class_prefix }}BrokerConfig, {{ cookiecutter.__class_prefix }}DataConfig
from .data import {{ cookiecutter.__class_prefix }}DataSource

__all__ = [
    "{{ cookiecutter.__class_prefix }}Broker",
    "{{ cookiecutter.__class_prefix }}BrokerConfig",
    "{{ cookiecutter.__class_prefix }}DataConfig",
    "{{ cookiecutter.__class_prefix }}DataSource",
    "register_brokers",
    "register_data_sources",
]


@hookimpl
def register_data_sources() -> list[type]:
    """The data source presets name ``source = "{{ cookiecutter.plugin_name }}"``."""
    return [{{ cookiecutter.__class_prefix }}DataSource]


@hookimpl
def register_brokers() -> list[type]:
    """The broker presets name ``[broker] name = "{{ cookiecutter.plugin_name }}"``."""
    return [{{ cookiecutter.__class_prefix }}Broker]
