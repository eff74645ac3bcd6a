# make venv | run | test | clean | distclean
#
# `make run` needs the runtime dependencies only (stamp .venv/.runtime); `make test`
# and `make venv` add the dev extras (stamp .venv/.dev). Each stamp is redone when
# pyproject.toml changes.
#
# `make test` starts a throwaway PostgreSQL 15 (scripts/pg-throwaway.sh), runs the
# whole suite against SQLite and PostgreSQL, and always stops the server (each run
# has its own, so parallel runs don't interfere). The throwaway server comes with a
# streaming replica (LEDGER_TEST_POSTGRES_REPLICA_URL) for the read-replica tests;
# with CI=true a replica that cannot be made fails the run. Without
# PostgreSQL the PostgreSQL half is skipped with a warning -- unless CI=true, where
# that is a failure. A LEDGER_TEST_POSTGRES_URL already set is used as is (no
# throwaway server). The suite runs in PYTEST_WORKERS pytest-xdist processes (3 on
# a 2-core machine: many tests wait on servers and subprocesses, and a third worker
# fills those waits; 0 runs it in one process). Extra pytest arguments:
# make test PYTEST_ARGS='-k escalate -x'.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
RUNTIME := $(VENV)/.runtime
DEV := $(VENV)/.dev
PYTEST_WORKERS ?= 3
PYTEST_ARGS ?=
PIP := $(VENV)/bin/pip install --disable-pip-version-check -q

.PHONY: venv run test clean distclean

venv: $(DEV)

$(RUNTIME): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	@touch $@

$(DEV): $(RUNTIME)
	$(PIP) -e '.[dev]'
	@touch $@

run: $(RUNTIME)
	$(VENV)/bin/ledger serve --demo

test: $(DEV)
	@set -u; pg_warning=""; \
	if [ -n "$${LEDGER_TEST_POSTGRES_URL:-}" ]; then \
		echo "make test: using the PostgreSQL at LEDGER_TEST_POSTGRES_URL (no throwaway server)"; \
	else \
		PG_THROWAWAY_ID=""; \
		trap 'if [ -n "$$PG_THROWAWAY_ID" ]; then scripts/pg-throwaway.sh stop "$$PG_THROWAWAY_ID" >/dev/null 2>&1 || true; fi' EXIT; \
		trap 'exit 130' INT; trap 'exit 143' TERM; \
		replica=optional; if [ "$${CI:-}" = "true" ]; then replica=required; fi; \
		if pg_env="$$(PG_THROWAWAY_OWNER=$$$$ PG_THROWAWAY_REPLICA=$$replica scripts/pg-throwaway.sh start)"; then \
			eval "$$pg_env"; export LEDGER_TEST_POSTGRES_URL PG_THROWAWAY_ID; \
			export LEDGER_TEST_POSTGRES_THROWAWAY=1; \
			echo "make test: throwaway PostgreSQL at $$LEDGER_TEST_POSTGRES_URL"; \
			if [ -n "$${LEDGER_TEST_POSTGRES_REPLICA_URL:-}" ]; then \
				export LEDGER_TEST_POSTGRES_REPLICA_URL; \
				echo "make test: its streaming replica at $$LEDGER_TEST_POSTGRES_REPLICA_URL"; \
			fi; \
		elif [ "$${CI:-}" = "true" ]; then \
			echo "make test: ERROR: PostgreSQL could not be started and CI=true;" \
			     "the PostgreSQL half of the suite is required in CI." >&2; \
			exit 1; \
		else \
			unset LEDGER_TEST_POSTGRES_URL; \
			pg_warning="$$(printf '%s\n' \
				'################################################################' \
				'## WARNING: PostgreSQL could not be started (see above).      ##' \
				'## Ran the SQLite half ONLY: postgres tests were SKIPPED.      ##' \
				'## (With CI=true this is a failure.)                          ##' \
				'################################################################')"; \
			printf '\n%s\n\n' "$$pg_warning" >&2; \
		fi; \
	fi; \
	rc=0; $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --durations=20 $(PYTEST_ARGS) || rc=$$?; \
	if [ -n "$$pg_warning" ]; then printf '\n%s\n' "$$pg_warning" >&2; fi; \
	exit $$rc

clean:
	-@scripts/pg-throwaway.sh stop
	rm -rf .pytest_cache .hypothesis build dist .pg-throwaway src/*.egg-info *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
