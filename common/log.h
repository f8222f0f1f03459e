/* SPDX-License-Identifier: ISC */
/* log.h: leveled logging to stderr, journal-friendly. */
#ifndef POLLEX_LOG_H
#define POLLEX_LOG_H

#include <stdarg.h>

#define LOG_ATTR(a, b) __attribute__((format(printf, a, b)))

/*
 * Levels follow syslog(3) numbering: under systemd (JOURNAL_STREAM names our
 * stderr) each line starts with "<N>" so the journal records its priority;
 * on a terminal each line gets a timestamp and a level word instead.
 */
enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARNING = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

void log_init(const char *ident, int verbose);
void log_set_verbose(int verbose);
int log_get_verbose(void);
void log_emit(int level, const char *fmt, ...) LOG_ATTR(2, 3);
void log_vemit(int level, const char *fmt, va_list ap) LOG_ATTR(2, 0);

void log_warn(const char *fmt, ...) LOG_ATTR(1, 2);  /* appends strerror(errno) */
void log_warnx(const char *fmt, ...) LOG_ATTR(1, 2);
void log_notice(const char *fmt, ...) LOG_ATTR(1, 2);
void log_info(const char *fmt, ...) LOG_ATTR(1, 2);
void log_debug(const char *fmt, ...) LOG_ATTR(1, 2);
void fatal(const char *fmt, ...) LOG_ATTR(1, 2) __attribute__((noreturn));
void fatalx(const char *fmt, ...) LOG_ATTR(1, 2) __attribute__((noreturn));

#endif
