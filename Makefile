# SWE Fleet: `make demo` runs the main job on embedded defaults; `make test` passes the tests.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: browser install test test-cov test-fast lint bench chaos demo up verify clean schemas

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	@# The workspace sandbox (bubblewrap): installed when missing and we are root (see docs/adr/0601).
	@command -v bwrap >/dev/null || [ "$$(id -u)" != 0 ] || apt-get install -y -q bubblewrap >/dev/null \
		|| (apt-get update -q >/dev/null && apt-get install -y -q bubblewrap >/dev/null) \
		|| echo "warning: bubblewrap could not be installed; workspace commands will be refused"
	$(BIN)/pip install --quiet --upgrade pip
	@echo "installing swe-fleet and its dependencies (the first install compiles llama.cpp: ~11 min, cached by pip)"
	$(BIN)/pip install --quiet --progress-bar off -e '.[dev,local-llm]'
	@touch $(STAMP)

# The board's browser assets (ADR 1000): npm ci from web/package-lock.json, copied into the package.
VENDOR := src/swe_fleet/board/adapters/static/vendor
$(VENDOR)/.vendored: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp web/node_modules/htmx.org/dist/htmx.min.js web/node_modules/cytoscape/dist/cytoscape.min.js $(VENDOR)/
	@touch $@

# The browser tests drive Debian's chromium (Playwright cannot download its own browser here).
browser:
	@test -x /usr/bin/chromium || { if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "board browser tests need /usr/bin/chromium: apt-get install chromium (as root)"; fi; }

install: $(STAMP) $(VENDOR)/.vendored browser

# Two workers (tests/README.md): every real-LLM test on one of them (xdist group "llm"), the rest shared.
# `make test TEST_WORKERS=0` runs everything in one process, as before ADR 0007.
TEST_WORKERS ?= 2
test: install
	$(BIN)/python -m pytest -q -ra -n $(TEST_WORKERS) --dist loadgroup

# The same run with line coverage of src/swe_fleet (in-process; the figure quoted in tests/README.md).
test-cov: install
	$(BIN)/python -m pytest -q -ra -n $(TEST_WORKERS) --dist loadgroup --cov=swe_fleet --cov-report=term

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -ra -n $(TEST_WORKERS) -m "not llm and not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench fleet_testing
	$(BIN)/ruff format --check src tests bench fleet_testing
	$(BIN)/mypy src fleet_testing
	$(BIN)/lint-imports

bench: $(STAMP) $(VENDOR)/.vendored
	$(BIN)/python -m bench.run

chaos: $(STAMP)
	$(BIN)/python -m pytest -q -ra tests/chaos --chaos-full

demo: $(STAMP) $(VENDOR)/.vendored
	$(BIN)/fleet demo

up: $(STAMP) $(VENDOR)/.vendored
	$(BIN)/fleet up

verify: $(STAMP) $(VENDOR)/.vendored
	$(BIN)/fleet verify

schemas: $(STAMP)
	$(BIN)/fleet events schema --asyncapi > docs/asyncapi.json

clean:
	rm -rf $(VENV) .fleet .pytest_cache .mypy_cache .ruff_cache
