# GovSvc: one Makefile drives the build, the tests, the stack and the
# benchmarks.  `make run` and `make test` install what they need first.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

BUILD   ?= $(CURDIR)/build
NGX_SRC ?= /usr/share/nginx/src
MODULE  := $(BUILD)/nginx/objs/ngx_govsvc_module.so

# Debian's own hardening flags, so the module is built as the packaged
# nginx was; -W -Wall -Werror come from nginx's configure.
NGX_CC_OPT := -g -O2 -fstack-protector-strong -Wformat \
              -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2

export GOVSVC_MODULE := $(MODULE)
export GOVSVC_ROOT   := $(CURDIR)

.PHONY: all deps module html browser-deps unit test test-valgrind deb run bench clean

all: module html

deps:
	@scripts/deps.sh

$(BUILD)/nginx/objs/Makefile: config
	rm -rf $(BUILD)/nginx
	mkdir -p $(BUILD)
	cp -r $(NGX_SRC) $(BUILD)/nginx
	cd $(BUILD)/nginx && . ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" --with-cc-opt="$(NGX_CC_OPT)" \
	    --add-dynamic-module=$(CURDIR) > $(BUILD)/configure.log

module: $(BUILD)/nginx/objs/Makefile
	cd $(BUILD)/nginx && $(MAKE) -s -f $(BUILD)/nginx/objs/Makefile modules

include core/core.mk

# the web pages: html/ -> build/html/ with fingerprinted assets
HTML_SRC := $(shell find html -type f 2>/dev/null)
html: $(BUILD)/html/index.html

$(BUILD)/html/index.html: $(HTML_SRC) scripts/build-html.sh
	scripts/build-html.sh html $(BUILD)/html

# playwright-core for the browser tests (t/95-browser.t), from the lock
BROWSER_DEPS := t/browser/node_modules/.package-lock.json
browser-deps: $(BROWSER_DEPS)

$(BROWSER_DEPS): t/browser/package.json t/browser/package-lock.json
	cd t/browser && npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: deps module html browser-deps unit unit-valgrind fuzz deb
	prove -I t/lib -r t/

# the end-to-end suite with every nginx under valgrind's memcheck (slow:
# about ten times the plain run); T= narrows it, e.g. T=t/92-sync-nodes.t
test-valgrind: deps module html browser-deps passwd-tool
	GOVSVC_VALGRIND=1 prove -I t/lib $(or $(T),-r t/)

# the Debian package of the module, as Debian packages its own
# libnginx-mod-* (pkg/debian): build/deb/libnginx-mod-http-govsvc_*.deb
deb: deps html
	rm -rf $(BUILD)/deb
	mkdir -p $(BUILD)/deb/govsvc
	cp -r config core ngx_govsvc_module sql scripts conf pkg \
	    $(BUILD)/deb/govsvc/
	cp -r $(BUILD)/html $(BUILD)/deb/govsvc/html-built
	cp -r pkg/debian $(BUILD)/deb/govsvc/debian
	cd $(BUILD)/deb/govsvc && dpkg-buildpackage -b -us -uc \
	    > $(BUILD)/deb/build.log 2>&1 \
	    || { tail -40 $(BUILD)/deb/build.log; exit 1; }
	@ls $(BUILD)/deb/*.deb

run: deps module html passwd-tool
	scripts/run.sh

bench: deps module passwd-tool
	bench/run.sh

clean:
	rm -rf $(BUILD)
