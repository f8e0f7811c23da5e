"""`tradehooks new-strategy` and `tradehooks new-exchange` create complete plugin distributions from the
templates, refuse bad input with one line, and never leave anything half-written behind."""

from __future__ import annotations

import json
import os
import py_compile
import re
import shutil
import subprocess
import time
import tomllib
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from tradehooks import PluginManager, load_preset
from tradehooks._cli import main
from tradehooks._scaffold import (
    EXCHANGE,
    STRATEGY,
    TEMPLATES_DIR,
    InvalidNameError,
    ScaffoldError,
    TakenNames,
    TargetExistsError,
    Template,
    TemplateError,
    check_name,
    render,
)
from tradehooks.exceptions import TradehooksError

from .conftest import ROOT

TABLE_HEADER = re.compile(r"Method\W+Required\?\W+What it must do")


def files_under(path: Path) -> set[str]:
    return {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}


@pytest.fixture
def templates_copy(tmp_path: Path) -> Path:
    """A private copy of the templates, to break without touching the real ones."""
    return Path(shutil.copytree(TEMPLATES_DIR, tmp_path / "templates"))


class TestTemplates:
    def test_the_package_finds_the_checkouts_templates(self):
        """tradehooks/_templates is the top-level templates/ directory: one source."""
        assert TEMPLATES_DIR.resolve() == (ROOT / "templates").resolve()

    @pytest.mark.parametrize("template", [STRATEGY, EXCHANGE], ids=lambda t: t.kind)
    def test_every_file_of_a_template_is_in_its_file_list(self, template: Template):
        """The file list is what a missing-file check compares against, so it must be the whole template."""
        assert files_under(template.directory()) == set(template.files)


class TestCheckName:
    @pytest.mark.parametrize("name", ["momentum_burst", "rsi2", "a", "x1_y2_z3", "match"])
    def test_lowercase_identifiers_are_accepted(self, name: str):
        check_name(name)

    @pytest.mark.parametrize(("name", "reason"), [
        ("", "empty"),
        ("Momentum", "capital letters"),
        ("momentum-burst", "'-' is not allowed"),
        ("momentum burst", "' ' is not allowed"),
        ("2fast", "starts with a digit"),
        ("_private", "underscore"),
        ("trailing_", "underscore"),
        ("double__under", "two in a row"),
        ("class", "Python keyword"),
        ("naïve", "'ï' is not allowed"),
    ])
    def test_anything_else_is_refused_saying_why(self, name: str, reason: str):
        with pytest.raises(InvalidNameError, match=re.escape(reason)) as caught:
            check_name(name)
        assert isinstance(caught.value, TradehooksError) and isinstance(caught.value, ValueError)
        assert "\n" not in str(caught.value)


