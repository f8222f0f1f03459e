# SPDX-License-Identifier: ISC
# The Python package (python/pollex) and its tests: unittest suites run
# with the system python3 against the real pollexd and the HTTP test
# service (tests/python.sh; skipped without python3).  pollexd and
# tests/testservice are built by "all", which "check" builds first.

PYTHON_PKG = python/pyproject.toml python/README.md \
	python/pollex/__init__.py python/pollex/_wire.py \
	python/pollex/aio.py python/pollex/client.py python/pollex/errors.py \
	python/pollex/executor.py python/pollex/types.py
PYTHON_TESTS = tests/python/pxharness.py tests/python/jobprog.py \
	tests/python/test_client.py tests/python/test_executor.py \
	tests/python/test_aio.py tests/python/test_restart.py \
	tests/python/test_badserver.py tests/python/test_readme.py \
	tests/python/test_wire.py

TESTS += tests/python.sh
EXTRA_DIST += tests/python.sh $(PYTHON_PKG) $(PYTHON_TESTS)
