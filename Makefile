# The README's commands. `make demo` and `make test` each set up what they need first.
.PHONY: setup demo test check bench clean

setup:
	@scripts/setup

demo: setup
	.venv/bin/thongsuot demo

test: setup
	.venv/bin/python -m pytest -n auto -q

check: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports
	.venv/bin/mypy

bench:
	@scripts/setup --bench
	.venv/bin/python -m bench

clean:
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
