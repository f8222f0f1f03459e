# SPDX-License-Identifier: ISC
# tests/fuzz/: libFuzzer targets (docs/testing.md).  "make fuzz" builds
# them with clang into tests/fuzz/out; the normal build never needs clang.
FUZZ_SECONDS = 60
fuzz: daemon/varlink-idl.c
	$(SHELL) $(srcdir)/tests/fuzz/build.sh $(srcdir) $(builddir) \
	    $(builddir)/tests/fuzz/out
fuzz-run: fuzz
	FUZZ_OUT=$(builddir)/tests/fuzz/out $(SHELL) \
	    $(srcdir)/tests/fuzz/run.sh $(FUZZ_SECONDS)
.PHONY: fuzz fuzz-run
clean-local: clean-fuzz
clean-fuzz:
	rm -rf tests/fuzz/out
.PHONY: clean-fuzz

EXTRA_DIST += tests/fuzz/build.sh tests/fuzz/run.sh tests/fuzz/pollex.dict \
	tests/fuzz/fuzzlib.c tests/fuzz/fuzzlib.h tests/fuzz/fzdaemon.c \
	tests/fuzz/fzdaemon.h \
	tests/fuzz/fuzz_frame.c tests/fuzz/fuzz_client_reply.c \
	tests/fuzz/fuzz_jspan.c tests/fuzz/fuzz_conf.c tests/fuzz/fuzz_rules.c \
	tests/fuzz/fuzz_templates.c tests/fuzz/fuzz_dispatch.c \
	tests/fuzz/fuzz_exec_output.c tests/fuzz/fuzz_http_response.c \
	tests/fuzz/corpus tests/fuzz/crashers
