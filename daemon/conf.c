/* SPDX-License-Identifier: ISC */
/* conf.c: pollexd's configuration file: JSON with comments. */
#include "config.h"

#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jspan.h"
#include "log.h"
#include "metrics.h"
#include "kind.h"
#include "backend.h"
#include "util.h"
#include "xmalloc.h"

#define CONF_MAX_FILE (16u * 1024 * 1024)

struct cfg_ctx {
	const char *file;
	char *dir;
	char *err;
};

struct cfg {
	struct cfg_ctx *ctx;
	struct cfg_ctx *own;	/* cfg_open()'s, freed with it */
	json_object *obj;
	char *path;		/* "" at the top */
	const char **used;
	size_t nused, capused;
};

static struct cfg *
cfg_new(struct cfg_ctx *ctx, json_object *obj, const char *parent,
    const char *key)
{
	struct cfg *c = xcalloc(1, sizeof *c);

	c->ctx = ctx;
	c->obj = obj;
	if (parent == NULL || *parent == '\0')
		c->path = xstrdup(key != NULL ? key : "");
	else
		xasprintf(&c->path, "%s.%s", parent, key);
	return c;
}

void
cfg_free(struct cfg *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->used);
	if (c->own != NULL) {
		free(c->own->dir);
		free(c->own->err);
		free(c->own);
	}
	free(c);
}

struct cfg *
cfg_open(json_object *obj, const char *file, const char *dir)
{
	struct cfg_ctx *ctx = xcalloc(1, sizeof *ctx);
	struct cfg *c;

	ctx->file = file;
	ctx->dir = xstrdup(dir != NULL ? dir : ".");
	c = cfg_new(ctx, obj, NULL, NULL);
	c->own = ctx;
	return c;
}

const char *
cfg_errmsg(const struct cfg *c)
{
	return c->ctx->err;
}

const char *
cfg_path(const struct cfg *c)
{
	return c->path;
}

const char *
cfg_dir(const struct cfg *c)
{
	return c->ctx->dir;
}

int
cfg_failed(const struct cfg *c)
{
	return c->ctx->err != NULL;
}

int
cfg_error(struct cfg *c, const char *key, const char *fmt, ...)
{
	char *msg;
	va_list ap;

	if (c->ctx->err != NULL)
		return -1;	/* the first error is the one reported */
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatalx("out of memory");
	va_end(ap);
	if (key == NULL)
		xasprintf(&c->ctx->err, "%s: %s%s%s", c->ctx->file, c->path,
		    *c->path ? ": " : "", msg);
	else
		xasprintf(&c->ctx->err, "%s: %s%s%s: %s", c->ctx->file, c->path,
		    *c->path ? "." : "", key, msg);
	free(msg);
	return -1;
}

/* Mark key as read and return its value, or NULL when absent. */
static json_object *
cfg_get(struct cfg *c, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(c->obj, key, &v))
		return NULL;
	if (c->nused == c->capused) {
		c->capused = c->capused ? c->capused * 2 : 16;
		c->used = xreallocarray(c->used, c->capused, sizeof *c->used);
	}
	c->used[c->nused++] = key;
	/* A JSON null counts as absent, so "key": null means the default. */
	return v;
}

int
cfg_string(struct cfg *c, const char *key, char **out)
{
	json_object *v = cfg_get(c, key);

	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return cfg_error(c, key, "expected a string");
	if (json_object_get_string_len(v) == 0)
		return cfg_error(c, key, "must not be empty");
	if (strlen(json_object_get_string(v)) !=
	    (size_t)json_object_get_string_len(v))
		return cfg_error(c, key, "must not contain a NUL character");
	free(*out);
	*out = xstrdup(json_object_get_string(v));
	return 1;
}

int
cfg_uint(struct cfg *c, const char *key, uint64_t min, uint64_t max,
    uint64_t *out)
{
	json_object *v = cfg_get(c, key);
	int64_t n;

	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return cfg_error(c, key, "expected a whole number");
	n = json_object_get_int64(v);
	if (n < 0 || (uint64_t)n < min || (uint64_t)n > max)
		return cfg_error(c, key, "must be between %llu and %llu",
		    (unsigned long long)min, (unsigned long long)max);
	*out = (uint64_t)n;
	return 1;
}

