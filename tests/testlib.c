/* SPDX-License-Identifier: ISC */
/* testlib.c: what the Check suites share. */
#include "config.h"

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"

int
check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}

char *
test_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *dir;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (asprintf(&dir, "%s/pollex-test.XXXXXX", base) == -1)
		abort();
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	return dir;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 ? 0 : 0;
}

void
rm_rf(const char *path)
{
	if (path != NULL)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *
write_file(const char *dir, const char *name, const char *text, int exec)
{
	char *path;
	FILE *f;

	if (asprintf(&path, "%s/%s", dir, name) == -1)
		abort();
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		abort();
	}
	fputs(text, f);
	fclose(f);
	chmod(path, exec ? 0755 : 0644);
	return path;
}
