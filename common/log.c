/* SPDX-License-Identifier: ISC */
/* log.c: leveled logging to stderr, journal-friendly. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_ident = "pollex";
static int log_verbose;
static int log_journal;

static const char *
log_level_name(int level)
{
	switch (level) {
	case LOG_LVL_ERR:
		return "error";
	case LOG_LVL_WARNING:
		return "warning";
	case LOG_LVL_NOTICE:
		return "notice";
	case LOG_LVL_INFO:
		return "info";
	default:
		return "debug";
	}
}

/* Is stderr the journal stream systemd gave us? (see systemd.exec(5)) */
static int
log_stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (env == NULL || sscanf(env, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *ident, int verbose)
{
	log_ident = ident;
	log_verbose = verbose;
	log_journal = log_stderr_is_journal();
}

void
log_set_verbose(int verbose)
{
	log_verbose = verbose;
}

int
log_get_verbose(void)
{
	return log_verbose;
}

void
log_vemit(int level, const char *fmt, va_list ap)
{
	char msg[2048], stamp[64];
	struct timespec ts;
	struct tm tm;
	int saved = errno;

	/* info is shown by default; debug with -v; -vv adds nothing yet. */
	if (level == LOG_LVL_DEBUG && log_verbose < 1)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (log_journal) {
		fprintf(stderr, "<%d>%s\n", level, msg);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s[%ld]: %s: %s\n", stamp,
		    ts.tv_nsec / 1000000, log_ident, (long)getpid(),
		    log_level_name(level), msg);
	}
	fflush(stderr);
	errno = saved;
}

void
log_emit(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(level, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	log_emit(LOG_LVL_WARNING, "%s: %s", buf, strerror(saved));
	errno = saved;
}

#define LOG_FN(name, level)                        \
	void name(const char *fmt, ...)            \
	{                                          \
		va_list ap;                        \
		va_start(ap, fmt);                 \
		log_vemit(level, fmt, ap);         \
		va_end(ap);                        \
	}
LOG_FN(log_warnx, LOG_LVL_WARNING)
LOG_FN(log_notice, LOG_LVL_NOTICE)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_debug, LOG_LVL_DEBUG)

void
fatal(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	log_emit(LOG_LVL_ERR, "%s: %s", buf, strerror(saved));
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
