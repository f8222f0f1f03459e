/* SPDX-License-Identifier: ISC */
/* testlib.h: what the Check suites share. */
#ifndef POLLEX_TESTLIB_H
#define POLLEX_TESTLIB_H

#include <check.h>

/* Run a suite with the environment's settings (CK_FORK, CK_RUN_CASE...);
 * the exit status for make check. */
int check_run(Suite *s);

/* A fresh private directory under $TMPDIR; removed by rm_rf(). */
char *test_tmpdir(void);
void rm_rf(const char *path);
/* Write text to dir/name (mode 0755 when exec); returns the path. */
char *write_file(const char *dir, const char *name, const char *text,
    int exec);

#endif
