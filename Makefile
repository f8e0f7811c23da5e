# Two commands set everything up on a fresh machine (python3 and make are all they need):
#   make demo   backtest the example preset on generated sample data and print the metrics
#   make test   run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR := plugins/tradehooks-examples/presets
DEMO_DATA := $(DEMO_DIR)/data/BTCUSDT-1h.csv

.PHONY: demo test install bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml plugins/tradehooks-examples/pyproject.toml plugins/tradehooks-bybit/pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,docs]' -e plugins/tradehooks-examples -e 'plugins/tradehooks-bybit[test]'
	touch $(STAMP)

install: $(STAMP)

$(DEMO_DATA): $(STAMP)
	$(BIN)/tradehooks data generate --output $(DEMO_DATA) --symbol BTCUSDT --timeframe 1h --bars 26280 --seed 7

demo: $(DEMO_DATA)
	$(BIN)/tradehooks backtest $(DEMO_DIR)/demo.toml

test: $(STAMP)
	$(BIN)/python -m pytest -n auto

bench: $(STAMP)
	$(BIN)/python bench/bench_sma_cross.py --peers

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) $(DEMO_DIR)/data build dist