int
cfg_duration(struct cfg *c, const char *key, uint64_t *ms)
{
	json_object *v = cfg_get(c, key);

	if (v == NULL)
		return 0;
	if (parse_duration_json(v, ms) == -1)
		return cfg_error(c, key,
		    "expected a duration such as \"250ms\", \"5s\", \"2m\", "
		    "\"1h\" or a number of seconds");
	return 1;
}

int
cfg_bool(struct cfg *c, const char *key, int *out)
{
	json_object *v = cfg_get(c, key);

	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return cfg_error(c, key, "expected true or false");
	*out = json_object_get_boolean(v);
	return 1;
}

int
cfg_argv(struct cfg *c, const char *key, char ***out)
{
	json_object *v = cfg_get(c, key), *e;
	char **argv;
	const char *s;
	size_t i, n;

	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_array) ||
	    (n = json_object_array_length(v)) == 0)
		return cfg_error(c, key,
		    "expected a non-empty array of strings: [\"program\", "
		    "\"argument\", ...]");
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(v, i);
		if (!json_object_is_type(e, json_type_string) ||
		    json_object_get_string_len(e) == 0 ||
		    strlen(json_object_get_string(e)) !=
		    (size_t)json_object_get_string_len(e))
			return cfg_error(c, key,
			    "element %zu is not a non-empty string", i);
	}
	argv = xcalloc(n + 1, sizeof *argv);
	for (i = 0; i < n; i++) {
		s = json_object_get_string(json_object_array_get_idx(v, i));
		if (i == 0 && *s != '/' && strchr(s, '/') != NULL)
			xasprintf(&argv[i], "%s/%s", c->ctx->dir, s);
		else
			argv[i] = xstrdup(s);
	}
	strv_free(*out);
	*out = argv;
	return 1;
}

int
cfg_env(struct cfg *c, const char *key, char ***out)
{
	json_object *v = cfg_get(c, key);
	char **env;
	size_t i = 0;

	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return cfg_error(c, key, "expected an object of strings");
	env = xcalloc((size_t)json_object_object_length(v) + 1, sizeof *env);
	json_object_object_foreach(v, k, val) {
		if (!json_object_is_type(val, json_type_string) || *k == '\0' ||
		    strchr(k, '=') != NULL) {
			strv_free(env);
			return cfg_error(c, key,
			    "\"%s\": expected a name without '=' and a string",
			    k);
		}
		xasprintf(&env[i++], "%s=%s", k, json_object_get_string(val));
	}
	strv_free(*out);
	*out = env;
	return 1;
}

int
cfg_json(struct cfg *c, const char *key, json_object **out)
{
	json_object *v = cfg_get(c, key);

	if (v == NULL)
		return 0;
	*out = json_object_get(v);
	return 1;
}

int
cfg_sub(struct cfg *c, const char *key, struct cfg **out)
{
	json_object *v = cfg_get(c, key);

	if (v == NULL)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return cfg_error(c, key, "must be an object");
	*out = cfg_new(c->ctx, v, c->path, key);
	return 1;
}

int
cfg_finish(struct cfg *c)
{
	size_t i;
	int known;

	json_object_object_foreach(c->obj, key, val) {
		(void)val;
		known = 0;
		for (i = 0; i < c->nused && !known; i++)
			known = strcmp(c->used[i], key) == 0;
		if (!known)
			return cfg_error(c, key, "unknown key");
	}
	return cfg_failed(c) ? -1 : 0;
}

void
strv_free(char **v)
{
	char **p;

	if (v == NULL)
		return;
	for (p = v; *p != NULL; p++)
		free(*p);
	free(v);
}

struct conf *
conf_defaults(void)
{
	struct conf *c = xcalloc(1, sizeof *c);

	c->socket_mode = 0660;
	c->store = xstrdup("sqlite");
	c->retention = 3600 * 1000;
	c->max_connections = 1024;
	c->max_connections_per_uid = 256;
	c->max_message_size = 8 * 1024 * 1024;
	c->max_output_buffer = 64 * 1024 * 1024;
	c->max_tasks_per_uid = 1000000;
	c->max_submit = 100000;
	c->message_timeout = 10 * 1000;
	c->commit_delay = 10;
	return c;
}

void
conf_poller_ref(struct conf_poller *p)
{
	p->refs++;
}

void
conf_poller_unref(struct conf_poller *p)
{
	if (p == NULL || --p->refs > 0)
		return;
	if (p->kconf != NULL)
		p->kind->free_conf(p->kconf);
	free(p->name);
	free(p->text);
	free(p);
}

