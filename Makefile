# dgw-emulator — two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
# Debian packages of the real peers the tests start (installed by `make test` when run as root).
PEER_PACKAGES := rsyslog openssh-client sshpass chrony openssl chromium kamailio kamailio-tls-modules snmp dnsmasq-base iproute2 baresip-core python3-gi gir1.2-gst-plugins-base-1.0 nginx lighttpd tftpd-hpa vsftpd \
	tshark libpcap0.8 gstreamer1.0-tools gstreamer1.0-plugins-good gstreamer1.0-plugins-bad libbcg729-0 libspandsp2 libtiff-tools sip-tester sngrep \
	podman runc mmdebstrap
RUN_ARGS ?=

.PHONY: run test venv venv-test peers lint bench clean

# sslyze pins a cryptography older than ours, so it gets a venv of its own (a TLS scanner peer).
.venv-sslyze/.stamp:
	$(PYTHON) -m venv .venv-sslyze
	.venv-sslyze/bin/pip install -q sslyze
	touch $@

$(VENV)/.stamp-run: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[speed]'
	touch $@

$(VENV)/.stamp-test: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[speed,test]'
	touch $@ $(VENV)/.stamp-run

venv: $(VENV)/.stamp-run
venv-test: $(VENV)/.stamp-test

## Start one unit (profile 4102) on 127.0.0.1; Ctrl-C stops it. Extra options: make run RUN_ARGS="--profile C740"
run: venv
	$(VENV)/bin/dgw-emulator run $(RUN_ARGS)

## Install the peers' Debian packages (root only; others must install them by hand).
peers:
	@if [ "$$(id -u)" = "0" ]; then \
	  missing=""; for p in $(PEER_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing peers:$$missing"; \
	    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections; \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  fi; \
	else echo "not root: install the peers yourself: $(PEER_PACKAGES)"; fi

lint: venv-test
	$(VENV)/bin/ruff check firmware_model emulator web_ui tests testkit bench tools
	$(VENV)/bin/mypy

## Whole suite: unit tests, interop tests against real peers, lint.
test: venv-test peers .venv-sslyze/.stamp
	$(VENV)/bin/ruff check firmware_model emulator web_ui tests testkit bench tools
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q -p no:cacheprovider tests

## Benchmarks (they print `name value unit` lines; figures go in README's performance table).
bench: venv-test
	$(PY) bench/boot.py
	$(PY) bench/tls.py
	$(PY) bench/snmp.py
	$(PY) bench/cwmp.py
	$(PY) bench/sip.py
	$(PY) bench/web.py
	$(PY) bench/media_core.py

clean:
	rm -rf $(VENV) .venv-sslyze state .pytest_cache .mypy_cache .ruff_cache
