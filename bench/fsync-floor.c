/* SPDX-License-Identifier: ISC */
/* fsync-floor.c: the floor for durable submits on this machine: single-row
 * SQLite transactions with the settings pollexd uses (WAL, synchronous=FULL,
 * exclusive locking), one at a time.
 *
 *   fsync-floor DB_PATH [COMMITS] */
#include "config.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	double *lat, t0;
	char id[32], wal[4096];
	int n = argc > 2 ? atoi(argv[2]) : 5000, i;

	if (argc < 2 || n < 100)
		return 64;
	unlink(argv[1]);
	snprintf(wal, sizeof wal, "%s-wal", argv[1]);
	unlink(wal);
	if (sqlite3_open(argv[1], &db) != SQLITE_OK)
		return 1;
	sqlite3_exec(db, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL;"
	    " PRAGMA synchronous=FULL; CREATE TABLE t (id TEXT PRIMARY KEY, "
	    "v TEXT) WITHOUT ROWID", NULL, NULL, NULL);
	sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?1, '{\"task_id\": "
	    "1234567890}')", -1, &s, NULL);
	lat = calloc((size_t)n, sizeof *lat);
	for (i = 0; i < n; i++) {
		t0 = now();
		sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
		snprintf(id, sizeof id, "%020d", i);
		sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
		sqlite3_step(s);
		sqlite3_reset(s);
		sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		lat[i] = now() - t0;
	}
	qsort(lat, (size_t)n, sizeof *lat, cmp);
	printf("{\"mode\":\"fsync-floor\",\"commits\":%d,\"p50_us\":%.1f,"
	    "\"p99_us\":%.1f,\"commits_per_sec\":%.0f}\n", n, lat[n / 2] * 1e6,
	    lat[n * 99 / 100] * 1e6, 1 / lat[n / 2]);
	sqlite3_finalize(s);
	sqlite3_close(db);
	unlink(argv[1]);
	unlink(wal);
	free(lat);
	return 0;
}