void
conf_free(struct conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->npollers; i++)
		conf_poller_unref(c->pollers[i]);
	free(c->pollers);
	free(c->file);
	free(c->store);
	free(c->pg_conninfo);
	free(c->node);
	free(c->socket_path);
	free(c->socket_group);
	free(c->state_dir);
	free(c->metrics_listen);
	free(c->admin_group);
	free(c);
}

struct conf_poller *
conf_find_poller(const struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->npollers; i++)
		if (strcmp(c->pollers[i]->name, name) == 0)
			return c->pollers[i];
	return NULL;
}

static int
conf_poller_name_ok(const char *name)
{
	size_t n = strlen(name), i;

	if (n == 0 || n > 64 || !isalnum((unsigned char)name[0]))
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) &&
		    strchr("_.-", name[i]) == NULL)
			return 0;
	return 1;
}

/* The settings every poller has, then the kind's own. */
static struct conf_poller *
conf_read_poller(struct cfg_ctx *ctx, const char *name, json_object *obj)
{
	struct conf_poller *p;
	struct sched_policy *pol;
	struct cfg *c;
	char *kind = NULL;
	uint64_t v, mi = 0, ma = 0, bm = 0;
	int has_min, has_max, has_bm, has_mb;
	json_object *jv;

	c = cfg_new(ctx, obj, "pollers", name);
	if (!conf_poller_name_ok(name)) {
		cfg_error(c, NULL,
		    "a poller name is 1 to 64 letters, digits, '_', '.' or "
		    "'-', starting with a letter or digit");
		cfg_free(c);
		return NULL;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		cfg_error(c, NULL, "expected an object");
		cfg_free(c);
		return NULL;
	}
	p = xcalloc(1, sizeof *p);
	p->refs = 1;
	p->name = xstrdup(name);
	p->text = json_canonical(obj);
	pol = &p->policy;
	pol->interval = 5000;
	pol->coalesce = 10;
	pol->backoff_initial = 1000;
	pol->max_batch = 100;
	pol->max_inflight = 4;
	pol->fail_after = 10;
	p->max_starts = 16;

	if (cfg_string(c, "kind", &kind) == 0)
		cfg_error(c, "kind", "missing: every poller needs a kind (%s)",
		    poller_kind_names());
	else if (kind != NULL && (p->kind = poller_kind_find(kind)) == NULL)
		cfg_error(c, "kind", "unknown kind \"%s\" (known: %s)", kind,
		    poller_kind_names());
	free(kind);
	if (p->kind != NULL && p->kind->default_inflight != 0)
		pol->max_inflight = p->kind->default_inflight;
	cfg_duration(c, "interval", &pol->interval);
	has_min = cfg_duration(c, "min_interval", &mi) == 1;
	has_max = cfg_duration(c, "max_interval", &ma) == 1;
	cfg_duration(c, "coalesce", &pol->coalesce);
	cfg_duration(c, "backoff_initial", &pol->backoff_initial);
	has_bm = cfg_duration(c, "backoff_max", &bm) == 1;
	has_mb = cfg_uint(c, "max_batch", 1, 100000, &v) == 1;
	if (has_mb)
		pol->max_batch = (uint32_t)v;
	if (p->kind != NULL && p->kind->per_task) {
		if (has_mb)
			cfg_error(c, "max_batch", "not for %s pollers, which "
			    "make one request per task", p->kind->name);
		pol->max_batch = 1;
	}
	if (cfg_uint(c, "max_inflight", 1, 100000, &v) == 1)
		pol->max_inflight = (uint32_t)v;
	if (cfg_uint(c, "max_starts", 1, 4096, &v) == 1)
		p->max_starts = (uint32_t)v;
	if (cfg_uint(c, "fail_after", 0, 1000000, &v) == 1)
		pol->fail_after = (uint32_t)v;
	cfg_bool(c, "start_idempotent", &p->start_idempotent);
	/* The rate limit: operations a second, and the bucket's size
	 * (max(1, rate) unless given). */
	if (cfg_json(c, "rate", &jv) == 1) {
		if ((!json_object_is_type(jv, json_type_int) &&
		    !json_object_is_type(jv, json_type_double)) ||
		    !(json_object_get_double(jv) > 0 &&
		    json_object_get_double(jv) <= 1000000))
			cfg_error(c, "rate", "expected a number of operations "
			    "a second, more than 0 and at most 1000000");
		else
			p->rate = json_object_get_double(jv);
		json_object_put(jv);
	}
	if (cfg_uint(c, "burst", 1, 1000000, &v) == 1) {
		p->burst = (uint32_t)v;
		if (p->rate == 0 && !cfg_failed(c))
			cfg_error(c, "burst", "needs a rate");
	}
	if (p->rate > 0 && p->burst == 0)
		p->burst = p->rate < 1 ? 1 : (uint32_t)p->rate;
	if (cfg_failed(c))
		goto bad;

	if (pol->interval < 10)
		cfg_error(c, "interval", "must be at least 10ms");
	pol->min_interval = has_min ? mi :
	    (pol->interval < 1000 ? pol->interval : 1000);
	pol->max_interval = has_max ? ma :
	    (pol->interval > 300000 ? pol->interval : 300000);
	/* Without backoff_max, backoffs grow up to max_interval (or stay at
	 * backoff_initial when that is larger). */
	pol->backoff_max = has_bm ? bm : pol->max_interval > pol->backoff_initial ?
	    pol->max_interval : pol->backoff_initial;
	if (pol->min_interval < 10)
		cfg_error(c, "min_interval", "must be at least 10ms");
	else if (pol->min_interval > pol->interval)
		cfg_error(c, "min_interval", "must not exceed interval");
	else if (pol->max_interval < pol->interval)
		cfg_error(c, "max_interval", "must not be less than interval");
	else if (pol->coalesce > 10000)
		cfg_error(c, "coalesce", "must not exceed 10s");
	else if (pol->backoff_initial < 1)
		cfg_error(c, "backoff_initial", "must be at least 1ms");
	else if (pol->backoff_max < pol->backoff_initial)
		cfg_error(c, "backoff_max",
		    "must not be less than backoff_initial");
	if (cfg_failed(c))
		goto bad;

	if ((p->kconf = p->kind->configure(c)) == NULL) {
		if (!cfg_failed(c))
			cfg_error(c, NULL, "invalid %s poller", p->kind->name);
		goto bad;
	}
	if (cfg_finish(c) == -1)
		goto bad;
	cfg_free(c);
	return p;
bad:
	cfg_free(c);
	conf_poller_unref(p);
	return NULL;
}

