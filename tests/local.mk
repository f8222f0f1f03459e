# tests/
# Client library unit tests live in their own fragment.
include tests/client.mk
