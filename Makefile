# RegCA: `make run` serves the demo PKI, `make test` runs the suite. Both start with `make install`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOME_DIR ?= $(or $(REGCA_HOME),var/demo)
# Every package and its hashes, resolved from pyproject.toml (`make lock`); installs use only it.
LOCK   := requirements.lock
TOOLS  := .venv-tools/bin
# The HA lab's servers (`make ha-lab`, tests/test_ha_lab.py): PostgreSQL's binaries, HAProxy.
HA_LAB_PACKAGES := postgresql haproxy
APT_PACKAGES := softhsm2 opensc poppler-utils xmlsec1 libxml2-utils chromium postgresql-client \
                libnss3-tools gnutls-bin fonts-dejavu-core $(HA_LAB_PACKAGES)
HA_LAB_DIR ?= var/ha-lab
HA_LAB_PORT ?= 18480
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run test system-packages bench clean lock audit fuzz ha-lab ha-lab-status \
        ha-lab-stop translations

install: system-packages $(BIN)/regca

# Debian packages: SoftHSM2 (the embedded HSM), OpenSC (pkcs11-tool), poppler (pdfsig), xmlsec1,
# Chromium (browser tests), NSS tools (certutil, vfychain) and GnuTLS (ocsptool): other judges;
# DejaVu fonts: the Polish letters of the printable PDFs (enrollment-web/printables.py);
# PostgreSQL and HAProxy for the HA lab.
system-packages:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The exact releases of requirements.lock, each checked against its hash, then RegCA itself
# (editable, nothing more resolved).
$(BIN)/regca: pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv >/dev/null \
	  && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --disable-pip-version-check --require-hashes -r $(LOCK)
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	@$(BIN)/pip check >/dev/null || { $(BIN)/pip check; \
	  echo "$(LOCK) does not cover pyproject.toml: run 'make lock', then 'make install'"; exit 1; }
	@touch $@

# Bring the lock in line with pyproject.toml (every platform, Python 3.11 and later), keeping
# the pins it has; LOCK_FLAGS=--upgrade moves every package to the newest release allowed,
# LOCK_FLAGS="--upgrade-package NAME" one. Commit the result after `make test`.
LOCK_FLAGS ?=
lock: $(TOOLS)/uv
	$(TOOLS)/uv pip compile pyproject.toml --extra test --universal --python-version 3.11 \
	  --generate-hashes --no-header --quiet $(LOCK_FLAGS) -o $(LOCK)

$(TOOLS)/uv:
	$(PYTHON) -m venv .venv-tools && $(TOOLS)/pip install -q --disable-pip-version-check uv pip-audit

# Known vulnerabilities in the locked releases (pip-audit, PyPI's advisory data); says plainly
# when that database cannot be reached, and does not fail then.
audit:
	@if $(MAKE) -s $(TOOLS)/uv >/dev/null 2>&1; then $(TOOLS)/python .ci/audit.py $(LOCK); \
	else echo "dependency audit SKIPPED: pip-audit could not be installed (no package index reachable)"; fi

run: install
	@test -f $(HOME_DIR)/regca.toml -a -f $(HOME_DIR)/.initialised || $(BIN)/regca --home $(HOME_DIR) init --demo
	$(BIN)/regca --home $(HOME_DIR) serve

# The suite on TEST_WORKERS processes (pytest-xdist), each test file whole on one of them so its
# module-scoped homes are built once; most tests wait on subprocesses, servers and the HSM, so two
# overlap well even on two cores. TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= 2
test: install
	$(BIN)/python -m pytest -q $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

# Each parser's fuzz harness (tests/fuzz/, atheris) for FUZZ_SECONDS; a crash stops with the
# input saved as var/fuzz/crash-*.
FUZZ_SECONDS ?= 300
FUZZ_TARGETS := csr ocsp_request tsa_request pdf_verify xml_verify ra_json
fuzz: install
	@mkdir -p var/fuzz
	@for t in $(FUZZ_TARGETS); do echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
	  $(BIN)/python tests/fuzz/run.py $$t $(FUZZ_SECONDS) --artifacts var/fuzz 2>var/fuzz/$$t.log \
	  || { tail -30 var/fuzz/$$t.log; exit 1; }; done

# Two nodes behind HAProxy on a PostgreSQL primary and synchronous standby, all on 127.0.0.1
# (ports HA_LAB_PORT to HA_LAB_PORT+5), in a fresh HA_LAB_DIR; it prints the URLs.
ha-lab: install
	$(BIN)/python -m lab.ha_lab start --dir $(HA_LAB_DIR) --base-port $(HA_LAB_PORT)

ha-lab-status:
	@$(BIN)/python -m lab.ha_lab status --dir $(HA_LAB_DIR)

ha-lab-stop:
	@$(BIN)/python -m lab.ha_lab stop --dir $(HA_LAB_DIR)

bench: install
	$(BIN)/python bench/issue.py

clean:
	rm -rf $(VENV) .venv-tools var build *.egg-info

# The enrollment web's catalogue: messages.mo compiled from the committed messages.po (both are
# committed; tests/test_web_catalogue.py fails when they differ).
translations: install
	$(BIN)/pybabel compile -d enrollment-web/translations