class TestNewStrategy:
    def test_it_creates_a_complete_distribution_named_after_the_slug(self, tmp_path: Path):
        project = render(STRATEGY, "momentum_burst", output_dir=tmp_path)
        assert project == tmp_path / "tradehooks-momentum-burst"
        assert files_under(project) == {
            "README.md", "pyproject.toml", "presets/example.toml", "presets/paper.toml",
            "src/tradehooks_momentum_burst/__init__.py", "src/tradehooks_momentum_burst/py.typed",
            "src/tradehooks_momentum_burst/momentum_burst.py",
            "tests/conftest.py", "tests/test_momentum_burst.py",
        }
        assert [p.name for p in tmp_path.iterdir()] == ["tradehooks-momentum-burst"]  # no staging left

    def test_the_names_are_filled_in_everywhere(self, tmp_path: Path):
        project = render(STRATEGY, "momentum_burst", output_dir=tmp_path)
        pyproject = tomllib.loads((project / "pyproject.toml").read_text())
        assert pyproject["project"]["name"] == "tradehooks-momentum-burst"
        assert pyproject["project"]["entry-points"]["tradehooks"] == {"momentum_burst": "tradehooks_momentum_burst"}
        signal = (project / "src/tradehooks_momentum_burst/momentum_burst.py").read_text()
        assert "class MomentumBurst:" in signal and 'name: ClassVar[str] = "momentum_burst"' in signal
        for path in project.rglob("*"):
            if path.is_file():
                assert "{{" not in path.read_text() and "cookiecutter" not in path.read_text(), path

    def test_the_code_compiles_and_follows_the_plugin_conventions(self, tmp_path: Path):
        project = render(STRATEGY, "momentum_burst", output_dir=tmp_path)
        for path in project.rglob("*.py"):
            py_compile.compile(str(path), doraise=True)
        package = project / "src/tradehooks_momentum_burst"
        assert "@hookimpl\ndef register_signals()" in (package / "__init__.py").read_text()
        signal = (package / "momentum_burst.py").read_text()
        assert TABLE_HEADER.search(signal)
        assert "@attrs.frozen(kw_only=True)\nclass MomentumBurstParams" in signal
        assert "raise FieldError(attribute.name" in signal
        assert 'pytest_plugins = ["tradehooks.testing.pytest_plugin"]' in (project / "tests/conftest.py").read_text()

    def test_the_presets_need_no_data_file(self, tmp_path: Path):
        """example.toml backtests on the synthetic source; paper.toml paper-trades on synthetic_live."""
        project = render(STRATEGY, "momentum_burst", output_dir=tmp_path)
        example = load_preset(project / "presets/example.toml")
        assert (example.engine.mode, example.data.source) == ("backtest", "synthetic")
        assert example.strategies[0].signal == "momentum_burst"
        paper = load_preset(project / "presets/paper.toml")
        assert (paper.engine.mode, paper.data.source, paper.broker.name) == ("paper", "synthetic_live", "paper")

    def test_an_author_and_a_description_with_quotes_make_valid_toml(self, tmp_path: Path, monkeypatch):
        """Values typed at the prompts are used (here: answered by a stand-in for the prompt)."""
        answers = {"author": 'Ada "Countess" Lovelace', "description": 'Bursts of "momentum"'}
        monkeypatch.setattr("cookiecutter.prompt.read_user_variable",
                            lambda key, default, *args, **kwargs: answers.get(key, default))
        project = render(STRATEGY, "momentum_burst", output_dir=tmp_path, no_input=False)
        project_table = tomllib.loads((project / "pyproject.toml").read_text())["project"]
        assert project_table["authors"] == [{"name": 'Ada "Countess" Lovelace'}]
        assert project_table["description"] == 'Bursts of "momentum"'

    def test_without_an_author_the_pyproject_names_none(self, tmp_path: Path):
        project = render(STRATEGY, "momentum_burst", output_dir=tmp_path)
        assert "authors" not in tomllib.loads((project / "pyproject.toml").read_text())["project"]


class TestNewExchange:
    MODULES = ("__init__.py", "py.typed", "config.py", "constants.py", "data.py", "broker.py", "_http.py",
               "_ws.py", "_signing.py", "_schemas.py", "_errors.py")

    def test_it_creates_an_adapter_with_the_module_names_every_adapter_uses(self, tmp_path: Path):
        project = render(EXCHANGE, "acme", output_dir=tmp_path)
        assert project == tmp_path / "tradehooks-acme"
        assert {p.name for p in (project / "src/tradehooks_acme").iterdir()} == set(self.MODULES)
        for path in project.rglob("*.py"):
            py_compile.compile(str(path), doraise=True)
            assert "{{" not in path.read_text(), path

    def test_it_registers_its_data_source_and_broker(self, tmp_path: Path):
        init = (render(EXCHANGE, "acme", output_dir=tmp_path) / "src/tradehooks_acme/__init__.py").read_text()
        assert "def register_data_sources() -> list[type]:\n" in init and "return [AcmeDataSource]" in init
        assert "def register_brokers() -> list[type]:\n" in init and "return [AcmeBroker]" in init

    def test_every_exchange_method_says_what_to_implement(self, tmp_path: Path):
        package = render(EXCHANGE, "acme", output_dir=tmp_path) / "src/tradehooks_acme"
        broker = (package / "broker.py").read_text()
        for method in ("connect", "close", "submit", "cancel", "amend", "balances", "positions"):
            assert re.search(rf"def {method}\(.*?raise NotImplementedError\(", broker, re.DOTALL), method
        data = (package / "data.py").read_text()
        assert data.count("raise NotImplementedError(") == 2  # stream, history
        assert TABLE_HEADER.search(broker) and TABLE_HEADER.search(data)
        assert "| Method | Required? | What it must do |" in (package.parents[1] / "README.md").read_text()


