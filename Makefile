# ekr: two commands on a fresh machine.
#   make demo   set up everything and run web + worker + beat with two demo brands
#   make test   set up everything, lint, and run every test
#   make lint   ruff check and ruff format --check (the configuration is in pyproject.toml)
# With DATABASE_URL / REDIS_URL unset, an embedded PostgreSQL and Redis are started from pip packages
# (data in .data/, kept across restarts). Set them to use your own servers.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export XDG_RUNTIME_DIR ?= /tmp

.PHONY: demo test setup browser services stop-services migrate web worker beat bench clean lint

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip wheel
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

setup: $(VENV)/.installed
	$(PY) -m ekr.locale_build -q

# A Chromium for the console's browser tests: Playwright's own where it can be downloaded, else the OS package
# (installed here when running as root with apt-get). Where neither works the browser tests fail and say why.
browser: setup
	@$(PY) -m playwright install chromium >/dev/null 2>&1 && echo "browser: Playwright's chromium" \
	|| { command -v chromium >/dev/null 2>&1 && echo "browser: $$(command -v chromium)"; } \
	|| { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	     && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null \
	     && echo "browser: chromium installed with apt-get"; } \
	|| echo "browser: no Chromium (the console's browser tests will fail and say how to get one)"

services: setup
	$(PY) -m ekr.devservices start

stop-services:
	$(PY) -m ekr.devservices stop

migrate: services
	$(PY) manage.py bootstrap

demo: migrate
	$(PY) manage.py demo_seed
	@bash ekr/run_all.sh $(PORT)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint services browser
	$(PY) -m pytest $(PYTEST_ARGS)

bench: migrate
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .data
