# pyrogrpc developer tasks. Append new targets below; keep each with its own
# .PHONY line.

PYTHON ?= .venv/bin/python
BUF ?= npx --yes @bufbuild/buf@1.75

PROTO_DIR := protos
PROTO_FILES := $(sort $(wildcard $(PROTO_DIR)/pyronear/v1/*.proto))
GENERATED_DIR := generated

# $(call protoc,OUT_DIR): generate the Python messages, typed stubs and gRPC
# stubs into OUT_DIR, plus the empty __init__.py files that make
# OUT_DIR/pyronear/v1 an importable package (pyronear.v1.*).
define protoc
	mkdir -p $(1)
	$(PYTHON) -m grpc_tools.protoc -I $(PROTO_DIR) --python_out=$(1) --pyi_out=$(1) --grpc_python_out=$(1) $(PROTO_FILES)
	touch $(1)/pyronear/__init__.py $(1)/pyronear/v1/__init__.py
endef

.PHONY: generate
generate: ## Regenerate the Python stubs in generated/ from protos/
	rm -rf $(GENERATED_DIR)/pyronear
	$(call protoc,$(GENERATED_DIR))

.PHONY: check-generated
check-generated: ## Fail when generated/ is stale (differs from a fresh generation)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(MAKE) --no-print-directory GENERATED_DIR="$$tmp" _generate-into >/dev/null && \
	if diff -r -x __pycache__ "$$tmp/pyronear" $(GENERATED_DIR)/pyronear; then \
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