class TestBadInput:
    @pytest.mark.parametrize("name", ["Momentum", "momentum-burst", "2fast", "class", "a__b", ""])
    def test_an_invalid_name_writes_nothing(self, tmp_path: Path, name: str):
        out = tmp_path / "out"
        with pytest.raises(InvalidNameError):
            render(STRATEGY, name, output_dir=out)
        assert not out.exists()

    def test_an_existing_target_is_refused_and_left_alone(self, tmp_path: Path):
        target = tmp_path / "tradehooks-momentum-burst"
        target.mkdir()
        (target / "mine.txt").write_text("keep me")
        with pytest.raises(TargetExistsError, match="tradehooks-momentum-burst already exists"):
            render(STRATEGY, "momentum_burst", output_dir=tmp_path)
        assert files_under(tmp_path) == {"tradehooks-momentum-burst/mine.txt"}

    def test_a_missing_template_file_is_named_and_nothing_is_written(self, tmp_path: Path, templates_copy: Path):
        missing = "{{cookiecutter.distribution_name}}/presets/example.toml"
        (templates_copy / "strategy" / missing).unlink()
        out = tmp_path / "out"
        with pytest.raises(TemplateError, match=re.escape(f"template 'strategy' is incomplete: {missing} is missing")):
            render(STRATEGY, "momentum_burst", output_dir=out, templates_dir=templates_copy)
        assert not out.exists()

    def test_a_missing_template_is_an_error(self, tmp_path: Path, templates_copy: Path):
        shutil.rmtree(templates_copy / "exchange")
        with pytest.raises(TemplateError, match="template 'exchange' not found"):
            render(EXCHANGE, "acme", output_dir=tmp_path, templates_dir=templates_copy)
        assert list(tmp_path.iterdir()) == [templates_copy]

    def test_a_template_failing_half_way_leaves_nothing_behind(self, tmp_path: Path, templates_copy: Path):
        """A file that does not render (here the last test file) fails after others were written: the
        staging directory and the output directory it made are removed."""
        broken = templates_copy / "strategy/{{cookiecutter.distribution_name}}/tests/test_{{cookiecutter.signal_name}}.py"
        broken.write_text("{{ cookiecutter.no_such_value }}\n")
        out = tmp_path / "new" / "out"
        with pytest.raises(TemplateError, match="does not render"):
            render(STRATEGY, "momentum_burst", output_dir=out, templates_dir=templates_copy)
        assert not (tmp_path / "new").exists()

    def test_a_directory_it_cannot_write_to_is_one_error_line(self, tmp_path: Path, monkeypatch):
        def denied(*args: object, **kwargs: object) -> str:
            raise PermissionError(13, "Permission denied", str(tmp_path / "out"))

        monkeypatch.setattr("tempfile.mkdtemp", denied)
        with pytest.raises(ScaffoldError, match=r"cannot write .*/out: Permission denied$"):
            render(STRATEGY, "momentum_burst", output_dir=tmp_path / "out")
        assert list(tmp_path.iterdir()) == []

    def test_an_invalid_value_typed_at_a_prompt_writes_nothing(self, tmp_path: Path, monkeypatch):
        monkeypatch.setattr("cookiecutter.prompt.read_user_variable",
                            lambda key, default, *args, **kwargs: "tradehooks-bad" if key == "package_name" else default)
        with pytest.raises(InvalidNameError, match="invalid package name 'tradehooks-bad'"):
            render(STRATEGY, "momentum_burst", output_dir=tmp_path, no_input=False)
        assert list(tmp_path.iterdir()) == []

    def test_prompting_with_standard_input_closed_is_an_error_that_suggests_no_input(self, tmp_path: Path,
                                                                                     monkeypatch):
        def closed(*args: object, **kwargs: object) -> str:
            raise EOFError

        monkeypatch.setattr("cookiecutter.prompt.read_user_variable", closed)
        with pytest.raises(ScaffoldError, match="standard input is closed; give --no-input"):
            render(STRATEGY, "momentum_burst", output_dir=tmp_path, no_input=False)
        assert list(tmp_path.iterdir()) == []

    def test_a_name_another_plugin_has_is_refused(self, tmp_path: Path):
        taken = TakenNames.of(PluginManager(autoload=False), ("signal", "data_source", "broker"))
        with pytest.raises(InvalidNameError, match="name 'paper' is taken by the built-in plugin 'paper'"):
            render(STRATEGY, "paper", output_dir=tmp_path, taken=taken)
        with pytest.raises(InvalidNameError, match="a data source named 'synthetic_live' is registered by the "
                                                   "built-in plugin 'synthetic'"):
            render(EXCHANGE, "synthetic_live", output_dir=tmp_path, taken=taken)
        assert list(tmp_path.iterdir()) == []


