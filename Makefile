# The README's two commands. Both bootstrap .venv first (idempotent, registries only).
.PHONY: demo test test-fast check bench bootstrap

bootstrap:
	./bootstrap.sh

demo: bootstrap
	.venv/bin/pfmt train --speed 20 --data pfmt-demo
	@echo "the session is kept in pfmt-demo/: .venv/bin/pfmt sessions --data pfmt-demo"

test: bootstrap
	.venv/bin/python -m pytest -q -n auto --dist loadfile

# The quick loop while working: everything not marked slow (under 2 minutes here).
test-fast: bootstrap
	.venv/bin/python -m pytest -q -n auto --dist loadfile -m "not slow"

# The house's habits as checks: lint, types, the direction of imports (.ci/run runs them too).
check: bootstrap
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/lint-imports

bench: bootstrap
	.venv/bin/pfmt bench