static int
conf_read_mode(struct cfg *c, const char *key, mode_t *mode)
{
	char *s = NULL, *end;
	unsigned long m;
	int r;

	if ((r = cfg_string(c, key, &s)) != 1)
		return r;
	errno = 0;
	m = strtoul(s, &end, 8);
	if (*s == '\0' || *end != '\0' || errno != 0 || m > 0777) {
		free(s);
		return cfg_error(c, key,
		    "expected an octal mode as a string, such as \"0660\"");
	}
	free(s);
	*mode = (mode_t)m;
	return 1;
}

/* A group name that must exist; its gid in *gid (may be NULL). */
static int
conf_read_group(struct cfg *c, const char *key, char **name, gid_t *gid)
{
	struct group *gr;
	int r;

	if ((r = cfg_string(c, key, name)) != 1)
		return r;
	if ((gr = getgrnam(*name)) == NULL)
		return cfg_error(c, key, "no such group: \"%s\"", *name);
	if (gid != NULL)
		*gid = gr->gr_gid;
	return 1;
}

/* The daemon's settings and the pollers of one parsed file. */
static int
conf_read(struct cfg_ctx *ctx, json_object *root, struct conf *conf)
{
	struct cfg *c = cfg_new(ctx, root, NULL, NULL), *pg;
	struct conf_poller *p;
	json_object *pollers = NULL;
	char *store = NULL, host[64];
	const char *why;
	uint16_t port;
	uint64_t v;
	int r;

	cfg_string(c, "socket", &conf->socket_path);
	conf_read_mode(c, "socket_mode", &conf->socket_mode);
	conf_read_group(c, "socket_group", &conf->socket_group, NULL);
	cfg_string(c, "state_dir", &conf->state_dir);
	conf_read_group(c, "admin_group", &conf->admin_group,
	    &conf->admin_gid);
	cfg_duration(c, "retention", &conf->retention);
	if (cfg_uint(c, "max_connections", 1, 1000000, &v) == 1)
		conf->max_connections = (uint32_t)v;
	if (cfg_uint(c, "max_connections_per_uid", 1, 1000000, &v) == 1)
		conf->max_connections_per_uid = (uint32_t)v;
	if (cfg_uint(c, "max_message_size", 4096, 1024u * 1024 * 1024,
	    &v) == 1)
		conf->max_message_size = (uint32_t)v;
	cfg_uint(c, "max_output_buffer", 65536, UINT64_MAX,
	    &conf->max_output_buffer);
	cfg_uint(c, "max_tasks_per_uid", 1, UINT64_MAX,
	    &conf->max_tasks_per_uid);
	if (cfg_uint(c, "max_submit", 1, 10000000, &v) == 1)
		conf->max_submit = (uint32_t)v;
	cfg_duration(c, "message_timeout", &conf->message_timeout);
	cfg_uint(c, "store_max_size", 0, UINT64_MAX, &conf->store_max_size);
	if (cfg_duration(c, "commit_delay", &conf->commit_delay) == 1 &&
	    conf->commit_delay > 1000)
		cfg_error(c, "commit_delay", "must be at most 1s");
	if (cfg_string(c, "store", &store) == 1) {
		if (store_backend_find(store) == NULL)
			cfg_error(c, "store", "no store backend \"%s\": "
			    "expected \"sqlite\" (the default) or \"none\"",
			    store);
		else {
			free(conf->store);
			conf->store = store;
			store = NULL;
		}
	}
	free(store);
	if (cfg_sub(c, "postgresql", &pg) == 1) {
		cfg_string(pg, "conninfo", &conf->pg_conninfo);
		cfg_string(pg, "node", &conf->node);
		if (conf->node != NULL && (conf->node[0] == '\0' ||
		    strlen(conf->node) > 63))
			cfg_error(pg, "node", "must be 1 to 63 characters");
		cfg_finish(pg);
		cfg_free(pg);
	}
	if (strcmp(conf->store, "postgresql") == 0 && conf->pg_conninfo == NULL)
		conf->pg_conninfo = xstrdup("");	/* PG* and the service */
	if (cfg_string(c, "metrics_listen", &conf->metrics_listen) == 1 &&
	    metrics_parse_listen(conf->metrics_listen, host, sizeof host,
	    &port, &why) == -1)
		cfg_error(c, "metrics_listen", "%s", why);
	if (conf->socket_path != NULL && conf->socket_path[0] != '/')
		cfg_error(c, "socket", "must be an absolute path");
	if (conf->state_dir != NULL && conf->state_dir[0] != '/')
		cfg_error(c, "state_dir", "must be an absolute path");
	if (conf->message_timeout < 100)
		cfg_error(c, "message_timeout", "must be at least 100ms");

	if ((r = cfg_json(c, "pollers", &pollers)) == 1 &&
	    !json_object_is_type(pollers, json_type_object))
		cfg_error(c, "pollers",
		    "expected an object of pollers by name");
	if (cfg_failed(c) || cfg_finish(c) == -1)
		goto bad;
	if (pollers != NULL) {
		json_object_object_foreach(pollers, name, obj) {
			if ((p = conf_read_poller(ctx, name, obj)) == NULL)
				goto bad;
			conf->pollers = xreallocarray(conf->pollers,
			    conf->npollers + 1, sizeof *conf->pollers);
			conf->pollers[conf->npollers++] = p;
		}
	}
	json_object_put(pollers);
	cfg_free(c);
	return 0;
bad:
	json_object_put(pollers);
	cfg_free(c);
	return -1;
}

