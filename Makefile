# RegCA: `make run` serves the demo PKI, `make test` runs the suite. Both start with `make install`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOME_DIR ?= $(or $(REGCA_HOME),var/demo)
APT_PACKAGES := softhsm2 opensc poppler-utils xmlsec1 libxml2-utils chromium postgresql-client \
                libnss3-tools gnutls-bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run test system-packages bench clean

install: system-packages $(BIN)/regca

# Debian packages: SoftHSM2 (the embedded HSM), OpenSC (pkcs11-tool), poppler (pdfsig), xmlsec1,
# Chromium (browser tests), NSS tools (certutil, vfychain) and GnuTLS (ocsptool): other judges.
system-packages:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(BIN)/regca: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv >/dev/null \
	  && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	@touch $@

run: install
	@test -f $(HOME_DIR)/regca.toml -a -f $(HOME_DIR)/.initialised || $(BIN)/regca --home $(HOME_DIR) init --demo
	$(BIN)/regca --home $(HOME_DIR) serve

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python bench/issue.py

clean:
	rm -rf $(VENV) var build *.egg-info
