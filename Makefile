# AlertNet. `make run` starts the whole hub on this machine; `make test` runs the test suite.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell (cat pyproject.toml; python3 --version) | sha1sum | cut -c1-12)

.PHONY: install run test test-faults lint format bench browser tools clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/alertnet run

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
# axe-core (pinned by tests/axe/package-lock.json) is injected by the browser tests to check accessibility.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: browser tests will be skipped"; }
	@test -f tests/axe/node_modules/axe-core/axe.min.js || (command -v npm >/dev/null 2>&1 && npm ci --prefix tests/axe --no-audit --no-fund --silent) || echo "npm not found: the accessibility checks will be skipped"

# Debian's xmlsec1: the CAP tests verify the hub's XML signatures with it (a standard XML-DSig tool).
tools:
	@command -v xmlsec1 >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xmlsec1 >/dev/null) || echo "xmlsec1 not installed: the xmlsec1 checks of tests/test_cap*.py will be skipped"; }

test: install browser tools
	$(VENV)/bin/pytest -q -m "not faults and not scale"

# The slowest scenarios: faults (workers, schedulers and Redis killed, failing providers) and state size
# (50,000 officials); .ci/run runs them after make test.
test-faults: install
	$(VENV)/bin/pytest -q -m "faults or scale"

lint: install
	$(VENV)/bin/ruff check alertnet tests bench
	$(VENV)/bin/ruff format --check alertnet tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format alertnet tests bench
	$(VENV)/bin/ruff check --fix alertnet tests bench

bench: install
	$(PY) -m bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
