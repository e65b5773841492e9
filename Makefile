# The two commands a fresh clone needs:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Run the whole product on its embedded default (broker, worker, SQLite) and print the alerts.
demo: $(STAMP)
	$(BIN)/flockwatch demo

## Run every test (unit, rule packs, end-to-end over the embedded broker and PostgreSQL).
test: $(STAMP)
	$(BIN)/flockwatch rules test rules/
	$(BIN)/python -m pytest -q

## Every benchmark in benchmarks/, one after the other; each prints its figures (no pass/fail).
## Those over real text (ciphers, social, import) need ../shared/data; they say so and skip without it.
BENCHES ?= $(sort $(wildcard benchmarks/bench_*.py))
bench: $(STAMP)
	@for b in $(BENCHES); do echo "== $$b"; PYTHONPATH=src $(BIN)/python $$b || echo "!! $$b did not finish (see above)"; done

clean:
	rm -rf $(VENV) .pytest_cache var
