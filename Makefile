# Two entry points: `make demo` (the main job, embedded mode) and `make test`.
# Both set up everything on a fresh Debian machine: Debian packages, .venv, the package.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DEBS := fonts-noto-color-emoji unicode-cldr-core openclipart-png openclipart-svg
BASE_DEBS := python3-venv python3-dev build-essential libraqm0
TEST_DEBS := $(DEMO_DEBS) chromium docker-compose
DATA_DIR ?= data

.PHONY: demo test lint typecheck debs-demo debs-test serve bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c "import ensurepip, venv" 2>/dev/null || scripts/ensure-debs.sh $(BASE_DEBS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

debs-demo:
	@scripts/ensure-debs.sh $(DEMO_DEBS)

debs-test:
	@scripts/ensure-debs.sh $(TEST_DEBS)

demo: $(STAMP) debs-demo
	MODALIGN_PATHS__DATA_DIR=$(DATA_DIR) scripts/demo.sh

test: $(STAMP) debs-test
	$(BIN)/ruff check modalign tests bench migrations
	$(BIN)/mypy --strict modalign
	$(BIN)/pytest -q -ra

serve: $(STAMP)
	MODALIGN_PATHS__DATA_DIR=$(DATA_DIR) $(BIN)/modalign serve

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
