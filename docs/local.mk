# docs/: documentation and the daemon's man pages (the client's are in
# client/local.mk).
dist_doc_DATA += README.md docs/protocol.md docs/configuration.md \
	docs/exec-poller.md docs/operations.md docs/benchmarks.md \
	docs/decisions.md docs/http-pollers.md docs/http-templates.md \
	docs/testing.md \
	common/io.pollex.varlink
dist_man_MANS += docs/man/pollexd.8 docs/man/pollexd.conf.5
