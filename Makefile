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

.PHONY: all deps module unit test test-valgrind run bench clean

all: module

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

test: deps module unit unit-valgrind fuzz
	prove -I t/lib -r t/

# the end-to-end suite with every nginx under valgrind's memcheck (slow:
# about ten times the plain run); T= narrows it, e.g. T=t/92-sync-nodes.t
test-valgrind: deps module
	GOVSVC_VALGRIND=1 prove -I t/lib $(or $(T),-r t/)

run: deps module passwd-tool
	scripts/run.sh

bench: deps module passwd-tool
	bench/run.sh

clean:
	rm -rf $(BUILD)
