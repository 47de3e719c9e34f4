# core.mk: the plain-C domain library core/ and its unit tests.
# Included by the top-level Makefile, which sets SHELL, .SHELLFLAGS and
# BUILD.  Each object gets a -MMD dependency file, so editing a header
# rebuilds exactly what includes it; editing this file rebuilds all.
#
#   $(BUILD)/core/libgovsvc_core.a   the library, as the tests link it
#   $(BUILD)/unit/test_*             unit tests against the library
#   $(BUILD)/unit-san/test_*         the same, rebuilt with ASan + UBSan
#   $(BUILD)/govsvc-passwd           password line on stdin -> stored hash
#   make unit                        run both sets through prove
#   make unit-valgrind               run the plain set under valgrind,
#                                    with GS_TEST_FAST=1 (tests skip their
#                                    slow cases, e.g. 600k-round PBKDF2)
#   make passwd-tool                 build $(BUILD)/govsvc-passwd
#   make fuzz                        each libFuzzer harness of t/fuzz/ for
#                                    FUZZ_SECONDS (5) with ASan + UBSan,
#                                    from the seeds of t/fuzz/corpus/ and
#                                    keeping what it finds in
#                                    $(BUILD)/fuzz/corpus/
#
# gs_password uses OpenSSL 3, so everything linking core gets -lcrypto.
#
# Objects live in obj/ subdirectories so that $(BUILD)/unit*/test_* names
# nothing but test programs.

GS_CFLAGS    := -std=c11 -Wall -Wextra -Werror -O2 -g
GS_SANFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer \
                -fno-sanitize-recover=all
GS_CPPFLAGS  := -Icore -MMD -MP
GS_LDLIBS    := -lcrypto

GS_CORE_SRCS := $(wildcard core/*.c)
GS_TESTS     := $(patsubst t/unit/%.c,%,$(wildcard t/unit/test_*.c))

GS_LIB       := $(BUILD)/core/libgovsvc_core.a
GS_LIB_OBJS  := $(patsubst core/%.c,$(BUILD)/core/obj/%.o,$(GS_CORE_SRCS))
GS_SAN_OBJS  := $(patsubst core/%.c,$(BUILD)/unit-san/obj/%.o,$(GS_CORE_SRCS))
GS_UNIT_OBJS := $(GS_TESTS:%=$(BUILD)/unit/obj/%.o)
GS_USAN_OBJS := $(GS_TESTS:%=$(BUILD)/unit-san/obj/%.o)
GS_UNIT_BINS := $(GS_TESTS:%=$(BUILD)/unit/%)
GS_SAN_BINS  := $(GS_TESTS:%=$(BUILD)/unit-san/%)
GS_TOOL_OBJ  := $(BUILD)/tool/obj/govsvc_passwd.o

export GOVSVC_PASSWD := $(BUILD)/govsvc-passwd

GS_FUZZ      := $(patsubst t/fuzz/%.c,%,$(wildcard t/fuzz/fuzz_*.c))
GS_FUZZ_BINS := $(GS_FUZZ:%=$(BUILD)/fuzz/%)
GS_FUZZ_CC   ?= clang
FUZZ_SECONDS ?= 5

.PHONY: unit unit-valgrind passwd-tool fuzz

unit: $(GS_UNIT_BINS) $(GS_SAN_BINS) passwd-tool
	prove --exec '' $(GS_UNIT_BINS) $(GS_SAN_BINS)

unit-valgrind: $(GS_UNIT_BINS)
	GS_TEST_FAST=1 prove \
	    --exec 'valgrind --error-exitcode=1 --leak-check=full -q' \
	    $(GS_UNIT_BINS)

passwd-tool: $(GOVSVC_PASSWD)

# libFuzzer links its own main: the harness and every core source, in one
# (and cJSON, which fuzz_body decodes with, as the module does)
$(GS_FUZZ_BINS): $(BUILD)/fuzz/%: t/fuzz/%.c $(GS_CORE_SRCS) core/core.mk
	@mkdir -p $(@D)
	$(GS_FUZZ_CC) -std=c11 -g -O1 -Icore -I/usr/include/cjson -Wall \
	    -Wextra -Werror \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    $< $(GS_CORE_SRCS) $(GS_LDLIBS) -lcjson -o $@

fuzz: $(GS_FUZZ_BINS)
	@for f in $(GS_FUZZ); do \
	    mkdir -p $(BUILD)/fuzz/corpus/$$f t/fuzz/corpus/$$f; \
	    $(BUILD)/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) \
	        -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/$$f- \
	        $(BUILD)/fuzz/corpus/$$f t/fuzz/corpus/$$f \
	        2> $(BUILD)/fuzz/$$f.log \
	        || { tail -40 $(BUILD)/fuzz/$$f.log; exit 1; }; \
	    echo "$$f: $$(grep -o 'stat::number_of_executed_units: *[0-9]*' \
	        $(BUILD)/fuzz/$$f.log | grep -o '[0-9]*$$') runs," \
	        "$(FUZZ_SECONDS) s, no finding"; \
	done

$(GS_TOOL_OBJ): $(BUILD)/tool/obj/%.o: core/tool/%.c core/core.mk
	@mkdir -p $(@D)
	$(CC) $(GS_CPPFLAGS) $(GS_CFLAGS) -c $< -o $@

$(GOVSVC_PASSWD): $(GS_TOOL_OBJ) $(GS_LIB)
	$(CC) $(GS_CFLAGS) $< $(GS_LIB) $(GS_LDLIBS) -o $@

$(GS_LIB): $(GS_LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(GS_LIB_OBJS): $(BUILD)/core/obj/%.o: core/%.c core/core.mk
	@mkdir -p $(@D)
	$(CC) $(GS_CPPFLAGS) $(GS_CFLAGS) -c $< -o $@

$(GS_UNIT_OBJS): $(BUILD)/unit/obj/%.o: t/unit/%.c core/core.mk
	@mkdir -p $(@D)
	$(CC) $(GS_CPPFLAGS) $(GS_CFLAGS) -c $< -o $@

$(GS_UNIT_BINS): $(BUILD)/unit/%: $(BUILD)/unit/obj/%.o $(GS_LIB)
	$(CC) $(GS_CFLAGS) $< $(GS_LIB) $(GS_LDLIBS) -o $@

$(GS_SAN_OBJS): $(BUILD)/unit-san/obj/%.o: core/%.c core/core.mk
	@mkdir -p $(@D)
	$(CC) $(GS_CPPFLAGS) $(GS_CFLAGS) $(GS_SANFLAGS) -c $< -o $@

$(GS_USAN_OBJS): $(BUILD)/unit-san/obj/%.o: t/unit/%.c core/core.mk
	@mkdir -p $(@D)
	$(CC) $(GS_CPPFLAGS) $(GS_CFLAGS) $(GS_SANFLAGS) -c $< -o $@

# Each sanitized test links every core object: the units are small, and
# the rule need not know which test exercises which unit.
$(GS_SAN_BINS): $(BUILD)/unit-san/%: $(BUILD)/unit-san/obj/%.o \
                $(GS_SAN_OBJS)
	$(CC) $(GS_CFLAGS) $(GS_SANFLAGS) $^ $(GS_LDLIBS) -o $@

-include $(GS_LIB_OBJS:.o=.d) $(GS_SAN_OBJS:.o=.d) \
         $(GS_UNIT_OBJS:.o=.d) $(GS_USAN_OBJS:.o=.d) $(GS_TOOL_OBJ:.o=.d)
