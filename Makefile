# The README's two commands. Both bootstrap .venv first (idempotent, registries only).
.PHONY: demo test bench bootstrap

bootstrap:
	./bootstrap.sh

demo: bootstrap
	.venv/bin/pfmt train --speed 20 --data .pfmt-demo

test: bootstrap
	.venv/bin/python -m pytest -q

bench: bootstrap
	.venv/bin/pfmt bench
