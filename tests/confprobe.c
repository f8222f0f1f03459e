/* SPDX-License-Identifier: ISC */
/*
 * confprobe.c: which keys does the configuration loader accept?
 *
 * Usage: confprobe TEMPLATE KEY...
 *
 * TEMPLATE is a configuration file's text holding the placeholder @KEY@
 * once, where a key of the object under test goes ("@KEY@": null).  For
 * each KEY the placeholder is replaced by it, the text is loaded with
 * conf_load() (what pollexd -n does, in-process: one run per key would be
 * slow), and KEY is printed when the loader did not answer "KEY: unknown
 * key": a key it reads, even one it then finds fault with (null is the
 * default of most keys, and an error for a few that have none).
 *
 * The template must be a valid configuration around the placeholder, or
 * every key would look accepted: a made-up key is probed first, and when
 * it is not reported unknown confprobe exits 2 with the loader's answer.
 * Used by tests/man-coverage.sh.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "testlib.h"

#define PLACEHOLDER "@KEY@"
#define BOGUS "confprobe_no_such_key"

/* 1: key accepted, 0: unknown, and the loader's answer in *why. */
static int
probe(const char *dir, const char *tmpl, const char *key, char **why)
{
	const char *at = strstr(tmpl, PLACEHOLDER);
	struct conf *c = NULL;
	char *text, *path, *cause = NULL, *tail;
	size_t clen;
	int accepted = 1;

	if (asprintf(&text, "%.*s%s%s", (int)(at - tmpl), tmpl, key,
	    at + strlen(PLACEHOLDER)) == -1)
		abort();
	path = write_file(dir, "probe.conf", text, 0);
	if (conf_load(path, &c, &cause) == 0)
		conf_free(c);
	else if (cause != NULL) {
		/* "FILE: path.KEY: unknown key", "FILE: KEY: unknown key" */
		if (asprintf(&tail, "%s: unknown key", key) == -1)
			abort();
		clen = strlen(cause);
		if (clen > strlen(tail) + 1 &&
		    strcmp(cause + clen - strlen(tail), tail) == 0 &&
		    strchr(". ", cause[clen - strlen(tail) - 1]) != NULL)
			accepted = 0;
		free(tail);
	}
	*why = cause;
	free(path);
	free(text);
	return accepted;
}

int
main(int argc, char **argv)
{
	char *dir, *why = NULL;
	int i, rc = 0;

	if (argc < 2 || strstr(argv[1], PLACEHOLDER) == NULL) {
		fprintf(stderr, "usage: confprobe TEMPLATE-WITH-%s KEY...\n",
		    PLACEHOLDER);
		return 2;
	}
	dir = test_tmpdir();
	if (probe(dir, argv[1], BOGUS, &why)) {
		fprintf(stderr, "confprobe: the template does not load but for "
		    "an unknown key: %s\n  %s\n", why != NULL ? why : "(loaded)",
		    argv[1]);
		rc = 2;
	}
	free(why);
	for (i = 2; i < argc && rc == 0; i++) {
		if (probe(dir, argv[1], argv[i], &why))
			printf("%s\n", argv[i]);
		free(why);
	}
	rm_rf(dir);
	free(dir);
	return rc;
}
