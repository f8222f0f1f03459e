/* SPDX-License-Identifier: ISC */
/* conf.h: pollexd's configuration file and the reader the kinds use. */
#ifndef POLLEXD_CONF_H
#define POLLEXD_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "sched.h"

struct poller_kind;

/* One poller definition; shared (refs) by the running poller and the
 * operations started under it, so a reload never pulls it from under them. */
struct conf_poller {
	int refs;
	char *name;
	const struct poller_kind *kind;
	struct sched_policy policy;
	uint32_t max_starts;	/* start operations running at once */
	int start_idempotent;	/* a start may safely run again */
	double rate;		/* operations a second, 0: no limit */
	uint32_t burst;		/* the token bucket's size */
	void *kconf;		/* the kind's own settings */
	char *text;		/* canonical JSON of the section, to spot changes */
};

struct conf {
	char *file;		/* NULL: built-in defaults, no file */
	char *socket_path;	/* NULL: the default or -S */
	mode_t socket_mode;
	char *socket_group;
	char *state_dir;	/* NULL: the default or --state-dir */
	char *admin_group;
	gid_t admin_gid;	/* admin_group's gid, resolved at load */
	uint64_t retention;	/* ms terminal tasks are kept */
	uint32_t max_connections;
	uint32_t max_connections_per_uid;
	uint32_t max_message_size;
	uint64_t max_output_buffer;	/* a client's unread replies, bytes */
	uint64_t max_tasks_per_uid;	/* outstanding tasks of one uid */
	uint32_t max_submit;		/* tasks per Submit call */
	uint64_t message_timeout;	/* ms to finish a started message */
	uint64_t store_max_size;	/* bytes of the database, 0: no cap */
	uint64_t commit_delay;		/* ms a change no reply waits for may
					 * wait for company before its commit */
	char *store;			/* the store backend's name */
	char *pg_conninfo;		/* "postgresql": libpq's conninfo */
	char *node;			/* this node's name (default: host) */
	char *metrics_listen;		/* "ADDRESS:PORT", NULL: off */
	struct conf_poller **pollers;
	size_t npollers;
};

/*
 * conf_load: read and check the file; on error returns -1 with *cause (to
 * free) naming the file and the key or line.  conf_defaults: the built-in
 * configuration (no pollers).
 */
int conf_load(const char *file, struct conf **out, char **cause);
int conf_check_strings(json_object *v, const char *at, char **why);
struct conf *conf_defaults(void);
void conf_free(struct conf *c);
struct conf_poller *conf_find_poller(const struct conf *c, const char *name);
void conf_poller_ref(struct conf_poller *p);
void conf_poller_unref(struct conf_poller *p);

/*
 * The reader: one JSON object of the file with its key path.  Getters
 * return 1 when the key is present and good, 0 when it is absent (*out
 * untouched) and -1 after recording an error ("FILE: pollers.x.key: why").
 * Every key read is marked; cfg_finish() reports the others as unknown.
 */
struct cfg;

const char *cfg_path(const struct cfg *c);	/* "pollers.demo" */
const char *cfg_dir(const struct cfg *c);	/* the file's directory */
int cfg_failed(const struct cfg *c);
int cfg_error(struct cfg *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int cfg_string(struct cfg *c, const char *key, char **out);
int cfg_uint(struct cfg *c, const char *key, uint64_t min, uint64_t max,
    uint64_t *out);
int cfg_duration(struct cfg *c, const char *key, uint64_t *ms);
int cfg_bool(struct cfg *c, const char *key, int *out);
/* A non-empty array of strings; a first element with a '/' that is not
 * absolute is taken relative to the file's directory.  NULL-terminated. */
int cfg_argv(struct cfg *c, const char *key, char ***out);
/* An object of strings, as a NULL-terminated array of "key=value". */
int cfg_env(struct cfg *c, const char *key, char ***out);
/* Any JSON value, not interpreted (a new reference in *out). */
int cfg_json(struct cfg *c, const char *key, json_object **out);
/* An object key as a reader of its own (errors name "parent.key.sub");
 * the caller runs cfg_finish() on it, then cfg_free(). */
int cfg_sub(struct cfg *c, const char *key, struct cfg **out);
/* Report keys not read; returns -1 when there were some. */
int cfg_finish(struct cfg *c);
void cfg_free(struct cfg *c);
/* A reader over obj, outside conf_load() (for tests and tools): errors
 * name file; relative paths are taken from dir.  cfg_errmsg() is the
 * first error, or NULL. */
struct cfg *cfg_open(json_object *obj, const char *file, const char *dir);
const char *cfg_errmsg(const struct cfg *c);

void strv_free(char **v);

#endif
