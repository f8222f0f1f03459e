# SPDX-License-Identifier: ISC
# examples/: the quick start's configuration and its programs.
examplesdir = $(docdir)/examples
dist_examples_DATA = examples/pollexd.conf
dist_examples_SCRIPTS = examples/timer-start examples/timer-poll \
	examples/timer-cancel
EXTRA_DIST += examples/demo
