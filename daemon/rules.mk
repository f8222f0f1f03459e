# daemon/rules.mk: (filled in by its owner; see Makefile.am)
