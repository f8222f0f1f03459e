# SPDX-License-Identifier: ISC
# systemd/: the units, sysusers.d and tmpfiles.d entries, expanded from
# their .in templates with the configured paths; and their tests.

SYSTEMD_IN = systemd/pollexd.service.in systemd/pollexd.socket.in \
	systemd/pollex.sysusers.in systemd/pollex.tmpfiles.in
SYSTEMD_GEN = systemd/pollexd.service systemd/pollexd.socket \
	systemd/pollex.sysusers systemd/pollex.tmpfiles
EXTRA_DIST += $(SYSTEMD_IN)
CLEANFILES += $(SYSTEMD_GEN)
noinst_DATA = $(SYSTEMD_GEN)

# Expanded by make, not configure, so that "make prefix=..." and
# distcheck's paths are followed.
systemd_edit = sed \
	-e 's|@sbindir[@]|$(sbindir)|g' \
	-e 's|@bindir[@]|$(bindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	-e 's|@localstatedir[@]|$(localstatedir)|g' \
	-e 's|@runstatedir[@]|$(runstatedir)|g'

$(SYSTEMD_GEN): Makefile
$(SYSTEMD_GEN): %: $(srcdir)/%.in
	$(AM_V_GEN)$(MKDIR_P) systemd && $(systemd_edit) $< >$@.tmp && mv $@.tmp $@

if HAVE_SYSTEMDUNITDIR
systemdunitdir = $(systemdsystemunitdir)
systemdunit_DATA = systemd/pollexd.service systemd/pollexd.socket
endif

# sysusers.d and tmpfiles.d want NAME.conf.
install-data-local: install-systemd-extra
uninstall-local: uninstall-systemd-extra
install-systemd-extra: systemd/pollex.sysusers systemd/pollex.tmpfiles
if HAVE_SYSUSERSDIR
	$(MKDIR_P) '$(DESTDIR)$(sysusersdir)'
	$(INSTALL_DATA) systemd/pollex.sysusers '$(DESTDIR)$(sysusersdir)/pollex.conf'
endif
if HAVE_TMPFILESDIR
	$(MKDIR_P) '$(DESTDIR)$(tmpfilesdir)'
	$(INSTALL_DATA) systemd/pollex.tmpfiles '$(DESTDIR)$(tmpfilesdir)/pollex.conf'
endif
uninstall-systemd-extra:
if HAVE_SYSUSERSDIR
	rm -f '$(DESTDIR)$(sysusersdir)/pollex.conf'
endif
if HAVE_TMPFILESDIR
	rm -f '$(DESTDIR)$(tmpfilesdir)/pollex.conf'
endif
.PHONY: install-systemd-extra uninstall-systemd-extra

# distcheck installs under its own prefix, never into /lib.
AM_DISTCHECK_CONFIGURE_FLAGS = \
	--with-systemdsystemunitdir='$${libdir}/systemd/system' \
	--with-sysusersdir='$${libdir}/sysusers.d' \
	--with-tmpfilesdir='$${libdir}/tmpfiles.d'

# Tests: the units (systemd-analyze verify and security), the notify
# protocol and socket activation.
check_PROGRAMS += tests/check_systemd
TESTS += tests/check_systemd tests/units-verify.sh
EXTRA_DIST += tests/units-verify.sh
tests_check_systemd_SOURCES = tests/check_systemd.c
tests_check_systemd_CFLAGS = $(TEST_CFLAGS)
tests_check_systemd_LDADD = tests/libharness.la $(TEST_LIBS)
tests/units-verify.log: $(SYSTEMD_GEN) daemon/pollexd
