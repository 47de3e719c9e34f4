# core.mk: the plain-C domain library core/ and its unit tests.
# Included by the top-level Makefile, which sets SHELL, .SHELLFLAGS and
# BUILD.  Each object gets a -MMD dependency file, so editing a header
# rebuilds exactly what includes it; editing this file rebuilds all.
#
#   $(BUILD)/core/libgovsvc_core.a   the library, as the tests link it
#   $(BUILD)/unit/test_*             unit tests against the library
#   $(BUILD)/unit-san/test_*         the same, rebuilt with ASan + UBSan
#   make unit                        run both sets through prove
#   make unit-valgrind               run the plain set under valgrind
#
# Objects live in obj/ subdirectories so that $(BUILD)/unit*/test_* names
# nothing but test programs.

GS_CFLAGS    := -std=c11 -Wall -Wextra -Werror -O2 -g
GS_SANFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer \
                -fno-sanitize-recover=all
GS_CPPFLAGS  := -Icore -MMD -MP

GS_CORE_SRCS := $(wildcard core/*.c)
GS_TESTS     := $(patsubst t/unit/%.c,%,$(wildcard t/unit/test_*.c))

GS_LIB       := $(BUILD)/core/libgovsvc_core.a
GS_LIB_OBJS  := $(patsubst core/%.c,$(BUILD)/core/obj/%.o,$(GS_CORE_SRCS))
GS_SAN_OBJS  := $(patsubst core/%.c,$(BUILD)/unit-san/obj/%.o,$(GS_CORE_SRCS))
GS_UNIT_OBJS := $(GS_TESTS:%=$(BUILD)/unit/obj/%.o)
GS_USAN_OBJS := $(GS_TESTS:%=$(BUILD)/unit-san/obj/%.o)
GS_UNIT_BINS := $(GS_TESTS:%=$(BUILD)/unit/%)
GS_SAN_BINS  := $(GS_TESTS:%=$(BUILD)/unit-san/%)

.PHONY: unit unit-valgrind

unit: $(GS_UNIT_BINS) $(GS_SAN_BINS)
	prove --exec '' $(GS_UNIT_BINS) $(GS_SAN_BINS)

unit-valgrind: $(GS_UNIT_BINS)
	prove --exec 'valgrind --error-exitcode=1 --leak-check=full -q' \
	    $(GS_UNIT_BINS)

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
	$(CC) $(GS_CFLAGS) $< $(GS_LIB) -o $@

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
	$(CC) $(GS_CFLAGS) $(GS_SANFLAGS) $^ -o $@

-include $(GS_LIB_OBJS:.o=.d) $(GS_SAN_OBJS:.o=.d) \
         $(GS_UNIT_OBJS:.o=.d) $(GS_USAN_OBJS:.o=.d)
