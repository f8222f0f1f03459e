# SPDX-License-Identifier: ISC
# tests/rules.mk: unit tests of the templates and outcome rules.
UNIT_TESTS += tests/check_rules
tests_check_rules_SOURCES = tests/check_rules.c
tests_check_rules_CFLAGS = $(TEST_CFLAGS)
tests_check_rules_LDADD = $(TEST_LIBS) $(JSONC_LIBS)
