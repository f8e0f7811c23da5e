"""``tradehooks new-strategy`` and ``tradehooks new-exchange``: a new plugin distribution from a template.

The templates are cookiecutter templates. Their one source is ``templates/`` at the top of the
checkout; the package reaches them as ``tradehooks/_templates``, which in the checkout is a symlink
to ``../../templates`` and in a built wheel a copy (``[tool.setuptools.package-data]`` follows the
symlink). So an editable install and a plain ``pip install`` find them at the same place.

A project is rendered into a temporary directory beside its target and renamed into place only when
it is complete: a bad name, a target that exists, an incomplete template or a failure half-way
leaves nothing behind. Every refusal is a :class:`ScaffoldError`, which the command line prints as
one ``error: ...`` line (exit status 2).

cookiecutter is imported only when a project is rendered, so it does not slow down every command.
"""

from __future__ import annotations

import argparse
import keyword
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs

from .exceptions import PluginError, TradehooksError

__all__ = [
    "EXCHANGE",
    "STRATEGY",
    "TEMPLATES_DIR",
    "InvalidNameError",
    "NewExchangeCommand",
    "NewStrategyCommand",
    "ScaffoldError",
    "TakenNames",
    "TargetExistsError",
    "Template",
    "TemplateError",
    "check_name",
    "render",
]

#: where the package finds its templates (a symlink to the checkout's ``templates/``, or a copy)
TEMPLATES_DIR = Path(__file__).resolve().parent / "_templates"

#: the project directory inside every template: it is named after the distribution
PROJECT_DIR = "{{cookiecutter.distribution_name}}"


# --- errors --------------------------------------------------------------------------------------------


class ScaffoldError(TradehooksError):
    """A plugin project could not be created; nothing was written."""


class InvalidNameError(ScaffoldError, ValueError):
    """A name (the command's ``NAME``, or a value typed at a prompt) cannot be used."""


class TargetExistsError(ScaffoldError, FileExistsError):
    """The project directory to create already exists."""


class TemplateError(ScaffoldError):
    """A template is missing, incomplete or does not render (the installation is broken)."""


# --- the templates -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Template:
    """One template under ``templates/``.

    Attributes:
        kind: its directory name (``strategy``, ``exchange``), also in the command's name.
        files: every file it holds, relative to its directory: a missing one is a broken template.
        components: ``(kind, context key)`` of each component the plugin registers, the key giving
            its name (``("signal", "signal_name")``).
        names: the context keys that must be lowercase Python identifiers.
        next_steps: what to run in the new project, printed after it is created.
    """

    kind: str
    files: tuple[str, ...]
    components: tuple[tuple[str, str], ...]
    names: tuple[str, ...]
    next_steps: tuple[str, ...]

    def directory(self, root: Path | None = None) -> Path:
        """The template's directory under ``root`` (default: :data:`TEMPLATES_DIR`)."""
        return (root or TEMPLATES_DIR) / self.kind


def _project(*paths: str) -> tuple[str, ...]:
    return ("cookiecutter.json", *(f"{PROJECT_DIR}/{path}" for path in paths))


_PACKAGE = "src/{{cookiecutter.package_name}}"

STRATEGY = Template(
    kind="strategy",
    files=_project(
        "README.md",
        "pyproject.toml",
        "presets/example.toml",
        "presets/paper.toml",
        f"{_PACKAGE}/__init__.py",
        f"{_PACKAGE}/py.typed",
        f"{_PACKAGE}/{{{{cookiecutter.signal_name}}}}.py",
        "tests/conftest.py",
        "tests/test_{{cookiecutter.signal_name}}.py",
    ),
    components=(("signal", "signal_name"),),
    names=("plugin_name", "package_name", "signal_name"),
    next_steps=("pip install -e '.[test]'", "tradehooks plugins", "pytest",
                "tradehooks backtest presets/example.toml"),
)

EXCHANGE = Template(
    kind="exchange",
    files=_project(
        "README.md",
        "pyproject.toml",
        "presets/example.toml",
        *(f"{_PACKAGE}/{module}" for module in (
            "__init__.py", "py.typed", "config.py", "constants.py", "data.py", "broker.py",
            "_http.py", "_ws.py", "_signing.py", "_schemas.py", "_errors.py",
        )),
        "tests/conftest.py",
        "tests/test_adapter.py",
    ),
    components=(("data_source", "plugin_name"), ("broker", "plugin_name")),
    names=("plugin_name", "package_name"),
    next_steps=("pip install -e '.[test]'", "tradehooks plugins", "tradehooks validate presets/example.toml",
                "pytest"),
)


# --- names ---------------------------------------------------------------------------------------------

