# Two entry points, both bootstrap what they need on a fresh machine.
.PHONY: demo test lint bootstrap

demo:
	@./scripts/demo

test:
	@./scripts/test

lint:
	@./scripts/bootstrap >/dev/null && .venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

bootstrap:
	@./scripts/bootstrap
