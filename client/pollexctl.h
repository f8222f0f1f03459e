/* SPDX-License-Identifier: ISC */
/* pollexctl.h: shared parts of pollexctl, the command line client. */
#ifndef POLLEXCTL_H
#define POLLEXCTL_H

#include <stddef.h>

#include <json-c/json.h>

#include "pollex.h"

/* Exit codes (documented in --help and pollexctl(1)). */
#define CTL_EXIT_OK 0
#define CTL_EXIT_FAILED 1      /* a task failed/was cancelled/expired, ... */
#define CTL_EXIT_USAGE 2       /* bad option or argument */
#define CTL_EXIT_TIMEDOUT 3    /* wait timed out */
#define CTL_EXIT_UNREACHABLE 4 /* cannot connect, connection lost */
#define CTL_EXIT_DAEMON 5      /* the daemon answered an error */

/* Global options. */
struct ctl_options {
	const char *socket; /* -S, or NULL for the library's default */
	int json;           /* --json */
	int io_timeout_ms;  /* --io-timeout, -1 for none */
};
extern struct ctl_options ctl;

/* A subcommand: its name, entry point, usage synopsis and help text. */
struct ctl_command {
	const char *name;
	int (*run)(int, char **);
	const char *synopsis;
	const char *help;
};

/* Growable array of strings. */
struct ctl_strv {
	char **v;
	size_t n, cap;
};

/* pollexctl.c */
pollex *ctl_connect(void);
pollex *ctl_connect_quiet(void);
int ctl_fail(pollex *, int);
int ctl_exit_code(pollex *, int);
int ctl_worse(int, int);
void ctl_usage_error(const char *, const char *, ...)
    __attribute__((format(printf, 2, 3), noreturn));
void ctl_help(const char *);
void ctl_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void ctl_fatalx(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void *ctl_malloc(size_t);
char *ctl_strdup(const char *);
void ctl_strv_add(struct ctl_strv *, const char *);
void ctl_strv_clear(struct ctl_strv *);
int ctl_duration(const char *, double *);
int ctl_label(const char *, char **, char **);
const char *ctl_fmt_seconds(double, char *, size_t);
const char *ctl_fmt_age(double, char *, size_t);
const char *ctl_fmt_time(double, char *, size_t);
json_object *ctl_parse_json(const char *, const char **);
void ctl_print_table(char ***, size_t, size_t);
void ctl_out_flush(void);
int ctl_json_opt(int, char **);
void ctl_bad_option(int, char **) __attribute__((noreturn));
void ctl_print_json(json_object *);

/* pollexctl-task.c */
int ctl_cmd_submit(int, char **);
int ctl_cmd_cancel(int, char **);
int ctl_cmd_poll(int, char **);
int ctl_cmd_get(int, char **);
int ctl_cmd_wait(int, char **);
int ctl_cmd_list(int, char **);
int ctl_cmd_watch(int, char **);

/* pollexctl-info.c */
int ctl_cmd_pollers(int, char **);
int ctl_cmd_stats(int, char **);
int ctl_cmd_call(int, char **);

#endif
