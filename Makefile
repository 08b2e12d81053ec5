# pyrogrpc developer tasks. Append new targets below; keep each with its own
# .PHONY line.

VENV := .venv
INSTALLED := $(VENV)/.installed
PYTHON ?= $(VENV)/bin/python
BUF ?= npx --yes @bufbuild/buf@1.75

PROTO_DIR := protos
PROTO_FILES := $(sort $(wildcard $(PROTO_DIR)/pyronear/v1/*.proto))
GENERATED_DIR := generated
DESCRIPTOR_SET := descriptor_set.binpb
# Lines of generated code that only record which protoc/grpcio-tools release wrote them;
# check-generated ignores them so a patch release of the tools is not "stale" stubs.
VERSION_BANNERS := -I '^\# Protobuf Python Version: ' -I '^GRPC_GENERATED_VERSION = ' -I '^    [0-9]+,$$'

# $(call protoc,OUT_DIR): generate the Python messages, typed stubs and gRPC
# stubs into OUT_DIR, plus the empty __init__.py files that make
# OUT_DIR/pyronear/v1 an importable package (pyronear.v1.*), and the descriptor
# set WITH the protos' comments (source info) that the reflection service serves
# (so `grpcurl describe` shows who may call an RPC and its errors).
define protoc
	mkdir -p $(1)
	$(PYTHON) -m grpc_tools.protoc -I $(PROTO_DIR) --python_out=$(1) --pyi_out=$(1) --grpc_python_out=$(1) $(PROTO_FILES)
	$(PYTHON) -m grpc_tools.protoc -I $(PROTO_DIR) --include_imports --include_source_info --descriptor_set_out=$(1)/pyronear/v1/$(DESCRIPTOR_SET) $(PROTO_FILES)
	touch $(1)/pyronear/__init__.py $(1)/pyronear/v1/__init__.py
endef

.PHONY: generate
generate: ## Regenerate the Python stubs in generated/ from protos/
	rm -rf $(GENERATED_DIR)/pyronear
	$(call protoc,$(GENERATED_DIR))

.PHONY: check-generated
check-generated: $(INSTALLED) ## Fail when generated/ is stale (differs from a fresh generation)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(MAKE) --no-print-directory GENERATED_DIR="$$tmp" _generate-into >/dev/null && \
	if diff -r -x __pycache__ $(VERSION_BANNERS) "$$tmp/pyronear" $(GENERATED_DIR)/pyronear; then \
		echo "generated/ is up to date"; \
	else \
		echo "generated/ is stale: run 'make generate'" >&2; exit 1; \
	fi

# Internal helper of check-generated: generate into $(GENERATED_DIR) without
# deleting anything first.
.PHONY: _generate-into
_generate-into:
	$(call protoc,$(GENERATED_DIR))

.PHONY: lint-protos
lint-protos: ## Lint protos/ with buf (STANDARD rules, see protos/buf.yaml)
	cd $(PROTO_DIR) && $(BUF) lint

# --- set-up, run, test -------------------------------------------------------
# The venv is (re)built when pyproject.toml or the lock changes; `make run` and `make test`
# need nothing else. Every dependency comes from requirements.lock (exact versions and
# hashes), so a fresh machine and CI get the versions the tests ran with.
$(INSTALLED): pyproject.toml requirements.lock
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --require-hashes -r requirements.lock
	$(VENV)/bin/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

.PHONY: install
install: $(INSTALLED) ## Create .venv and install pyrogrpc with its dev tools

.PHONY: run
run: $(INSTALLED) ## Serve gRPC on :50051 and HTTP on :8080 with the embedded default (SQLite + media folder in ./.pyrogrpc)
	$(VENV)/bin/pyrogrpc serve

.PHONY: test
test: $(INSTALLED) ## Run the test suite on SQLite and the local PostgreSQL
	$(PYTHON) -m pytest $(PYTEST_ARGS)

.PHONY: bench
bench: $(INSTALLED) ## Run the benchmarks in bench/ (loopback only; prints tables, writes bench/results/*.json)
	$(PYTHON) bench/run_all.py

.PHONY: lock
lock: ## Re-resolve requirements.lock from pyproject.toml (needs uv: pip install uv)
	uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes --quiet -o requirements.lock

.PHONY: lint
lint: $(INSTALLED) ## ruff (lint + format check), mypy on pyrogrpc/, import-linter layer contracts (pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