_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
# PEP 508: letters, digits, '.', '_' and '-', starting and ending with a letter or digit
_DISTRIBUTION = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


def check_name(name: str, what: str = "name") -> None:
    """Refuse ``name`` unless it is a lowercase Python identifier that makes a valid distribution name.

    Lowercase letters, digits and single underscores, starting with a letter, not a Python keyword:
    ``momentum_burst`` gives the distribution ``tradehooks-momentum-burst`` and the package
    ``tradehooks_momentum_burst``.

    Raises:
        InvalidNameError: saying what is wrong.
    """
    if _NAME.fullmatch(name) and not keyword.iskeyword(name):
        return
    if not name:
        reason = "it is empty"
    elif keyword.iskeyword(name):
        reason = "it is a Python keyword"
    elif name[0].isdigit():
        reason = "it starts with a digit"
    elif name != name.lower():
        reason = "it has capital letters"
    elif name.startswith("_") or name.endswith("_") or "__" in name:
        reason = "it starts or ends with an underscore, or has two in a row"
    else:
        bad = next(ch for ch in name if not (ch.isascii() and (ch.isalnum() or ch == "_")))
        reason = f"{bad!r} is not allowed"
    raise InvalidNameError(
        f"invalid {what} {name!r}: {reason} (use lowercase letters, digits and single underscores, starting "
        "with a letter: e.g. momentum_burst)"
    )


@attrs.frozen(kw_only=True)
class TakenNames:
    """Names a new plugin must not take, and who has them.

    Attributes:
        plugins: plugin name -> who has it (``"the built-in plugin 'csv'"``).
        components: ``(kind, name)`` -> who registers it.
    """

    plugins: Mapping[str, str] = attrs.field(factory=dict)
    components: Mapping[tuple[str, str], str] = attrs.field(factory=dict)

    @classmethod
    def of(cls, manager: Any, kinds: tuple[str, ...]) -> TakenNames:
        """The plugins ``manager`` loaded, and the components of ``kinds`` they register.

        A plugin whose registration hooks fail only hides its components: it is ``tradehooks
        plugins``' business to report it, not the scaffold's.
        """
        from ._registry import Registry

        def who(info: Any) -> str:
            if info.builtin:
                return f"the built-in plugin {info.name!r}"
            source = f" ({info.distribution} {info.version})" if info.distribution else ""
            return f"the installed plugin {info.name!r}{source}"

        infos = {info.name: info for info in manager.list_plugins()}
        components: dict[tuple[str, str], str] = {}
        try:
            registry = Registry(manager)
        except PluginError:
            registry = None
        if registry is not None:
            for kind in kinds:
                for factory in registry.factories(kind):
                    owner = infos.get(factory.plugin)
                    components[(kind, factory.name)] = who(owner) if owner else repr(factory.plugin)
        return cls(plugins={name: who(info) for name, info in infos.items()}, components=components)


def _check_values(template: Template, values: Mapping[str, Any], taken: TakenNames | None) -> None:
    """Refuse the rendered context values that would make a broken or clashing plugin."""
    for key in template.names:
        check_name(str(values[key]), key.replace("_", " "))
    distribution = str(values["distribution_name"])
    if not _DISTRIBUTION.fullmatch(distribution):
        raise InvalidNameError(
            f"invalid distribution name {distribution!r}: use letters, digits, '.', '_' and '-', starting and "
            "ending with a letter or digit (e.g. tradehooks-momentum-burst)"
        )
    if taken is None:
        return
    plugin = str(values["plugin_name"])
    if plugin in taken.plugins:
        raise InvalidNameError(f"name {plugin!r} is taken by {taken.plugins[plugin]}; choose another")
    for kind, key in template.components:
        name = str(values[key])
        if (kind, name) in taken.components:
            raise InvalidNameError(
                f"a {kind.replace('_', ' ')} named {name!r} is registered by {taken.components[(kind, name)]}; "
                "choose another name"
            )


# --- rendering -----------------------------------------------------------------------------------------