/* Read the whole file, refusing what is not a regular file or too large. */
static char *
conf_slurp(const char *file, size_t *len, char **cause)
{
	struct stat st;
	FILE *f;
	char *buf;

	if ((f = fopen(file, "re")) == NULL) {
		xasprintf(cause, "%s: %s", file, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) == -1 || !S_ISREG(st.st_mode)) {
		xasprintf(cause, "%s: not a regular file", file);
		fclose(f);
		return NULL;
	}
	if ((uint64_t)st.st_size > CONF_MAX_FILE) {
		xasprintf(cause, "%s: larger than %u bytes", file, CONF_MAX_FILE);
		fclose(f);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	*len = fread(buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		xasprintf(cause, "%s: %s", file, strerror(errno));
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[*len] = '\0';
	return buf;
}

/*
 * Every key and string of the configuration is valid UTF-8 without NUL
 * (json-c's reading of the file lets overlong forms, surrogates written
 * in UTF-8 and "\u0000" through, and request templates send strings on).
 * On a bad one, *why names where it is ("pollers.p.request.body.a").
 */
int
conf_check_strings(json_object *v, const char *at, char **why)
{
	const char *s;
	char *sub;
	size_t i, n;
	int rc = 0;

	switch (json_object_get_type(v)) {
	case json_type_string:
		s = json_object_get_string(v);
		n = (size_t)json_object_get_string_len(v);
		if (!utf8_valid(s, n)) {
			xasprintf(why, "%s: the string is not valid UTF-8 or "
			    "holds a NUL character", *at != '\0' ? at :
			    "(top)");
			return -1;
		}
		return 0;
	case json_type_array:
		n = json_object_array_length(v);
		for (i = 0; i < n && rc == 0; i++) {
			xasprintf(&sub, "%s%s%zu", at, *at != '\0' ? "." : "",
			    i);
			rc = conf_check_strings(json_object_array_get_idx(v,
			    i), sub, why);
			free(sub);
		}
		return rc;
	case json_type_object: {
		json_object_object_foreach(v, key, val) {
			/* A key is a C string: json-c cut it at a NUL. */
			if (!utf8_valid(key, strlen(key))) {
				xasprintf(why, "%s: a key that is not valid "
				    "UTF-8", *at != '\0' ? at : "(top)");
				return -1;
			}
			xasprintf(&sub, "%s%s%s", at, *at != '\0' ? "." : "",
			    key);
			rc = conf_check_strings(val, sub, why);
			free(sub);
			if (rc != 0)
				return rc;
		}
		return 0;
	}
	default:
		return 0;
	}
}

int
conf_load(const char *file, struct conf **out, char **cause)
{
	struct json_tokener *tok;
	struct cfg_ctx ctx = { file, NULL, NULL };
	struct conf *conf;
	json_object *root;
	char *buf, *dup, *why2, *fixed;
	size_t len, end, i, line = 1, col = 1;
	const char *why;

	*cause = NULL;
	if ((buf = conf_slurp(file, &len, cause)) == NULL)
		return -1;
	if (strlen(buf) != len) {
		xasprintf(cause, "%s: contains a NUL byte", file);
		free(buf);
		return -1;
	}
	/* The pairs json-c would misread, written out first (jspan.h). */
	if ((fixed = jspan_jsonc_text(buf, len, &len)) != NULL) {
		free(buf);
		buf = fixed;
	}
	/* Comments (slash-star and double slash) and trailing commas are
	 * accepted; json-c's non-strict mode does that. */
	tok = json_tokener_new_ex(64);
	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, buf, (int)len + 1);
	end = json_tokener_get_parse_end(tok);
	why = json_tokener_error_desc(json_tokener_get_error(tok));
	json_tokener_free(tok);
	if (root != NULL)
		for (; end < len; end++)
			if (!isspace((unsigned char)buf[end])) {
				json_object_put(root);
				root = NULL;
				why = "unexpected text after the configuration";
				break;
			}
	if (root == NULL) {
		if (end > len)
			end = len;
		for (i = 0; i < end; i++, col++)
			if (buf[i] == '\n') {
				line++;
				col = 0;
			}
		xasprintf(cause, "%s:%zu:%zu: invalid JSON: %s", file, line, col,
		    why);
		free(buf);
		return -1;
	}
	free(buf);
	if (!json_object_is_type(root, json_type_object)) {
		xasprintf(cause, "%s: the configuration must be a JSON object",
		    file);
		json_object_put(root);
		return -1;
	}
	if (conf_check_strings(root, "", &why2) == -1) {
		xasprintf(cause, "%s: %s", file, why2);
		free(why2);
		json_object_put(root);
		return -1;
	}
	dup = xstrdup(file);
	ctx.dir = xstrdup(dirname(dup));
	free(dup);
	if (ctx.dir[0] != '/') {
		dup = realpath(ctx.dir, NULL);
		if (dup != NULL) {
			free(ctx.dir);
			ctx.dir = dup;
		}
	}
	conf = conf_defaults();
	conf->file = xstrdup(file);
	if (conf_read(&ctx, root, conf) == -1) {
		*cause = ctx.err != NULL ? ctx.err :
		    (xasprintf(&dup, "%s: invalid configuration", file), dup);
		conf_free(conf);
		json_object_put(root);
		free(ctx.dir);
		return -1;
	}
	json_object_put(root);
	free(ctx.dir);
	*out = conf;
	return 0;
}
