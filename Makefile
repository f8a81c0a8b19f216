# dataledger — the two commands a newcomer needs are `make up` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
PYTEST := .venv/bin/pytest

.PHONY: up test bench soak setup artifacts check-artifacts compile coverage slither mypy clean

## Run the whole stack on embedded defaults (anvil, SQLite, local IPFS store, demo market, gateway :8000)
up:
	@scripts/setup.sh up
	@$(PY) -m dataledger.dev.stack up

## Run every test suite against real anvil, PostgreSQL and Kubo (started by the run itself)
test:
	@scripts/setup.sh test
	@$(PY) -m ledger.build --check
	@.venv/bin/mypy
	@$(PYTEST) -q -m "not soak" -p no:cacheprovider

## Benchmarks: each prints a table, writes bench/results/<name>.json and fails when it misses its goal;
## then the README's benchmark table is rewritten from the result files (even after a miss: it says so)
bench:
	@scripts/setup.sh bench
	@rc=0; $(PY) -m bench || rc=$$?; $(PY) -m bench.report --readme; exit $$rc

## Long stateful property run (>= 10,000 steps)
soak:
	@scripts/setup.sh test
	@$(PYTEST) -q -m soak -p no:cacheprovider

setup:
	@scripts/setup.sh test

## Recompile the contracts (py-solc-x over npm solc) and rewrite ledger/artifacts/
artifacts:
	@scripts/setup.sh dev
	@$(PY) -m ledger.build

check-artifacts:
	@$(PY) -m ledger.build --check

compile:
	@npx hardhat compile

coverage:
	@scripts/setup.sh test
	@scripts/coverage.sh

slither:
	@scripts/setup.sh test
	@scripts/slither.sh

mypy:
	@scripts/setup.sh dev
	@.venv/bin/mypy

clean:
	rm -rf build .dataledger bench/results coverage coverage.json test-artifacts
