# The two entry points of the README. Each creates .venv when missing (or when
# pyproject.toml changed) and installs the project into it; nothing else is needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
STACKS := $(patsubst stacks/Pulumi.%.yaml,%,$(wildcard stacks/Pulumi.*.yaml))

DEB_PACKAGES := debootstrap apt-utils gnupg systemd-container socat openssh-client gcc libc6-dev iproute2 chromium
# Checkov (the AWS checks the industry runs) in a venv of its own: it pins packages Pulumi's SDK cannot share.
CHECKOV_VERSION := 3.3.30
CHECKOV := .venv-checkov/bin/checkov

.PHONY: plan test lint venv clean deps checkov

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

# The main job without a cloud: the offline plan of every sample stack.
plan: $(STAMP)
	@for stack in $(STACKS); do $(BIN)/gpucloud plan $$stack || exit $$?; echo; done

# Debian packages the node-software tests use: a Debian 12 root filesystem booted with systemd-nspawn, reached
# over SSH through socat, a signed local apt repository, and the C compiler for the stand-in NVML library.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "make deps: missing Debian packages:$$missing (install them as root; those tests skip meanwhile)"; fi; \
	fi

checkov: $(CHECKOV)

$(CHECKOV):
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check 'checkov==$(CHECKOV_VERSION)'

# The whole test suite, lint and type checks included.
test: $(STAMP) deps $(CHECKOV)
	$(BIN)/ruff check gpucloud stacks tests bench policy
	$(BIN)/mypy
	$(BIN)/gpucloud validate
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .venv-checkov .pytest_cache .mypy_cache .ruff_cache
