# SPDX-License-Identifier: ISC
# etc/: the configuration "make install" puts where the units and pollexd
# look for it ($(sysconfdir)/pollex/pollexd.conf): no active poller,
# commented examples of each kind.  An existing file is never replaced;
# uninstall removes it only while it is still the shipped one.
EXTRA_DIST += etc/pollexd.conf
install-data-local: install-default-conf
uninstall-local: uninstall-default-conf
install-default-conf:
	$(MKDIR_P) '$(DESTDIR)$(sysconfdir)/pollex'
	@if test -e '$(DESTDIR)$(sysconfdir)/pollex/pollexd.conf'; then \
	  echo "keeping $(DESTDIR)$(sysconfdir)/pollex/pollexd.conf"; \
	else \
	  echo " $(INSTALL_DATA) etc/pollexd.conf $(DESTDIR)$(sysconfdir)/pollex/pollexd.conf"; \
	  $(INSTALL_DATA) $(srcdir)/etc/pollexd.conf \
	    '$(DESTDIR)$(sysconfdir)/pollex/pollexd.conf'; \
	fi
uninstall-default-conf:
	@f='$(DESTDIR)$(sysconfdir)/pollex/pollexd.conf'; \
	if cmp -s "$$f" $(srcdir)/etc/pollexd.conf; then rm -f "$$f"; fi; \
	rmdir '$(DESTDIR)$(sysconfdir)/pollex' 2>/dev/null || :
.PHONY: install-default-conf uninstall-default-conf

# The shipped file loads, and so does every commented example in it.
TESTS += tests/default-conf.sh
EXTRA_DIST += tests/default-conf.sh