class TestCommands:
    def test_new_strategy_prints_where_and_what_next(self, tmp_path: Path, capsys):
        assert main(["new-strategy", "momentum_burst", "--no-input", "--output-dir", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        assert f"created {tmp_path / 'tradehooks-momentum-burst'}" in out
        assert "tradehooks backtest presets/example.toml" in out

    @pytest.mark.parametrize(("argv", "message"), [
        (["new-strategy", "Momentum-Burst"], "error: invalid name 'Momentum-Burst': it has capital letters"),
        (["new-exchange", "csv"], "error: name 'csv' is taken by the built-in plugin 'csv'"),
    ])
    def test_bad_input_is_one_error_line_and_exit_status_2(self, tmp_path: Path, capsys, argv: list[str],
                                                            message: str):
        assert main([*argv, "--no-input", "--output-dir", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.startswith(message) and err.count("\n") == 1
        assert not (tmp_path / "out").exists()

    def test_an_existing_target_is_one_error_line(self, tmp_path: Path, capsys):
        (tmp_path / "tradehooks-acme").mkdir()
        assert main(["new-exchange", "acme", "--no-input", "--output-dir", str(tmp_path)]) == 2
        assert "already exists" in capsys.readouterr().err

    def test_scaffold_errors_are_tradehooks_errors(self):
        assert issubclass(ScaffoldError, TradehooksError)
        assert issubclass(TargetExistsError, FileExistsError) and issubclass(InvalidNameError, ValueError)


# --- end to end, as a new user: a fresh virtual environment and non-editable installs -------------------


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], check=False, capture_output=True, text=True, cwd=cwd, env=env,
                            timeout=900)
    assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


class FreshVenv:
    """A virtual environment with the kernel installed from a copy of the checkout, not editable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bin = path / "bin"
        self.env = {key: value for key, value in os.environ.items()
                    if key not in {"PYTHONPATH", "PYTEST_ADDOPTS", "VIRTUAL_ENV", "PYTHONHOME"}}
        self.env["PATH"] = f"{self.bin}{os.pathsep}{self.env.get('PATH', '')}"

    def __call__(self, program: str, *args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return run(self.bin / program, *args, cwd=cwd, env=self.env)

    def pip_install(self, *targets: str | Path) -> None:
        self("python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *targets)


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreshVenv]:
    """The kernel is installed from a copy of the files a release is built from (pyproject.toml, README.md,
    src/ with its _templates symlink, templates/), so no build directory of the checkout is shared
    with other tests installing it at the same time."""
    base = tmp_path_factory.mktemp("scaffold-e2e")
    kernel = base / "kernel"
    kernel.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, kernel / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    shutil.copytree(ROOT / "src", kernel / "src", symlinks=True, ignore=ignore)
    shutil.copytree(ROOT / "templates", kernel / "templates", ignore=ignore)
    venv.create(base / "venv", with_pip=True)
    env = FreshVenv(base / "venv")
    env.pip_install(kernel, "pytest>=8")
    installed = env("python", "-c", "import tradehooks, tradehooks._scaffold as s; print(s.TEMPLATES_DIR)").stdout
    assert Path(installed.strip()).is_relative_to(env.path)  # the wheel's copy, not the checkout's
    yield env


def test_a_new_strategy_goes_from_template_to_backtest_in_a_fresh_venv(fresh_venv: FreshVenv, tmp_path: Path):
    """new-strategy, pip install, its own tests pass, `tradehooks plugins` lists it, and its example preset
    backtests: timed from the first command to the backtest's metrics (shown with `pytest -s`)."""
    steps: list[tuple[str, float]] = []
    start = last = time.perf_counter()

    def step(label: str) -> None:
        nonlocal last
        now = time.perf_counter()
        steps.append((label, now - last))
        last = now

    fresh_venv("tradehooks", "new-strategy", "momentum_burst", "--no-input", "--output-dir", tmp_path)
    project = tmp_path / "tradehooks-momentum-burst"
    step("tradehooks new-strategy")
    fresh_venv.pip_install(project)
    step("pip install (non-editable)")
    tests = fresh_venv("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    step("pytest (the plugin's own tests)")
    assert re.search(r"\b\d+ passed\b", tests.stdout) and "failed" not in tests.stdout, tests.stdout
    listed = json.loads(fresh_venv("tradehooks", "plugins", "--json").stdout)
    step("tradehooks plugins --json")
    row = next(row for row in listed if row["name"] == "momentum_burst")
    assert (row["distribution"], row["builtin"]) == ("tradehooks-momentum-burst", False)
    assert row["provides"] == {"signal": ["momentum_burst"]}
    metrics = json.loads(fresh_venv("tradehooks", "backtest", "presets/example.toml", "--json", cwd=project).stdout)
    step("tradehooks backtest presets/example.toml")
    total = time.perf_counter() - start
    assert metrics["bars"] == 8760 and metrics["fills"] > 0 and metrics["engine_id"] == "example"

    print(f"\ntime from `tradehooks new-strategy` to the first backtest result: {total:.1f} s")
    for label, seconds in steps:
        print(f"  {label:<42} {seconds:6.1f} s")
    shown = {key: metrics[key] for key in ("bars", "trades", "fills", "total_return", "final_equity")}
    print(f"  metrics: {shown}")


def test_a_new_exchange_installs_and_is_listed_in_a_fresh_venv(fresh_venv: FreshVenv, tmp_path: Path):
    """new-exchange, pip install, its own tests pass, `tradehooks plugins` lists its data source and broker,
    and its example preset validates."""
    fresh_venv("tradehooks", "new-exchange", "acme", "--no-input", "--output-dir", tmp_path)
    project = tmp_path / "tradehooks-acme"
    fresh_venv.pip_install(project)
    tests = fresh_venv("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert re.search(r"\b\d+ passed\b", tests.stdout) and "failed" not in tests.stdout, tests.stdout
    listed = json.loads(fresh_venv("tradehooks", "plugins", "--json").stdout)
    row = next(row for row in listed if row["name"] == "acme")
    assert (row["distribution"], row["version"]) == ("tradehooks-acme", "0.1.0")
    assert row["provides"] == {"data_source": ["acme"], "broker": ["acme"]}
    assert set(row["hooks"]) == {"register_brokers", "register_data_sources"}
    validated = fresh_venv("tradehooks", "validate", "presets/example.toml", cwd=project).stdout
    assert "valid (paper" in validated
