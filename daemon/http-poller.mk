# daemon/http-poller.mk: (filled in by its owner; see Makefile.am)
