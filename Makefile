# sessionflow: `make demo` sets everything up and runs the pipeline; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint typecheck pytest bench readme docs down clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 needed"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## setup: virtualenv with sessionflow and its dev tools, Kafka jars in the cache
setup: $(STAMP)
	$(BIN)/sessionflow kafka fetch

## demo: start Kafka (local unless KAFKA_BOOTSTRAP_SERVERS) and ClickHouse, run the pipeline
demo: setup
	$(BIN)/sessionflow demo

## test: lint, type-check, then the whole suite against a real broker and ClickHouse
test: setup lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

## bench: codec, producer, processor and sink benchmarks (figures and ratios, not pass/fail)
bench: setup
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/bench_codec.py
	$(BIN)/python bench/bench_producer.py
	$(BIN)/python bench/bench_processor.py
	$(BIN)/python bench/bench_sink.py
	$(BIN)/python bench/bench_replay.py

## readme: regenerate the settings table in README.md
readme: $(STAMP)
	$(BIN)/python scripts/update_readme_settings.py

## docs: regenerate the reference tables in docs/ from the contract (models, schemas)
docs: $(STAMP)
	$(BIN)/python scripts/gen_docs.py

## down: stop the pipeline `make demo` (or `sessionflow up`) left running, and its broker
down: $(STAMP)
	$(BIN)/sessionflow down
	$(BIN)/sessionflow kafka down

clean: down
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