def _checked_directory(template: Template, root: Path | None) -> Path:
    """The template's directory, once every file it should hold is there."""
    directory = template.directory(root)
    if not directory.is_dir():
        raise TemplateError(f"template {template.kind!r} not found at {directory}: reinstall tradehooks")
    missing = [path for path in template.files if not (directory / path).is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise TemplateError(
            f"template {template.kind!r} is incomplete: {missing[0]} is missing{more} in {directory}: "
            "reinstall tradehooks"
        )
    return directory


def _context(directory: Path, name: str, no_input: bool) -> dict[str, Any]:
    """The cookiecutter context: the template's defaults with ``plugin_name = name``, then the prompts."""
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.generate import generate_context
    from cookiecutter.prompt import prompt_for_config

    try:
        context: dict[str, Any] = generate_context(
            context_file=str(directory / "cookiecutter.json"), extra_context={"plugin_name": name}
        )
        context["cookiecutter"].update(prompt_for_config(context, no_input))
    except CookiecutterException as exc:
        raise TemplateError(f"template {directory.name!r}: {_one_line(exc)}") from exc
    except EOFError:
        raise ScaffoldError("no answer to a prompt: standard input is closed; give --no-input to take NAME "
                            "and the defaults") from None
    return context


def render(
    template: Template,
    name: str,
    *,
    output_dir: Path | str = ".",
    no_input: bool = True,
    taken: TakenNames | None = None,
    templates_dir: Path | None = None,
) -> Path:
    """Create a new plugin project from ``template`` and return its directory.

    Args:
        template: :data:`STRATEGY` or :data:`EXCHANGE`.
        name: the plugin's short name (``momentum_burst``); the other names derive from it.
        output_dir: where the project directory (named after the distribution) is created; made if
            missing.
        no_input: take ``name`` and the template's defaults without asking.
        taken: names already in use, refused (see :meth:`TakenNames.of`).
        templates_dir: where the templates are (default: :data:`TEMPLATES_DIR`).

    Raises:
        InvalidNameError: ``name``, or a value typed at a prompt, cannot be used.
        TargetExistsError: the project directory exists.
        TemplateError: the template is missing, incomplete or does not render.
        ScaffoldError: the files could not be written.
    """
    check_name(name)
    directory = _checked_directory(template, templates_dir)
    context = _context(directory, name, no_input)
    values = context["cookiecutter"]
    _check_values(template, values, taken)

    output = Path(output_dir).absolute()
    target = output / str(values["distribution_name"])
    if target.exists() or target.is_symlink():
        raise TargetExistsError(f"{target} already exists: remove it, or choose another name or --output-dir")
    created = _make_directory(output)
    staging: Path | None = None
    try:
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", suffix=".partial", dir=output))
            project = _generate(directory, context, staging)
            if target.exists():  # appeared while we rendered
                raise TargetExistsError(f"{target} already exists: remove it, or choose another name or "
                                        "--output-dir")
            project.rename(target)
        except ScaffoldError:
            raise
        except OSError as exc:
            raise ScaffoldError(f"cannot write {exc.filename or output}: {exc.strerror or exc}") from None
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _make_directory(path: Path) -> Path | None:
    """Make ``path`` and its missing parents; return the topmost directory made (``None`` if none)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScaffoldError(f"cannot create {path}: {exc.strerror or exc}") from None
    return missing[-1] if missing else None


def _generate(directory: Path, context: dict[str, Any], staging: Path) -> Path:
    """Render the template into ``staging``; return the project directory made there."""
    from cookiecutter.exceptions import CookiecutterException
    from cookiecutter.generate import generate_files
    from jinja2 import TemplateError as JinjaError

    try:
        return Path(generate_files(repo_dir=str(directory), context=context, output_dir=str(staging),
                                   accept_hooks=False))
    except (CookiecutterException, JinjaError) as exc:
        raise TemplateError(f"template {directory.name!r} does not render: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# --- the commands --------------------------------------------------------------------------------------


class _NewPluginCommand:
    template: ClassVar[Template]
    what: ClassVar[str]

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", metavar="NAME",
                            help=f"the plugin's short name{cls.what}: lowercase letters, digits and "
                                 "underscores, e.g. momentum_burst (the distribution becomes "
                                 "tradehooks-momentum-burst, the package tradehooks_momentum_burst)")
        parser.add_argument("--output-dir", type=Path, default=Path("."), metavar="DIR",
                            help="where to create the project directory (default: the current directory)")
        parser.add_argument("--no-input", action="store_true",
                            help="do not ask for the template's values: take NAME and the defaults")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        manager = getattr(args, "manager", None)
        kinds = tuple(kind for kind, _ in cls.template.components)
        taken = TakenNames.of(manager, kinds) if manager is not None else None
        project = render(cls.template, args.name, output_dir=args.output_dir, no_input=args.no_input, taken=taken)
        shown = args.output_dir / project.name
        print(f"created {shown}")
        print("next:")
        print(f"  cd {shown}")
        for step in cls.template.next_steps:
            print(f"  {step}")
        return 0


class NewStrategyCommand(_NewPluginCommand):
    name = "new-strategy"
    help = "create a strategy plugin (a signal with its tests and presets) from the template"
    template = STRATEGY
    what = " and its signal's name"


class NewExchangeCommand(_NewPluginCommand):
    name = "new-exchange"
    help = "create an exchange plugin (a data source and a broker to implement) from the template"
    template = EXCHANGE
    what = ", also its data source's and broker's name"
