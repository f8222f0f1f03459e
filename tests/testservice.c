/* SPDX-License-Identifier: ISC */
/*
 * testservice.c: the HTTP service the pollex tests and benchmarks run pollexd
 * against.  One libevent loop (evhttp), no threads, everything in memory:
 *
 *   - API 1, the PollExecutor example: tasks created with
 *     POST /object/:id/publish or POST /tasks, read with GET /tasks/:id,
 *     cancelled with DELETE /tasks/:id, polled in batches with
 *     /tasks/search.
 *   - API 2, Azure-style long-running operations: PUT /resources/:name and
 *     POST /resources/:name/actions/build, polled through Operation-Location,
 *     Azure-AsyncOperation or Location URLs (/operations/N, /results/N).
 *   - Fault injection, request recording, a virtual clock, forced outcomes
 *     and bearer authentication, all steered through /_control/.
 *   - Optionally HTTPS (-T), with a required client certificate (-C), so
 *     that the transport's TLS options can be tested.
 *
 * Tasks and operations share one table and one id space.  A task's state is
 * computed when it is looked at (its end time against the service clock), so
 * a million running tasks cost no timers.  See tests/testservice.md.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include <json-c/json.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <zlib.h>

#define MAX_BODY	(16 * 1024 * 1024)	/* request body cap */
#define MAX_HEADERS	(64 * 1024)		/* request headers cap */
#define IDLE_TIMEOUT	300			/* seconds, evhttp read/write */
#define DEF_MAX_TASKS	2000000
#define MAX_DURATION	(30LL * 86400 * 1000)	/* ms */
#define MAX_DELAY	(300 * 1000)		/* ms, fault delay_ms */
#define MAX_BOMB	(256 * 1024 * 1024)	/* fault bomb_bytes */
#define MAX_FAULTS	1024
#define RECENT_MAX	100			/* requests kept in the log */
#define MAX_SEGS	8			/* path segments routed */
#define JSON_DEPTH	64
#define RAW_CHUNK	65536			/* filler piece of a raw body */
#define RAW_HIGH	(4 * RAW_CHUNK)		/* raw output kept queued */

#define CTYPE_JSON	"application/json"

/* Task states: enum, API 1 name, Azure status name. */
#define TASK_STATES							\
	X(TS_RUNNING,	"running",	"Running")			\
	X(TS_DONE,	"done",		"Succeeded")			\
	X(TS_ERROR,	"error",	"Failed")			\
	X(TS_CANCELLED,	"cancelled",	"Canceled")

enum task_state {
#define X(e, n, a) e,
	TASK_STATES
#undef X
	TS_COUNT
};
static const char *const state_names[] = {
#define X(e, n, a) n,
	TASK_STATES
#undef X
};
static const char *const state_azure[] = {
#define X(e, n, a) a,
	TASK_STATES
#undef X
};

/* What created a task. */
#define TASK_KINDS							\
	X(KIND_TASK,	"task")						\
	X(KIND_RESOURCE, "resource")					\
	X(KIND_ACTION,	"action")

enum task_kind {
#define X(e, n) e,
	TASK_KINDS
#undef X
	KIND_COUNT
};
static const char *const kind_names[] = {
#define X(e, n) n,
	TASK_KINDS
#undef X
};

/* How an Azure-style create tells the client where to poll. */
#define LRO_MODES							\
	X(MODE_OPLOC,	"operation-location")				\
	X(MODE_ASYNCOP,	"azure-asyncoperation")				\
	X(MODE_LOCATION, "location")					\
	X(MODE_STATUS,	"status")

enum lro_mode {
#define X(e, n) e,
	LRO_MODES
#undef X
	MODE_COUNT
};
static const char *const mode_names[] = {
#define X(e, n) n,
	LRO_MODES
#undef X
};

/* final-state-via values. */
#define FINAL_STATE_VIAS						\
	X(FSV_DEFAULT,	"default")					\
	X(FSV_LOCATION,	"location")					\
	X(FSV_ORIGINAL,	"original-uri")					\
	X(FSV_OPLOC,	"operation-location")				\
	X(FSV_ASYNCOP,	"azure-async-operation")

enum final_state_via {
#define X(e, n) e,
	FINAL_STATE_VIAS
#undef X
	FSV_COUNT
};
static const char *const fsv_names[] = {
#define X(e, n) n,
	FINAL_STATE_VIAS
#undef X
};

/* Spelling of Azure status values. */
#define STATUS_CASES							\
	X(CASE_PASCAL,	"pascal")					\
	X(CASE_LOWER,	"lower")					\
	X(CASE_UPPER,	"upper")

enum status_case {
#define X(e, n) e,
	STATUS_CASES
#undef X
	CASE_COUNT
};
static const char *const case_names[] = {
#define X(e, n) n,
	STATUS_CASES
#undef X
};

/* One remote task (API 1) or long-running operation (API 2). */
struct task {
	int64_t		 created;	/* service clock, ms */
	int64_t		 due;		/* planned end */
	int64_t		 ended;		/* actual end once not running */
	char		*object;	/* API 1 object id, API 2 name */
	char		*message;	/* error message, NULL: default */
	char		*code;		/* error code, NULL: default */
	char		*base;		/* header_host override or NULL */
	json_object	*result;	/* result, resource properties */
	int32_t		 retry_after;	/* seconds, -1: none */
	int32_t		 not_started;	/* ms shown as NotStarted */
	uint32_t	 mark;		/* search de-duplication */
	uint16_t	 final_status;	/* /results/N once done */
	uint8_t		 state;
	uint8_t		 outcome;	/* state reached at due */
	uint8_t		 kind;
	uint8_t		 mode;
	uint8_t		 fsv;
	uint8_t		 scase;
	unsigned	 british:1;	/* "Cancelled" */
	unsigned	 uncancellable:1;
	unsigned	 created_new:1;	/* the PUT created the resource */
};

/* What a create request asks for. */
struct spec {
	int64_t		 duration;
	int		 duration_given;
	int		 outcome;
	json_object	*result;	/* borrowed from the body */
	const char	*message;
	const char	*code;
	const char	*base;
	int		 cancellable;
	int64_t		 retry_after;
	int64_t		 not_started;
	int64_t		 final_status;
	int		 mode;
	int		 fsv;
	int		 scase;
	int		 british;
};

/* Azure resource: the latest operation and the last good properties. */
struct resource {
	uint64_t	 op;
	json_object	*props;
};

/* String-keyed hash map, chained, power-of-two buckets. */
struct sment {
	struct sment	*next;
	char		*key;
	uint64_t	 hash;
	union {
		void		*p;
		uint64_t	 u;
	}		 v;
};
struct smap {
	struct sment	**b;
	size_t		  nb;
	size_t		  n;
};

/* An injected fault, shared by the list and the requests it hit. */
struct fault {
	TAILQ_ENTRY(fault) entry;
	int		 refs;
	uint64_t	 id;
	char		*method;	/* NULL: any */
	char		*prefix;	/* NULL: any */
	int64_t		 left;		/* -1: until cleared */
	uint64_t	 hits;
	json_object	*spec;		/* as posted */

	int		 status;	/* 0: unset */
	char		*body;
	size_t		 bodylen;
	char		*ctype;
	json_object	*headers;	/* extra headers, or NULL */
	char		*retry_after;
	int64_t		 retry_after_date;	/* seconds ahead, 0: no */
	char		*retry_after_ms;
	int64_t		 delay_ms;
	int		 reset;
	int		 rst;
	int		 mid_body;
	int		 truncated;
	int		 oversized_set;
	uint64_t	 oversized;
	int		 chunked;
	int		 redirect_loop;
	char		*redirect_to;
	int		 latin1;	/* "latin1": body and header values with
					 * U+0080-U+00FF as one byte each */
	int		 encoding;	/* ENC_*: the reply body compressed */
	uint64_t	 bomb;		/* "bomb_bytes": a JSON body of that
					 * many bytes, compressed */
	int		 corrupt;	/* "corrupt_encoding": the compressed
					 * body damaged after its header */
};

enum { ENC_NONE, ENC_GZIP, ENC_DEFLATE };
TAILQ_HEAD(faultq, fault);

/* One recorded request. */
struct logent {
	uint64_t	 seq;
	int64_t		 at;		/* ms since start, real time */
	const char	*method;
	char		*uri;
	char		*path;
	char		*route;
	char		*auth;
	char		*ua;
	char		*idem;
	char		*accept_enc;
	char		*peer;
	size_t		 body_bytes;
	int		 major;
	int		 minor;
	int		 status;	/* 0: none (yet) */
	const char	*fault;
};

/* A request being handled, possibly across a delay. */
struct reqctx {
	TAILQ_ENTRY(reqctx) entry;
	struct evhttp_request *req;	/* NULL once answered */
	struct event	*timer;
	enum evhttp_cmd_type cmd;
	const char	*method;
	struct evhttp_uri *uri;
	char		*path;
	struct evkeyvalq query;
	char		*seg[MAX_SEGS];
	int		 nseg;
	int		 unroutable;	/* too many or bad segments */
	const char	*bad;		/* why the request is malformed */
	const struct route *route;
	int		 path_known;	/* a route has this path */
	int		 control;
	char		*base;		/* http(s)://host:port */
	json_object	*body;
	int		 body_done;
	int		 body_bad;
	char		 body_err[128];
	uint64_t	 logseq;
	struct fault	*fault;
};

/* A connection whose HTTP framing the service took over. */
struct rawconn {
	TAILQ_ENTRY(rawconn) entry;
	struct evhttp_connection *evcon;
	struct bufferevent *bev;
	uint64_t	 left;		/* filler bytes still to queue */
	int		 chunked;
	struct evbuffer	*tail;		/* queued after the filler */
	int		 rst;		/* close with a TCP reset */
};

/* A route: methods (EVHTTP_REQ_* bits), path pattern, handler. */
struct route {
	int		 methods;
	const char	*pattern;
	void		(*fn)(struct reqctx *);
};

/* Everything the service holds. */
struct svc {
	struct event_base *base;
	struct evhttp	*http;
	struct event	*sigterm;
	struct event	*sigint;
	const char	*addr;
	int		 port;
	SSL_CTX		*tls;		/* NULL: plain HTTP */
	int64_t		 default_duration;
	uint64_t	 max_tasks;
	int		 verbose;
	int64_t		 started;	/* real monotonic ms */

	struct task	*tasks;		/* tasks[id - 1] */
	size_t		 ntasks;
	size_t		 tasks_cap;
	uint32_t	 mark;
	int64_t		 clock_offset;
	struct smap	 resources;	/* name -> struct resource */
	struct smap	 idem;		/* key -> task id */

	struct faultq	 faults;
	size_t		 nfaults;
	uint64_t	 fault_seq;
	char		*bearer;

	uint64_t	 req_total;
	uint64_t	 req_seq;
	struct smap	 by_route;	/* "METHOD pattern" -> count */
	struct smap	 by_version;	/* "HTTP/1.1" -> count */
	struct logent	 recent[RECENT_MAX];

	TAILQ_HEAD(, reqctx) delayed;
	TAILQ_HEAD(, rawconn) raws;
};

static struct svc svc;
static char filler[RAW_CHUNK];

static void	 log_warnx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	 log_debug(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static void	 fatalx(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
static void	*xcalloc(size_t, size_t);
static void	*xreallocarray(void *, size_t, size_t);
static char	*xstrdup(const char *);
static char	*xasprintf(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static struct evbuffer *xevbuffer_new(void);
static int64_t	 mono_ms(void);
static int64_t	 now_ms(void);
static int	 name_lookup(const char *const *, int, const char *);
static int	 parse_u64(const char *, uint64_t *);
static int	 parse_id(const char *, uint64_t *);

static uint64_t	 smap_hash(const char *);
static struct sment *smap_find(struct smap *, const char *);
static struct sment *smap_get(struct smap *, const char *, int *);
static void	 smap_clear(struct smap *, void (*)(void *));

static struct task *task_get(uint64_t);
static void	 task_resolve(struct task *, int64_t);
static uint64_t	 task_create(const struct spec *, int, const char *);
static void	 task_clear_all(void);
static void	 resource_free(void *);
static const char *task_base(struct reqctx *, struct task *);
static const char *status_name(struct task *, int64_t, char *, size_t);
static const char *cased(struct task *, const char *, char *, size_t);
static double	 task_progress(struct task *, int64_t);
static json_object *task_json(uint64_t, struct task *, int64_t);
static json_object *task_error_json(uint64_t, struct task *);
static json_object *op_json(struct reqctx *, uint64_t, struct task *,
		    int64_t);
static json_object *resource_json(struct task *, const char *,
		    json_object *, char *, size_t);
static json_object *result_body(uint64_t, struct task *);
static void	 resource_sync(struct resource *, int64_t);

static void	 log_record(struct reqctx *);
static struct logent *log_find(uint64_t);
static void	 log_set_status(uint64_t, int);
static void	 logent_clear(struct logent *);
static void	 log_reset(void);
static json_object *logent_json(struct logent *);

static int	*fault_flag(struct fault *, const char *);
static struct fault *fault_parse(json_object *, char *, size_t);
static void	 fault_unref(struct fault *);
static struct fault *fault_take(struct reqctx *);
static int	 fault_is_raw(struct fault *);
static const char *fault_kind(struct fault *);
static void	 fault_add_headers(struct reqctx *, struct fault *);
static int	 fault_apply(struct reqctx *);
static void	 fault_clear_all(void);

static struct reqctx *reqctx_new(struct evhttp_request *);
static void	 reqctx_free(struct reqctx *);
static int	 body_parse(struct reqctx *);
static int	 opt_find(struct reqctx *, const char *, json_object **,
		    const char **);
static int	 opt_int(struct reqctx *, const char *, int64_t, int64_t,
		    int64_t *);
static int	 opt_bool(struct reqctx *, const char *, int *);
static int	 opt_str(struct reqctx *, const char *, const char **);
static int	 opt_enum(struct reqctx *, const char *, const char *const *,
		    int, int *);
static int	 opt_outcome(struct reqctx *, int *);
static int	 spec_parse(struct reqctx *, int, struct spec *, char *,
		    size_t);
static const char *idem_key(struct reqctx *, int *);

static const char *reason_phrase(int);
static void	 add_header(struct reqctx *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	 reply_send(struct reqctx *, int, struct evbuffer *);
static void	 bomb_free(const void *, size_t, void *);
static void	 reply_json(struct reqctx *, int, json_object *);
static void	 reply_error(struct reqctx *, int, const char *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
static void	 reply_body_error(struct reqctx *);

static struct rawconn *raw_begin(struct reqctx *);
static int	 raw_fill(struct rawconn *);
static void	 raw_close(struct rawconn *);
static void	 raw_write_cb(struct bufferevent *, void *);
static void	 raw_event_cb(struct bufferevent *, short, void *);
static void	 raw_head(struct evbuffer *, struct reqctx *, int);

static const char *method_name(enum evhttp_cmd_type);
static int	 route_match(const char *, struct reqctx *);
static void	 route_find(struct reqctx *);
static void	 dispatch(struct reqctx *);
static int	 auth_ok(struct reqctx *);
static void	 request_finish(struct reqctx *);
static void	 delay_cb(evutil_socket_t, short, void *);
static void	 on_request(struct evhttp_request *, void *);
static void	 on_signal(evutil_socket_t, short, void *);

static void	 api1_create(struct reqctx *, const char *);
static void	 lro_create(struct reqctx *, int);
static void	 lro_initial(struct reqctx *, uint64_t, struct task *, int);
static void	 result_reply(struct reqctx *, uint64_t, struct task *);
static struct task *id_task(struct reqctx *, const char *, uint64_t *);
static int	 search_collect(struct reqctx *, json_object *, uint64_t **,
		    size_t *, size_t *);

static void	 h_publish(struct reqctx *);
static void	 h_task_create(struct reqctx *);
static void	 h_search(struct reqctx *);
static void	 h_task_get(struct reqctx *);
static void	 h_task_cancel(struct reqctx *);
static void	 h_res_put(struct reqctx *);
static void	 h_res_get(struct reqctx *);
static void	 h_action(struct reqctx *);
static void	 h_op_get(struct reqctx *);
static void	 h_op_cancel(struct reqctx *);
static void	 h_result_get(struct reqctx *);
static void	 h_ctl_health(struct reqctx *);
static void	 h_ctl_reset(struct reqctx *);
static void	 h_ctl_faults_get(struct reqctx *);
static void	 h_ctl_faults_post(struct reqctx *);
static void	 h_ctl_faults_delete(struct reqctx *);
static void	 h_ctl_fault_delete(struct reqctx *);
static void	 h_ctl_requests_get(struct reqctx *);
static void	 h_ctl_requests_delete(struct reqctx *);
static void	 h_ctl_tasks_get(struct reqctx *);
static void	 h_ctl_tasks_delete(struct reqctx *);
static void	 h_ctl_tasks_post(struct reqctx *);
static void	 h_ctl_task_get(struct reqctx *);
static void	 h_ctl_task_post(struct reqctx *);
static void	 h_ctl_clock_get(struct reqctx *);
static void	 h_ctl_clock_post(struct reqctx *);
static void	 h_ctl_auth_get(struct reqctx *);
static void	 h_ctl_auth_post(struct reqctx *);

static void	 write_portfile(const char *, int);
static void	 cleanup(void);
static void	 tls_setup(const char *, const char *);
static struct bufferevent *tls_bev(struct event_base *, void *);
static void	 usage(void) __attribute__((noreturn));

#define M_GET		EVHTTP_REQ_GET
#define M_POST		EVHTTP_REQ_POST
#define M_PUT		EVHTTP_REQ_PUT
#define M_DELETE	EVHTTP_REQ_DELETE

/* Routes, first match wins; HEAD is routed as GET. */
static const struct route routes[] = {
	/* API 1: PollExecutor */
	{ M_POST, "/object/:id/publish", h_publish },
	{ M_POST, "/tasks", h_task_create },
	{ M_GET | M_POST, "/tasks/search", h_search },
	{ M_GET, "/tasks/:id", h_task_get },
	{ M_DELETE, "/tasks/:id", h_task_cancel },
	/* API 2: Azure-style long-running operations */
	{ M_PUT, "/resources/:name", h_res_put },
	{ M_GET, "/resources/:name", h_res_get },
	{ M_POST, "/resources/:name/actions/build", h_action },
	{ M_GET, "/operations/:n", h_op_get },
	{ M_DELETE, "/operations/:n", h_op_cancel },
	{ M_GET, "/results/:n", h_result_get },
	/* control */
	{ M_GET, "/_control/health", h_ctl_health },
	{ M_POST, "/_control/reset", h_ctl_reset },
	{ M_GET, "/_control/faults", h_ctl_faults_get },
	{ M_POST, "/_control/faults", h_ctl_faults_post },
	{ M_DELETE, "/_control/faults", h_ctl_faults_delete },
	{ M_DELETE, "/_control/faults/:id", h_ctl_fault_delete },
	{ M_GET, "/_control/requests", h_ctl_requests_get },
	{ M_DELETE, "/_control/requests", h_ctl_requests_delete },
	{ M_GET, "/_control/tasks", h_ctl_tasks_get },
	{ M_DELETE, "/_control/tasks", h_ctl_tasks_delete },
	{ M_POST, "/_control/tasks", h_ctl_tasks_post },
	{ M_GET, "/_control/tasks/:id", h_ctl_task_get },
	{ M_POST, "/_control/tasks/:id", h_ctl_task_post },
	{ M_GET, "/_control/clock", h_ctl_clock_get },
	{ M_POST, "/_control/clock", h_ctl_clock_post },
	{ M_GET, "/_control/auth", h_ctl_auth_get },
	{ M_POST, "/_control/auth", h_ctl_auth_post },
};

/* ---- utilities ---- */

/* Log to stderr. */
static void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	fputs("testservice: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Log to stderr with -v only. */
static void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!svc.verbose)
		return;
	fputs("testservice: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Log and exit 1 (start-up errors only). */
static void
fatalx(const char *fmt, ...)
{
	va_list ap;

	fputs("testservice: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Allocation that aborts on failure (x prefix, as in tmux). */
static void *
xcalloc(size_t n, size_t size)
{
	void *p;

	if ((p = calloc(n, size)) == NULL)
		fatalx("out of memory");
	return p;
}

static void *
xreallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		fatalx("allocation overflow");
	if ((p = realloc(p, n * size)) == NULL)
		fatalx("out of memory");
	return p;
}

static char *
xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		fatalx("out of memory");
	return p;
}

static char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("vsnprintf failed");
	p = xcalloc(1, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

static struct evbuffer *
xevbuffer_new(void)
{
	struct evbuffer *b;

	if ((b = evbuffer_new()) == NULL)
		fatalx("out of memory");
	return b;
}

/* Real monotonic time in milliseconds. */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The service's clock: real time moved on by /_control/clock. */
static int64_t
now_ms(void)
{
	return mono_ms() + svc.clock_offset;
}

/* Index of s in names, ignoring case, '-' and '_'; or -1. */
static int
name_lookup(const char *const *names, int n, const char *s)
{
	const char *a, *b;
	int i;

	for (i = 0; i < n; i++) {
		a = names[i];
		b = s;
		for (;;) {
			while (*a == '-' || *a == '_')
				a++;
			while (*b == '-' || *b == '_')
				b++;
			if (*a == '\0' || *b == '\0' ||
			    tolower((unsigned char)*a) !=
			    tolower((unsigned char)*b))
				break;
			a++;
			b++;
		}
		if (*a == '\0' && *b == '\0')
			return i;
	}
	return -1;
}

/* Parse a plain decimal number (digits only, at most 18). */
static int
parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 18)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0)
		return -1;
	*out = v;
	return 0;
}

/* Parse a task id: a positive decimal number. */
static int
parse_id(const char *s, uint64_t *out)
{
	if (parse_u64(s, out) == -1 || *out == 0)
		return -1;
	return 0;
}

/* ---- string map ---- */

/* FNV-1a. */
static uint64_t
smap_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

/* The entry for key, or NULL. */
static struct sment *
smap_find(struct smap *m, const char *key)
{
	struct sment *e;
	uint64_t h;

	if (m->nb == 0)
		return NULL;
	h = smap_hash(key);
	for (e = m->b[h & (m->nb - 1)]; e != NULL; e = e->next)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* The entry for key, added with a zero value if absent. */
static struct sment *
smap_get(struct smap *m, const char *key, int *created)
{
	struct sment *e, **b, *next;
	size_t nb, i;

	if ((e = smap_find(m, key)) != NULL) {
		if (created != NULL)
			*created = 0;
		return e;
	}
	if (m->n >= m->nb) {
		nb = m->nb != 0 ? m->nb * 2 : 64;
		b = xcalloc(nb, sizeof *b);
		for (i = 0; i < m->nb; i++) {
			for (e = m->b[i]; e != NULL; e = next) {
				next = e->next;
				e->next = b[e->hash & (nb - 1)];
				b[e->hash & (nb - 1)] = e;
			}
		}
		free(m->b);
		m->b = b;
		m->nb = nb;
	}
	e = xcalloc(1, sizeof *e);
	e->key = xstrdup(key);
	e->hash = smap_hash(key);
	e->next = m->b[e->hash & (m->nb - 1)];
	m->b[e->hash & (m->nb - 1)] = e;
	m->n++;
	if (created != NULL)
		*created = 1;
	return e;
}

/* Empty the map, passing each pointer value to freefn if given. */
static void
smap_clear(struct smap *m, void (*freefn)(void *))
{
	struct sment *e, *next;
	size_t i;

	for (i = 0; i < m->nb; i++) {
		for (e = m->b[i]; e != NULL; e = next) {
			next = e->next;
			if (freefn != NULL)
				freefn(e->v.p);
			free(e->key);
			free(e);
		}
	}
	free(m->b);
	memset(m, 0, sizeof *m);
}

/* ---- tasks ---- */

/* The task with this id, or NULL. */
static struct task *
task_get(uint64_t id)
{
	if (id == 0 || id > svc.ntasks)
		return NULL;
	return &svc.tasks[id - 1];
}

/* Finish a running task whose time has come. */
static void
task_resolve(struct task *t, int64_t now)
{
	if (t->state == TS_RUNNING && now >= t->due) {
		t->state = t->outcome;
		t->ended = t->due;
	}
}

/* Add a task; returns its id, or 0 when the table is full. */
static uint64_t
task_create(const struct spec *sp, int kind, const char *object)
{
	struct task *t;
	int64_t now = now_ms();
	size_t cap;

	if (svc.ntasks >= svc.max_tasks)
		return 0;
	if (svc.ntasks == svc.tasks_cap) {
		cap = svc.tasks_cap != 0 ? svc.tasks_cap * 2 : 1024;
		if (cap > svc.max_tasks)
			cap = svc.max_tasks;
		svc.tasks = xreallocarray(svc.tasks, cap, sizeof *svc.tasks);
		svc.tasks_cap = cap;
	}
	t = &svc.tasks[svc.ntasks++];
	memset(t, 0, sizeof *t);
	t->created = now;
	t->due = now + sp->duration;
	t->state = TS_RUNNING;
	t->outcome = (uint8_t)sp->outcome;
	t->kind = (uint8_t)kind;
	t->mode = (uint8_t)sp->mode;
	t->fsv = (uint8_t)sp->fsv;
	t->scase = (uint8_t)sp->scase;
	t->british = sp->british ? 1 : 0;
	t->uncancellable = sp->cancellable ? 0 : 1;
	t->retry_after = (int32_t)sp->retry_after;
	t->not_started = (int32_t)sp->not_started;
	t->final_status = (uint16_t)sp->final_status;
	t->object = object != NULL ? xstrdup(object) : NULL;
	t->message = sp->message != NULL ? xstrdup(sp->message) : NULL;
	t->code = sp->code != NULL ? xstrdup(sp->code) : NULL;
	t->base = sp->base != NULL ? xstrdup(sp->base) : NULL;
	t->result = sp->result != NULL ? json_object_get(sp->result) : NULL;
	if (kind == KIND_RESOURCE && t->result == NULL)
		t->result = json_object_new_object();
	task_resolve(t, now);
	return svc.ntasks;
}

/* Free a resource (a map value). */
static void
resource_free(void *p)
{
	struct resource *r = p;

	if (r != NULL) {
		json_object_put(r->props);
		free(r);
	}
}

/* Drop every task and what refers to them (resources, keys). */
static void
task_clear_all(void)
{
	struct task *t;
	size_t i;

	for (i = 0; i < svc.ntasks; i++) {
		t = &svc.tasks[i];
		free(t->object);
		free(t->message);
		free(t->code);
		free(t->base);
		json_object_put(t->result);
	}
	free(svc.tasks);
	svc.tasks = NULL;
	svc.ntasks = svc.tasks_cap = 0;
	smap_clear(&svc.resources, resource_free);
	smap_clear(&svc.idem, NULL);
}

/* The base URL for the URLs a task's responses carry. */
static const char *
task_base(struct reqctx *rc, struct task *t)
{
	return t->base != NULL ? t->base : rc->base;
}

/* Spell an Azure status word the way the task asked. */
static const char *
cased(struct task *t, const char *word, char *buf, size_t len)
{
	size_t i;

	snprintf(buf, len, "%s", word);
	for (i = 0; buf[i] != '\0'; i++) {
		if (t->scase == CASE_LOWER)
			buf[i] = (char)tolower((unsigned char)buf[i]);
		else if (t->scase == CASE_UPPER)
			buf[i] = (char)toupper((unsigned char)buf[i]);
	}
	return buf;
}

/* The Azure status of a (resolved) task. */
static const char *
status_name(struct task *t, int64_t now, char *buf, size_t len)
{
	const char *word;

	if (t->state == TS_RUNNING)
		word = now - t->created < t->not_started ? "NotStarted" :
		    "Running";
	else if (t->state == TS_CANCELLED && t->british)
		word = "Cancelled";
	else
		word = state_azure[t->state];
	return cased(t, word, buf, len);
}

/* How far along a task is, 0 to 1. */
static double
task_progress(struct task *t, int64_t now)
{
	int64_t end, dur;
	double p;

	if (t->state == TS_DONE)
		return 1.0;
	end = t->state == TS_RUNNING ? now : t->ended;
	dur = t->due - t->created;
	if (dur <= 0)
		return 0.0;
	p = (double)(end - t->created) / (double)dur;
	if (p < 0.0)
		p = 0.0;
	if (p > 1.0)
		p = 1.0;
	return floor(p * 1000.0) / 1000.0;
}

/* {"code", "message"} for a failed task. */
static json_object *
task_error_json(uint64_t id, struct task *t)
{
	json_object *e = json_object_new_object();
	char *m;

	json_object_object_add(e, "code", json_object_new_string(
	    t->code != NULL ? t->code : "OperationFailed"));
	if (t->message != NULL)
		m = xstrdup(t->message);
	else
		m = xasprintf("%s %" PRIu64 " failed",
		    t->kind == KIND_TASK ? "task" : "operation", id);
	json_object_object_add(e, "message", json_object_new_string(m));
	free(m);
	return e;
}

/* The API 1 view of a task (GET /tasks/:id and search items). */
static json_object *
task_json(uint64_t id, struct task *t, int64_t now)
{
	json_object *o = json_object_new_object(), *res = NULL, *msg = NULL;
	char pbuf[32];
	char *m;

	task_resolve(t, now);
	json_object_object_add(o, "id", json_object_new_int64((int64_t)id));
	json_object_object_add(o, "state",
	    json_object_new_string(state_names[t->state]));
	if (t->state == TS_DONE)
		res = result_body(id, t);
	if (t->state == TS_ERROR) {
		if (t->message != NULL)
			m = xstrdup(t->message);
		else
			m = xasprintf("task %" PRIu64 " failed", id);
		msg = json_object_new_string(m);
		free(m);
	} else if (t->state == TS_CANCELLED && t->message != NULL)
		msg = json_object_new_string(t->message);
	json_object_object_add(o, "result", res);
	json_object_object_add(o, "message", msg);
	json_object_object_add(o, "object", t->object != NULL ?
	    json_object_new_string(t->object) : NULL);
	snprintf(pbuf, sizeof pbuf, "%.3f", task_progress(t, now));
	json_object_object_add(o, "progress",
	    json_object_new_double_s(atof(pbuf), pbuf));
	return o;
}

/* The result a finished task shows: its own, or a default. */
static json_object *
result_body(uint64_t id, struct task *t)
{
	json_object *o;
	char *s;

	if (t->kind == KIND_ACTION) {
		o = json_object_new_object();
		json_object_object_add(o, "built",
		    json_object_new_string(t->object));
		s = xasprintf("%" PRIu64, id);
		json_object_object_add(o, "id", json_object_new_string(s));
		free(s);
		if (t->result != NULL)
			json_object_object_add(o, "result",
			    json_object_get(t->result));
		return o;
	}
	if (t->result != NULL)
		return json_object_get(t->result);
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64((int64_t)id));
	json_object_object_add(o, "object", t->object != NULL ?
	    json_object_new_string(t->object) : NULL);
	return o;
}

/* The Azure status monitor of an operation (GET /operations/N). */
static json_object *
op_json(struct reqctx *rc, uint64_t id, struct task *t, int64_t now)
{
	json_object *o = json_object_new_object();
	char buf[32], *s, *enc;

	task_resolve(t, now);
	s = xasprintf("%" PRIu64, id);
	json_object_object_add(o, "id", json_object_new_string(s));
	free(s);
	json_object_object_add(o, "status",
	    json_object_new_string(status_name(t, now, buf, sizeof buf)));
	json_object_object_add(o, "percentComplete", json_object_new_int(
	    (int)(task_progress(t, now) * 100.0)));
	if (t->kind == KIND_RESOURCE) {
		enc = evhttp_encode_uri(t->object);
		s = xasprintf("%s/resources/%s", task_base(rc, t),
		    enc != NULL ? enc : "");
		free(enc);
		json_object_object_add(o, "resourceLocation",
		    json_object_new_string(s));
		free(s);
	} else if (t->kind == KIND_ACTION) {
		s = xasprintf("%s/results/%" PRIu64, task_base(rc, t), id);
		json_object_object_add(o, "resourceLocation",
		    json_object_new_string(s));
		free(s);
		if (t->state == TS_DONE)
			json_object_object_add(o, "result",
			    result_body(id, t));
	}
	if (t->state == TS_ERROR)
		json_object_object_add(o, "error", task_error_json(id, t));
	return o;
}

/* A resource body: name, provisioningState, properties. */
static json_object *
resource_json(struct task *t, const char *state, json_object *props,
    char *buf, size_t len)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(t->object));
	json_object_object_add(o, "provisioningState",
	    json_object_new_string(cased(t, state, buf, len)));
	json_object_object_add(o, "properties", props != NULL ?
	    json_object_get(props) : json_object_new_object());
	return o;
}

/* Take the properties of a resource's latest operation once it succeeded. */
static void
resource_sync(struct resource *r, int64_t now)
{
	struct task *t;

	if ((t = task_get(r->op)) == NULL)
		return;
	task_resolve(t, now);
	if (t->state == TS_DONE && r->props != t->result) {
		json_object_put(r->props);
		r->props = json_object_get(t->result);
	}
}

/* ---- request log ---- */

/* Free a log entry's strings and zero it. */
static void
logent_clear(struct logent *l)
{
	free(l->uri);
	free(l->path);
	free(l->route);
	free(l->auth);
	free(l->ua);
	free(l->idem);
	free(l->accept_enc);
	free(l->peer);
	memset(l, 0, sizeof *l);
}

/* Count and remember a (non-control) request. */
static void
log_record(struct reqctx *rc)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(rc->req);
	struct evhttp_connection *evcon;
	struct logent *l;
	const char *v;
	char *addr = NULL, *name, vbuf[32];
	ev_uint16_t port = 0;
	int dummy;

	svc.req_total++;
	rc->logseq = ++svc.req_seq;
	l = &svc.recent[rc->logseq % RECENT_MAX];
	logent_clear(l);
	l->seq = rc->logseq;
	l->at = mono_ms() - svc.started;
	l->method = rc->method;
	l->uri = xstrdup(evhttp_request_get_uri(rc->req));
	l->path = xstrdup(rc->path != NULL ? rc->path : "");
	if (rc->route != NULL)
		name = xasprintf("%s %s", rc->method, rc->route->pattern);
	else
		name = xasprintf("%s (unmatched)", rc->method);
	l->route = name;
	smap_get(&svc.by_route, name, NULL)->v.u++;
	if ((v = evhttp_find_header(h, "Authorization")) != NULL)
		l->auth = xstrdup(v);
	if ((v = evhttp_find_header(h, "User-Agent")) != NULL)
		l->ua = xstrdup(v);
	if ((v = idem_key(rc, &dummy)) != NULL)
		l->idem = xstrdup(v);
	if ((v = evhttp_find_header(h, "Accept-Encoding")) != NULL)
		l->accept_enc = xstrdup(v);
	if ((evcon = evhttp_request_get_connection(rc->req)) != NULL) {
		evhttp_connection_get_peer(evcon, &addr, &port);
		l->peer = xasprintf("%s:%u", addr != NULL ? addr : "?",
		    (unsigned)port);
	}
	l->body_bytes = evbuffer_get_length(
	    evhttp_request_get_input_buffer(rc->req));
	l->major = rc->req->major;
	l->minor = rc->req->minor;
	snprintf(vbuf, sizeof vbuf, "HTTP/%d.%d", l->major, l->minor);
	smap_get(&svc.by_version, vbuf, NULL)->v.u++;
}

/* The log entry of request seq, if still kept. */
static struct logent *
log_find(uint64_t seq)
{
	struct logent *l;

	if (seq == 0)
		return NULL;
	l = &svc.recent[seq % RECENT_MAX];
	return l->seq == seq ? l : NULL;
}

/* Note the status a logged request was answered with. */
static void
log_set_status(uint64_t seq, int status)
{
	struct logent *l;

	if ((l = log_find(seq)) != NULL)
		l->status = status;
}

/* Forget all counts and recorded requests. */
static void
log_reset(void)
{
	size_t i;

	for (i = 0; i < RECENT_MAX; i++)
		logent_clear(&svc.recent[i]);
	smap_clear(&svc.by_route, NULL);
	smap_clear(&svc.by_version, NULL);
	svc.req_total = 0;
}

/* One recorded request as JSON. */
static json_object *
logent_json(struct logent *l)
{
	json_object *o = json_object_new_object();
	char vbuf[32];

#define STR_OR_NULL(s) ((s) != NULL ? json_object_new_string(s) : NULL)
	json_object_object_add(o, "seq", json_object_new_int64(
	    (int64_t)l->seq));
	json_object_object_add(o, "time_ms", json_object_new_int64(l->at));
	json_object_object_add(o, "method", json_object_new_string(
	    l->method));
	json_object_object_add(o, "path", STR_OR_NULL(l->path));
	json_object_object_add(o, "uri", STR_OR_NULL(l->uri));
	json_object_object_add(o, "route", STR_OR_NULL(l->route));
	snprintf(vbuf, sizeof vbuf, "HTTP/%d.%d", l->major, l->minor);
	json_object_object_add(o, "http_version",
	    json_object_new_string(vbuf));
	json_object_object_add(o, "authorization", STR_OR_NULL(l->auth));
	json_object_object_add(o, "user_agent", STR_OR_NULL(l->ua));
	json_object_object_add(o, "idempotency_key", STR_OR_NULL(l->idem));
	json_object_object_add(o, "accept_encoding",
	    STR_OR_NULL(l->accept_enc));
	json_object_object_add(o, "body_bytes", json_object_new_int64(
	    (int64_t)l->body_bytes));
	json_object_object_add(o, "peer", STR_OR_NULL(l->peer));
	json_object_object_add(o, "status", l->status != 0 ?
	    json_object_new_int(l->status) : NULL);
	json_object_object_add(o, "fault", STR_OR_NULL(l->fault));
#undef STR_OR_NULL
	return o;
}

/* ---- faults ---- */

/* The boolean field of a fault named key, or NULL. */
static int *
fault_flag(struct fault *f, const char *key)
{
	if (strcmp(key, "reset") == 0)
		return &f->reset;
	if (strcmp(key, "rst") == 0)
		return &f->rst;
	if (strcmp(key, "reset_mid_body") == 0)
		return &f->mid_body;
	if (strcmp(key, "truncated") == 0)
		return &f->truncated;
	if (strcmp(key, "chunked") == 0)
		return &f->chunked;
	if (strcmp(key, "redirect_loop") == 0)
		return &f->redirect_loop;
	if (strcmp(key, "latin1") == 0)
		return &f->latin1;
	if (strcmp(key, "corrupt_encoding") == 0)
		return &f->corrupt;
	return NULL;
}

/* UTF-8 s to Latin-1 in place (U+0080-U+00FF to one byte each: invalid
 * UTF-8 for a client to cope with); returns the new length. */
static size_t
latin1(char *s, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] == 0xc2 || (unsigned char)s[i] == 0xc3)
		    && i + 1 < n) {
			s[o++] = (char)(((s[i] & 3) << 6) | (s[i + 1] & 0x3f));
			i++;
		} else
			s[o++] = s[i];
	return o;
}

/* A fault from its control request; NULL with err set if invalid. */
static struct fault *
fault_parse(json_object *in, char *err, size_t errlen)
{
	json_object *match = NULL, *spec = NULL, *v;
	struct fault *f;
	const char *s;
	int64_t n;
	int *flag;

	if (!json_object_is_type(in, json_type_object) ||
	    !json_object_object_get_ex(in, "fault", &spec) ||
	    !json_object_is_type(spec, json_type_object)) {
		snprintf(err, errlen, "expected {\"match\": {...}, "
		    "\"count\": N, \"fault\": {...}}");
		return NULL;
	}
	f = xcalloc(1, sizeof *f);
	f->refs = 1;
	f->left = -1;
	f->spec = json_object_get(spec);

	json_object_object_foreach(in, key, val) {
		(void)val;
		if (strcmp(key, "match") != 0 && strcmp(key, "count") != 0 &&
		    strcmp(key, "fault") != 0) {
			snprintf(err, errlen, "unknown key \"%s\"", key);
			goto bad;
		}
	}
	if (json_object_object_get_ex(in, "match", &match) && match != NULL) {
		if (!json_object_is_type(match, json_type_object)) {
			snprintf(err, errlen, "match must be an object");
			goto bad;
		}
		json_object_object_foreach(match, mkey, mval) {
			if (strcmp(mkey, "method") != 0 &&
			    strcmp(mkey, "path_prefix") != 0) {
				snprintf(err, errlen, "unknown match key "
				    "\"%s\"", mkey);
				goto bad;
			}
			if (mval == NULL)
				continue;
			if (!json_object_is_type(mval, json_type_string)) {
				snprintf(err, errlen, "match.%s must be a "
				    "string", mkey);
				goto bad;
			}
			s = json_object_get_string(mval);
			if (strcmp(mkey, "method") == 0) {
				if (strcmp(s, "*") != 0 && *s != '\0')
					f->method = xstrdup(s);
			} else if (*s != '\0')
				f->prefix = xstrdup(s);
		}
	}
	if (json_object_object_get_ex(in, "count", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_int) ||
		    (n = json_object_get_int64(v)) < -1 || n == 0) {
			snprintf(err, errlen, "count must be a positive "
			    "integer, or -1 for every request");
			goto bad;
		}
		f->left = n;
	}

	json_object_object_foreach(spec, fkey, fval) {
		enum json_type ty = json_object_get_type(fval);

		if (strcmp(fkey, "status") == 0) {
			if (ty != json_type_int ||
			    (n = json_object_get_int64(fval)) < 100 ||
			    n > 599)
				goto badval;
			f->status = (int)n;
		} else if (strcmp(fkey, "body") == 0) {
			if (ty == json_type_string) {
				f->body = xstrdup(json_object_get_string(
				    fval));
				f->bodylen = (size_t)
				    json_object_get_string_len(fval);
			} else {
				s = json_object_to_json_string_ext(fval,
				    JSON_C_TO_STRING_PLAIN);
				f->body = xstrdup(s);
				f->bodylen = strlen(s);
			}
		} else if (strcmp(fkey, "content_type") == 0) {
			if (ty != json_type_string)
				goto badval;
			f->ctype = xstrdup(json_object_get_string(fval));
		} else if (strcmp(fkey, "headers") == 0) {
			if (ty != json_type_object)
				goto badval;
			json_object_object_foreach(fval, hk, hv) {
				(void)hk;
				if (!json_object_is_type(hv,
				    json_type_string))
					goto badval;
			}
			f->headers = json_object_get(fval);
		} else if (strcmp(fkey, "retry_after") == 0) {
			if (ty != json_type_string && ty != json_type_int)
				goto badval;
			f->retry_after = xstrdup(json_object_get_string(fval));
		} else if (strcmp(fkey, "retry_after_date") == 0) {
			if (ty == json_type_boolean)
				f->retry_after_date =
				    json_object_get_boolean(fval) ? 2 : 0;
			else if (ty == json_type_int &&
			    (n = json_object_get_int64(fval)) >= 0 &&
			    n <= 86400)
				f->retry_after_date = n;
			else
				goto badval;
		} else if (strcmp(fkey, "retry_after_ms") == 0) {
			if (ty != json_type_string && ty != json_type_int)
				goto badval;
			f->retry_after_ms = xstrdup(json_object_get_string(fval));
		} else if (strcmp(fkey, "delay_ms") == 0) {
			if (ty != json_type_int ||
			    (n = json_object_get_int64(fval)) < 0 ||
			    n > MAX_DELAY)
				goto badval;
			f->delay_ms = n;
		} else if (strcmp(fkey, "oversized_bytes") == 0) {
			if (ty != json_type_int ||
			    (n = json_object_get_int64(fval)) < 0 ||
			    n > (1LL << 40))
				goto badval;
			f->oversized_set = 1;
			f->oversized = (uint64_t)n;
		} else if (strcmp(fkey, "encoding") == 0) {
			if (ty != json_type_string)
				goto badval;
			s = json_object_get_string(fval);
			if (strcmp(s, "gzip") == 0)
				f->encoding = ENC_GZIP;
			else if (strcmp(s, "deflate") == 0)
				f->encoding = ENC_DEFLATE;
			else
				goto badval;
		} else if (strcmp(fkey, "bomb_bytes") == 0) {
			if (ty != json_type_int ||
			    (n = json_object_get_int64(fval)) < 10 ||
			    n > MAX_BOMB)
				goto badval;
			f->bomb = (uint64_t)n;
		} else if (strcmp(fkey, "redirect_to") == 0) {
			if (ty != json_type_string ||
			    json_object_get_string_len(fval) == 0)
				goto badval;
			f->redirect_to = xstrdup(json_object_get_string(fval));
		} else if ((flag = fault_flag(f, fkey)) != NULL) {
			if (ty != json_type_boolean)
				goto badval;
			*flag = json_object_get_boolean(fval);
		} else {
			snprintf(err, errlen, "unknown fault key \"%s\"",
			    fkey);
			goto bad;
		}
		continue;
badval:
		snprintf(err, errlen, "bad value for fault.%s", fkey);
		goto bad;
	}
	if (f->rst)
		f->reset = 1;
	if (f->latin1 && f->body != NULL)
		f->bodylen = latin1(f->body, f->bodylen);
	if ((f->bomb != 0 || f->corrupt) && f->encoding == ENC_NONE)
		f->encoding = ENC_GZIP;
	if (!f->reset && !f->mid_body && !f->truncated && !f->oversized_set &&
	    !f->redirect_loop && f->redirect_to == NULL && f->status == 0 &&
	    f->body == NULL && f->delay_ms == 0 && f->headers == NULL &&
	    f->retry_after == NULL && f->retry_after_date == 0 &&
	    f->retry_after_ms == NULL && f->encoding == ENC_NONE) {
		snprintf(err, errlen, "the fault does nothing");
		goto bad;
	}
	return f;

bad:
	fault_unref(f);
	return NULL;
}

/* Drop a reference; the last one frees the fault. */
static void
fault_unref(struct fault *f)
{
	if (f == NULL || --f->refs > 0)
		return;
	free(f->method);
	free(f->prefix);
	json_object_put(f->spec);
	free(f->body);
	free(f->ctype);
	json_object_put(f->headers);
	free(f->retry_after);
	free(f->retry_after_ms);
	free(f->redirect_to);
	free(f);
}

/* The first live fault matching a request, consumed; a new reference. */
static struct fault *
fault_take(struct reqctx *rc)
{
	struct fault *f;
	const char *path = rc->path != NULL ? rc->path : "";

	TAILQ_FOREACH(f, &svc.faults, entry) {
		if (f->left == 0)
			continue;
		if (f->method != NULL && strcasecmp(f->method, rc->method) != 0)
			continue;
		if (f->prefix != NULL &&
		    strncmp(path, f->prefix, strlen(f->prefix)) != 0)
			continue;
		if (f->left > 0)
			f->left--;
		f->hits++;
		f->refs++;
		return f;
	}
	return NULL;
}

/* Whether the fault takes over the connection instead of replying. */
static int
fault_is_raw(struct fault *f)
{
	return f->reset || f->mid_body || f->truncated || f->oversized_set;
}

/* A fault's name in logs and listings, by precedence. */
static const char *
fault_kind(struct fault *f)
{
	if (f->reset)
		return f->rst ? "rst" : "reset";
	if (f->mid_body)
		return "reset_mid_body";
	if (f->truncated)
		return "truncated";
	if (f->oversized_set)
		return "oversized";
	if (f->redirect_loop)
		return "redirect_loop";
	if (f->redirect_to != NULL)
		return "redirect";
	if (f->bomb != 0)
		return "bomb";
	if (f->status != 0 || f->body != NULL)
		return "status";
	if (f->delay_ms > 0)
		return "delay";
	return "headers";
}

/* Add the fault's Retry-After family and extra headers to the reply. */
static void
fault_add_headers(struct reqctx *rc, struct fault *f)
{
	char date[64];
	struct tm tm;
	time_t when;

	if (f->retry_after != NULL)
		add_header(rc, "Retry-After", "%s", f->retry_after);
	if (f->retry_after_date > 0) {
		when = time(NULL) + (time_t)f->retry_after_date;
		gmtime_r(&when, &tm);
		strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		add_header(rc, "Retry-After", "%s", date);
	}
	if (f->retry_after_ms != NULL)
		add_header(rc, "retry-after-ms", "%s", f->retry_after_ms);
	if (f->headers != NULL) {
		json_object_object_foreach(f->headers, k, v) {
			char *hv = xstrdup(json_object_get_string(v));

			if (f->latin1)
				hv[latin1(hv, strlen(hv))] = '\0';
			add_header(rc, k, "%s", hv);
			free(hv);
		}
	}
}

/*
 * Carry out the request's fault.  Returns 1 if that answered the request
 * (or dropped the connection), 0 if the request goes on normally.
 */
static int
fault_apply(struct reqctx *rc)
{
	struct fault *f = rc->fault;
	struct rawconn *raw;
	struct evbuffer *out, *b;
	const char *body;
	size_t blen;
	char *loc;
	int code;

	if (fault_is_raw(f)) {
		raw = raw_begin(rc);
		out = bufferevent_get_output(raw->bev);
		if (f->reset) {
			raw->rst = f->rst;
			raw_close(raw);
			return 1;
		}
		if (f->mid_body || f->truncated) {
			/* Content-Length promises more than is sent. */
			body = f->body != NULL ? f->body :
			    "[{\"id\": 1, \"state\": \"running\"}, {\"id\": 2, "
			    "\"sta";
			blen = f->body != NULL ? f->bodylen : strlen(body);
			raw_head(out, rc, f->status != 0 ? f->status : 200);
			evbuffer_add_printf(out, "Content-Length: %zu\r\n\r\n",
			    blen * 2 + 100);
			evbuffer_add(out, body, blen);
			raw->rst = f->mid_body;
			return 1;
		}
		/* oversized: a valid JSON document of exactly N bytes */
		raw_head(out, rc, f->status != 0 ? f->status : 200);
		raw->chunked = f->chunked;
		if (f->chunked)
			evbuffer_add_printf(out,
			    "Transfer-Encoding: chunked\r\n\r\n");
		else
			evbuffer_add_printf(out, "Content-Length: %" PRIu64
			    "\r\n\r\n", f->oversized);
		raw->tail = xevbuffer_new();
		if (f->oversized >= 10) {
			if (f->chunked)
				evbuffer_add_printf(out,
				    "8\r\n{\"pad\":\"\r\n");
			else
				evbuffer_add_printf(out, "{\"pad\":\"");
			raw->left = f->oversized - 10;
			if (f->chunked)
				evbuffer_add_printf(raw->tail, "2\r\n\"}\r\n");
			else
				evbuffer_add_printf(raw->tail, "\"}");
		} else if (f->oversized > 0) {
			if (f->chunked)
				evbuffer_add_printf(raw->tail, "%" PRIx64
				    "\r\n", f->oversized);
			evbuffer_add(raw->tail, "          ",
			    (size_t)f->oversized);
			if (f->chunked)
				evbuffer_add(raw->tail, "\r\n", 2);
		}
		if (f->chunked)
			evbuffer_add_printf(raw->tail, "0\r\n\r\n");
		raw_fill(raw);
		return 1;
	}
	if (f->redirect_loop || f->redirect_to != NULL) {
		code = f->status >= 300 && f->status < 400 ? f->status : 302;
		if (f->redirect_loop)
			loc = xasprintf("%s%s", rc->base,
			    evhttp_request_get_uri(rc->req));
		else
			loc = xstrdup(f->redirect_to);
		fault_add_headers(rc, f);
		add_header(rc, "Location", "%s", loc);
		reply_error(rc, code, "Redirect", "see %s", loc);
		free(loc);
		return 1;
	}
	if (f->bomb != 0) {
		/* {"pad":"   ...   "}: valid JSON of exactly f->bomb bytes,
		 * a few kB once compressed (reply_send() compresses it). */
		char *big = malloc((size_t)f->bomb);

		if (big == NULL)
			fatalx("out of memory");
		memset(big, ' ', (size_t)f->bomb);
		memcpy(big, "{\"pad\":\"", 8);
		memcpy(big + f->bomb - 2, "\"}", 2);
		fault_add_headers(rc, f);
		add_header(rc, "Content-Type", "%s", CTYPE_JSON);
		b = xevbuffer_new();
		evbuffer_add_reference(b, big, (size_t)f->bomb,
		    bomb_free, NULL);
		reply_send(rc, f->status != 0 ? f->status : 200, b);
		evbuffer_free(b);
		return 1;
	}
	if (f->status != 0 || f->body != NULL) {
		code = f->status != 0 ? f->status : 200;
		fault_add_headers(rc, f);
		if (f->body == NULL) {
			reply_error(rc, code, "InjectedFault",
			    "injected fault: status %d", code);
			return 1;
		}
		add_header(rc, "Content-Type", "%s",
		    f->ctype != NULL ? f->ctype : CTYPE_JSON);
		b = xevbuffer_new();
		evbuffer_add(b, f->body, f->bodylen);
		reply_send(rc, code, b);
		evbuffer_free(b);
		return 1;
	}
	/* delay and/or headers only: the real answer follows */
	fault_add_headers(rc, f);
	return 0;
}

/* Remove every fault (requests holding one keep it). */
static void
fault_clear_all(void)
{
	struct fault *f;

	while ((f = TAILQ_FIRST(&svc.faults)) != NULL) {
		TAILQ_REMOVE(&svc.faults, f, entry);
		fault_unref(f);
	}
	svc.nfaults = 0;
}

/* ---- raw connections ---- */

/*
 * Take the request's connection away from evhttp: its bufferevent gets our
 * callbacks, and the request is freed with the connection in raw_close().
 */
static struct rawconn *
raw_begin(struct reqctx *rc)
{
	struct rawconn *raw = xcalloc(1, sizeof *raw);

	raw->evcon = evhttp_request_get_connection(rc->req);
	raw->bev = evhttp_connection_get_bufferevent(raw->evcon);
	TAILQ_INSERT_TAIL(&svc.raws, raw, entry);
	bufferevent_setcb(raw->bev, NULL, raw_write_cb, raw_event_cb, raw);
	bufferevent_disable(raw->bev, EV_READ);
	bufferevent_setwatermark(raw->bev, EV_WRITE, 0, 0);
	bufferevent_enable(raw->bev, EV_WRITE);
	log_set_status(rc->logseq, 0);
	log_debug("%s %s -> fault %s", rc->method,
	    evhttp_request_get_uri(rc->req), fault_kind(rc->fault));
	rc->req = NULL;
	return raw;
}

/* Status line and common headers of a raw response. */
static void
raw_head(struct evbuffer *out, struct reqctx *rc, int code)
{
	struct fault *f = rc->fault;
	char date[64];
	struct tm tm;
	time_t when;

	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", code,
	    reason_phrase(code));
	evbuffer_add_printf(out, "Content-Type: %s\r\n",
	    f->ctype != NULL ? f->ctype : CTYPE_JSON);
	evbuffer_add_printf(out, "Connection: close\r\n");
	if (f->retry_after != NULL)
		evbuffer_add_printf(out, "Retry-After: %s\r\n",
		    f->retry_after);
	if (f->retry_after_date > 0) {
		when = time(NULL) + (time_t)f->retry_after_date;
		gmtime_r(&when, &tm);
		strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		evbuffer_add_printf(out, "Retry-After: %s\r\n", date);
	}
	if (f->retry_after_ms != NULL)
		evbuffer_add_printf(out, "retry-after-ms: %s\r\n",
		    f->retry_after_ms);
	if (f->headers != NULL) {
		json_object_object_foreach(f->headers, k, v)
			evbuffer_add_printf(out, "%s: %s\r\n", k,
			    json_object_get_string(v));
	}
}

/* Queue more filler; returns 1 while some remains to be queued. */
static int
raw_fill(struct rawconn *raw)
{
	struct evbuffer *out = bufferevent_get_output(raw->bev);
	size_t n;

	while (raw->left > 0 && evbuffer_get_length(out) < RAW_HIGH) {
		n = raw->left < sizeof filler ? (size_t)raw->left :
		    sizeof filler;
		if (raw->chunked)
			evbuffer_add_printf(out, "%zx\r\n", n);
		evbuffer_add_reference(out, filler, n, NULL, NULL);
		if (raw->chunked)
			evbuffer_add(out, "\r\n", 2);
		raw->left -= n;
	}
	if (raw->left > 0) {
		bufferevent_setwatermark(raw->bev, EV_WRITE, RAW_HIGH / 2, 0);
		return 1;
	}
	if (raw->tail != NULL) {
		evbuffer_add_buffer(out, raw->tail);
		evbuffer_free(raw->tail);
		raw->tail = NULL;
	}
	bufferevent_setwatermark(raw->bev, EV_WRITE, 0, 0);
	return 0;
}

/* Close a raw connection (with a reset if asked) and free its request. */
static void
raw_close(struct rawconn *raw)
{
	struct linger lg;
	evutil_socket_t fd;
	int dummy;

	TAILQ_REMOVE(&svc.raws, raw, entry);
	if (raw->rst && (fd = bufferevent_getfd(raw->bev)) != -1) {
		/*
		 * evhttp_connection_free() would shutdown() (FIN) before it
		 * closes.  Instead close the socket here with a zero linger
		 * (RST), by putting a fresh unconnected socket in its place
		 * for evhttp to shut down and close.
		 */
		bufferevent_disable(raw->bev, EV_READ | EV_WRITE);
		lg.l_onoff = 1;
		lg.l_linger = 0;
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		if ((dummy = socket(AF_INET, SOCK_STREAM, 0)) != -1) {
			dup2(dummy, fd);
			close(dummy);
		}
	}
	evhttp_connection_free(raw->evcon);
	if (raw->tail != NULL)
		evbuffer_free(raw->tail);
	free(raw);
}

/* Output drained below the watermark: refill, or close once all is sent. */
static void
raw_write_cb(struct bufferevent *bev, void *arg)
{
	struct rawconn *raw = arg;

	if (raw_fill(raw) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		raw_close(raw);
}

/* The client went away or timed out. */
static void
raw_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct rawconn *raw = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		raw->rst = 0;
		raw_close(raw);
	}
}

/* ---- requests ---- */

/* The name of an HTTP method. */
static const char *
method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_TRACE:
		return "TRACE";
	case EVHTTP_REQ_CONNECT:
		return "CONNECT";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	}
	return "UNKNOWN";
}

/* Decode what routing and handlers need from a request. */
static struct reqctx *
reqctx_new(struct evhttp_request *req)
{
	struct reqctx *rc = xcalloc(1, sizeof *rc);
	const char *raw, *path, *q, *host, *scheme;
	char *copy, *p, *s, *dec;
	size_t len;

	rc->req = req;
	rc->cmd = evhttp_request_get_command(req);
	rc->method = method_name(rc->cmd);
	TAILQ_INIT(&rc->query);

	host = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Host");
	scheme = svc.tls != NULL ? "https" : "http";
	if (host != NULL && *host != '\0' && strlen(host) < 256 &&
	    strpbrk(host, " \t/\\\"<>") == NULL)
		rc->base = xasprintf("%s://%s", scheme, host);
	else if (strchr(svc.addr, ':') != NULL)
		rc->base = xasprintf("%s://[%s]:%d", scheme, svc.addr, svc.port);
	else
		rc->base = xasprintf("%s://%s:%d", scheme, svc.addr, svc.port);

	raw = evhttp_request_get_uri(req);
	if (raw == NULL || (rc->uri = evhttp_uri_parse(raw)) == NULL ||
	    (path = evhttp_uri_get_path(rc->uri)) == NULL) {
		rc->bad = "malformed request URI";
		rc->unroutable = 1;
		return rc;
	}
	rc->path = xstrdup(*path != '\0' ? path : "/");
	if ((q = evhttp_uri_get_query(rc->uri)) != NULL &&
	    evhttp_parse_query_str(q, &rc->query) == -1)
		rc->bad = "malformed query string";

	copy = xstrdup(rc->path);
	for (p = copy; (s = strsep(&p, "/")) != NULL;) {
		if (*s == '\0')
			continue;
		if (rc->nseg == MAX_SEGS) {
			rc->unroutable = 1;
			break;
		}
		if ((dec = evhttp_uridecode(s, 0, &len)) == NULL) {
			rc->unroutable = 1;
			break;
		}
		if (strlen(dec) != len) {
			rc->bad = "NUL byte in the request path";
			free(dec);
			rc->unroutable = 1;
			break;
		}
		rc->seg[rc->nseg++] = dec;
	}
	free(copy);
	if (rc->nseg > 0 && strcmp(rc->seg[0], "_control") == 0)
		rc->control = 1;
	return rc;
}

/* Free a request context (not its evhttp request). */
static void
reqctx_free(struct reqctx *rc)
{
	int i;

	if (rc->timer != NULL)
		event_free(rc->timer);
	if (rc->uri != NULL)
		evhttp_uri_free(rc->uri);
	evhttp_clear_headers(&rc->query);
	for (i = 0; i < rc->nseg; i++)
		free(rc->seg[i]);
	free(rc->path);
	free(rc->base);
	json_object_put(rc->body);
	fault_unref(rc->fault);
	free(rc);
}

/*
 * Parse the request body as JSON (strict, depth-limited, nothing after it).
 * An empty body is no body.  Returns -1 if it is not JSON.
 */
static int
body_parse(struct reqctx *rc)
{
	struct evbuffer *in;
	json_tokener *tok;
	const char *p;
	size_t len, end;

	if (rc->body_done)
		return rc->body_bad ? -1 : 0;
	rc->body_done = 1;
	in = evhttp_request_get_input_buffer(rc->req);
	if ((len = evbuffer_get_length(in)) == 0)
		return 0;
	p = (const char *)evbuffer_pullup(in, -1);
	for (end = 0; end < len && strchr(" \t\r\n", p[end]) != NULL &&
	    p[end] != '\0'; end++)
		;
	if (end == len)
		return 0;
	if (len > INT_MAX || (tok = json_tokener_new_ex(JSON_DEPTH)) == NULL)
		goto bad;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	rc->body = json_tokener_parse_ex(tok, p, (int)len);
	if (rc->body == NULL &&
	    json_tokener_get_error(tok) == json_tokener_continue) {
		/* a bare number needs a terminator to end */
		end = len;
		rc->body = json_tokener_parse_ex(tok, "", 1);
	} else
		end = json_tokener_get_parse_end(tok);
	if (rc->body == NULL || json_tokener_get_error(tok) !=
	    json_tokener_success) {
		snprintf(rc->body_err, sizeof rc->body_err, "%s",
		    json_tokener_error_desc(json_tokener_get_error(tok)));
		json_tokener_free(tok);
		goto bad;
	}
	json_tokener_free(tok);
	for (; end < len; end++) {
		if (strchr(" \t\r\n", p[end]) == NULL || p[end] == '\0') {
			snprintf(rc->body_err, sizeof rc->body_err,
			    "data after the JSON value");
			goto bad;
		}
	}
	return 0;

bad:
	if (rc->body_err[0] == '\0')
		snprintf(rc->body_err, sizeof rc->body_err, "bad JSON");
	json_object_put(rc->body);
	rc->body = NULL;
	rc->body_bad = 1;
	return -1;
}

/*
 * Find an option: a field of the JSON body object, else a query parameter.
 * Returns 1 with *jv or *sv set, 0 if absent (a JSON null is absent).
 */
static int
opt_find(struct reqctx *rc, const char *name, json_object **jv,
    const char **sv)
{
	*jv = NULL;
	*sv = NULL;
	if (rc->body != NULL &&
	    json_object_is_type(rc->body, json_type_object) &&
	    json_object_object_get_ex(rc->body, name, jv))
		return *jv != NULL;
	*sv = evhttp_find_header(&rc->query, name);
	return *sv != NULL;
}

/* An integer option in [min, max]: 1 found, 0 absent, -1 invalid. */
static int
opt_int(struct reqctx *rc, const char *name, int64_t min, int64_t max,
    int64_t *out)
{
	json_object *jv;
	const char *sv;
	uint64_t u;
	int64_t v;

	if (!opt_find(rc, name, &jv, &sv))
		return 0;
	if (jv != NULL && json_object_is_type(jv, json_type_int))
		v = json_object_get_int64(jv);
	else {
		if (jv != NULL) {
			if (!json_object_is_type(jv, json_type_string))
				return -1;
			sv = json_object_get_string(jv);
		}
		if (*sv == '-') {
			if (parse_u64(sv + 1, &u) == -1)
				return -1;
			v = -(int64_t)u;
		} else if (parse_u64(sv, &u) == -1)
			return -1;
		else
			v = (int64_t)u;
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 1;
}

/* A boolean option: 1 found, 0 absent, -1 invalid. */
static int
opt_bool(struct reqctx *rc, const char *name, int *out)
{
	json_object *jv;
	const char *sv;

	if (!opt_find(rc, name, &jv, &sv))
		return 0;
	if (jv != NULL && json_object_is_type(jv, json_type_boolean)) {
		*out = json_object_get_boolean(jv);
		return 1;
	}
	if (jv != NULL) {
		if (!json_object_is_type(jv, json_type_string))
			return -1;
		sv = json_object_get_string(jv);
	}
	if (strcasecmp(sv, "true") == 0 || strcmp(sv, "1") == 0 ||
	    strcasecmp(sv, "yes") == 0)
		*out = 1;
	else if (strcasecmp(sv, "false") == 0 || strcmp(sv, "0") == 0 ||
	    strcasecmp(sv, "no") == 0)
		*out = 0;
	else
		return -1;
	return 1;
}

/* A string option: 1 found, 0 absent, -1 not a string. */
static int
opt_str(struct reqctx *rc, const char *name, const char **out)
{
	json_object *jv;
	const char *sv;

	if (!opt_find(rc, name, &jv, &sv))
		return 0;
	if (jv != NULL) {
		if (!json_object_is_type(jv, json_type_string))
			return -1;
		sv = json_object_get_string(jv);
	}
	*out = sv;
	return 1;
}

/* An option naming one of names[]: 1 found, 0 absent, -1 invalid. */
static int
opt_enum(struct reqctx *rc, const char *name, const char *const *names,
    int n, int *out)
{
	const char *s;
	int r, i;

	if ((r = opt_str(rc, name, &s)) != 1)
		return r;
	if ((i = name_lookup(names, n, s)) == -1)
		return -1;
	*out = i;
	return 1;
}

/* The outcome option (done, error, cancelled and their synonyms). */
static int
opt_outcome(struct reqctx *rc, int *out)
{
	static const char *const names[] = { "done", "succeeded", "success",
	    "error", "failed", "failure", "cancelled", "canceled" };
	static const uint8_t states[] = { TS_DONE, TS_DONE, TS_DONE,
	    TS_ERROR, TS_ERROR, TS_ERROR, TS_CANCELLED, TS_CANCELLED };
	int r, i;

	if ((r = opt_enum(rc, "outcome", names,
	    (int)(sizeof names / sizeof names[0]), &i)) == 1)
		*out = states[i];
	return r;
}

/* Read a create request's options into sp; -1 with err set if invalid. */
static int
spec_parse(struct reqctx *rc, int kind, struct spec *sp, char *err,
    size_t errlen)
{
	static const char *const spellings[] = { "canceled", "cancelled" };
	json_object *jv;
	const char *s, *sv, *bad;
	int r;

	memset(sp, 0, sizeof *sp);
	sp->duration = svc.default_duration;
	sp->outcome = TS_DONE;
	sp->cancellable = 1;
	sp->retry_after = -1;
	sp->final_status = 200;
	sp->mode = kind == KIND_ACTION ? MODE_LOCATION : MODE_OPLOC;
	sp->fsv = FSV_DEFAULT;
	sp->scase = CASE_PASCAL;
	if (rc->body != NULL &&
	    !json_object_is_type(rc->body, json_type_object)) {
		snprintf(err, errlen, "the body must be a JSON object");
		return -1;
	}

#define OPT(what, call) do {						\
	if ((call) == -1) {						\
		bad = (what);						\
		goto fail;						\
	}								\
} while (0)
	OPT("duration_ms", r = opt_int(rc, "duration_ms", 0, MAX_DURATION,
	    &sp->duration));
	sp->duration_given = r == 1;
	OPT("outcome", opt_outcome(rc, &sp->outcome));
	OPT("message", opt_str(rc, "message", &sp->message));
	OPT("code", opt_str(rc, "code", &sp->code));
	OPT("cancellable", opt_bool(rc, "cancellable", &sp->cancellable));
	OPT("retry_after", opt_int(rc, "retry_after", 0, 86400,
	    &sp->retry_after));
	OPT("not_started_ms", opt_int(rc, "not_started_ms", 0, INT32_MAX,
	    &sp->not_started));
	OPT("final_status", opt_int(rc, "final_status", 200, 204,
	    &sp->final_status));
	if (sp->final_status == 202 || sp->final_status == 203)
		OPT("final_status", -1);
	OPT("mode", opt_enum(rc, "mode", mode_names, MODE_COUNT, &sp->mode));
	OPT("final_state_via", opt_enum(rc, "final_state_via", fsv_names,
	    FSV_COUNT, &sp->fsv));
	OPT("status_case", opt_enum(rc, "status_case", case_names, CASE_COUNT,
	    &sp->scase));
	OPT("cancel_spelling", opt_enum(rc, "cancel_spelling", spellings, 2,
	    &sp->british));
	OPT("header_host", r = opt_str(rc, "header_host", &s));
	if (r == 1) {
		if ((strncmp(s, "http://", 7) != 0 &&
		    strncmp(s, "https://", 8) != 0) || strlen(s) > 255 ||
		    strpbrk(s, " \t\r\n\"<>\\") != NULL)
			OPT("header_host", -1);
		sp->base = s;
	}
#undef OPT
	/* the result: resource properties (an object) or any JSON value */
	if (kind == KIND_RESOURCE && opt_find(rc, "properties", &jv, &sv)) {
		if (jv == NULL || !json_object_is_type(jv, json_type_object)) {
			bad = "properties";
			goto fail;
		}
		sp->result = jv;
	} else if (kind != KIND_RESOURCE && opt_find(rc, "result", &jv, &sv)) {
		if (jv == NULL) {
			bad = "result (JSON body only)";
			goto fail;
		}
		sp->result = jv;
	}
	return 0;

fail:
	snprintf(err, errlen, "bad value for %s", bad);
	return -1;
}

/* The request's idempotency key, and which header carried it. */
static const char *
idem_key(struct reqctx *rc, int *repeatability)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(rc->req);
	const char *v;

	*repeatability = 0;
	if ((v = evhttp_find_header(h, "Idempotency-Key")) != NULL)
		return v;
	if ((v = evhttp_find_header(h, "Repeatability-Request-ID")) != NULL)
		*repeatability = 1;
	return v;
}

/* ---- replies ---- */

/* The reason phrase for a status code. */
static const char *
reason_phrase(int code)
{
	static const struct {
		int		 code;
		const char	*reason;
	} phrases[] = {
		{ 200, "OK" }, { 201, "Created" }, { 202, "Accepted" },
		{ 204, "No Content" }, { 301, "Moved Permanently" },
		{ 302, "Found" }, { 303, "See Other" },
		{ 304, "Not Modified" }, { 307, "Temporary Redirect" },
		{ 308, "Permanent Redirect" }, { 400, "Bad Request" },
		{ 401, "Unauthorized" }, { 403, "Forbidden" },
		{ 404, "Not Found" }, { 405, "Method Not Allowed" },
		{ 408, "Request Timeout" }, { 409, "Conflict" },
		{ 410, "Gone" }, { 413, "Payload Too Large" },
		{ 422, "Unprocessable Content" },
		{ 429, "Too Many Requests" },
		{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" }, { 507, "Insufficient Storage" },
	};
	size_t i;

	for (i = 0; i < sizeof phrases / sizeof phrases[0]; i++)
		if (phrases[i].code == code)
			return phrases[i].reason;
	return "Status";
}

/* Add an output header (value formatted, at most 1 KiB). */
static void
add_header(struct reqctx *rc, const char *name, const char *fmt, ...)
{
	va_list ap;
	char buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	evhttp_add_header(evhttp_request_get_output_headers(rc->req), name,
	    buf);
}

/* Free a bomb's body once libevent is done with it. */
static void
bomb_free(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)(uintptr_t)data);
}

/*
 * in compressed (gzip or zlib's deflate, as HTTP means them) into a new
 * buffer; with corrupt, the first byte after the format's header is 0xff,
 * a deflate block of the reserved type 3, which no decoder accepts.
 */
static struct evbuffer *
compress_body(struct evbuffer *in, int enc, int corrupt)
{
	struct evbuffer *out = xevbuffer_new();
	z_stream z;
	unsigned char *src, *dst;
	size_t len = in != NULL ? evbuffer_get_length(in) : 0, cap;

	memset(&z, 0, sizeof z);
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED,
	    enc == ENC_GZIP ? 15 + 16 : 15, 9, Z_DEFAULT_STRATEGY) != Z_OK)
		fatalx("deflateInit2 failed");
	cap = deflateBound(&z, (uLong)len);
	src = len > 0 ? evbuffer_pullup(in, -1) : (unsigned char *)"";
	dst = malloc(cap);
	if (dst == NULL)
		fatalx("out of memory");
	z.next_in = src;
	z.avail_in = (uInt)len;
	z.next_out = dst;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		fatalx("deflate failed");
	if (corrupt && z.total_out > 12)
		dst[enc == ENC_GZIP ? 10 : 2] = 0xff;
	evbuffer_add(out, dst, z.total_out);
	deflateEnd(&z);
	free(dst);
	return out;
}

/* Send the reply (body may be NULL) and record its status; a fault with
 * "encoding" compresses it. */
static void
reply_send(struct reqctx *rc, int code, struct evbuffer *body)
{
	struct evbuffer *z = NULL;

	if (rc->fault != NULL && rc->fault->encoding != ENC_NONE) {
		z = compress_body(body, rc->fault->encoding,
		    rc->fault->corrupt);
		add_header(rc, "Content-Encoding", "%s",
		    rc->fault->encoding == ENC_GZIP ? "gzip" : "deflate");
		body = z;
	}
	log_set_status(rc->logseq, code);
	log_debug("%s %s -> %d", rc->method,
	    evhttp_request_get_uri(rc->req), code);
	evhttp_send_reply(rc->req, code, reason_phrase(code), body);
	rc->req = NULL;
	if (z != NULL)
		evbuffer_free(z);
}

/* Send a JSON reply; consumes o. */
static void
reply_json(struct reqctx *rc, int code, json_object *o)
{
	struct evbuffer *b = xevbuffer_new();
	const char *s;
	size_t len;

	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	evbuffer_add(b, s, len);
	evbuffer_add(b, "\n", 1);
	json_object_put(o);
	add_header(rc, "Content-Type", "%s", CTYPE_JSON);
	reply_send(rc, code, b);
	evbuffer_free(b);
}

/* An error reply: {"message": M, "error": {"code": C, "message": M}}. */
static void
reply_error(struct reqctx *rc, int code, const char *ecode, const char *fmt,
    ...)
{
	json_object *o = json_object_new_object(), *e;
	va_list ap;
	char buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	e = json_object_new_object();
	json_object_object_add(e, "code", json_object_new_string(ecode));
	json_object_object_add(e, "message", json_object_new_string(buf));
	json_object_object_add(o, "message", json_object_new_string(buf));
	json_object_object_add(o, "error", e);
	reply_json(rc, code, o);
}

/* Answer 400 for a body that is not JSON. */
static void
reply_body_error(struct reqctx *rc)
{
	reply_error(rc, 400, "InvalidJson", "invalid JSON body: %s",
	    rc->body_err);
}

/* ---- routing ---- */

/* Whether the request's path segments fit a pattern (":x" is any). */
static int
route_match(const char *pattern, struct reqctx *rc)
{
	const char *p = pattern;
	size_t n;
	int i = 0;

	while (*p == '/')
		p++;
	while (*p != '\0') {
		n = strcspn(p, "/");
		if (i >= rc->nseg)
			return 0;
		if (p[0] != ':' && (strlen(rc->seg[i]) != n ||
		    strncmp(rc->seg[i], p, n) != 0))
			return 0;
		i++;
		p += n;
		while (*p == '/')
			p++;
	}
	return i == rc->nseg;
}

/* Find the request's route; notes whether the path exists at all. */
static void
route_find(struct reqctx *rc)
{
	int m, i;

	if (rc->unroutable)
		return;
	m = rc->cmd == EVHTTP_REQ_HEAD ? EVHTTP_REQ_GET : (int)rc->cmd;
	for (i = 0; i < (int)(sizeof routes / sizeof routes[0]); i++) {
		if (!route_match(routes[i].pattern, rc))
			continue;
		rc->path_known = 1;
		if (routes[i].methods & m) {
			rc->route = &routes[i];
			return;
		}
	}
}

/* Run the request's handler, or answer 400 / 404 / 405. */
static void
dispatch(struct reqctx *rc)
{
	char allow[64];
	size_t len;
	int i, m;

	if (rc->bad != NULL) {
		reply_error(rc, 400, "BadRequest", "%s", rc->bad);
		return;
	}
	if (rc->route != NULL) {
		rc->route->fn(rc);
		return;
	}
	if (!rc->path_known) {
		reply_error(rc, 404, "NotFound", "no such path: %s %s",
		    rc->method, rc->path != NULL ? rc->path : "?");
		return;
	}
	allow[0] = '\0';
	m = 0;
	for (i = 0; i < (int)(sizeof routes / sizeof routes[0]); i++)
		if (route_match(routes[i].pattern, rc))
			m |= routes[i].methods;
	snprintf(allow, sizeof allow, "%s%s%s%s", (m & M_GET) ? "GET, HEAD, " :
	    "", (m & M_POST) ? "POST, " : "", (m & M_PUT) ? "PUT, " : "",
	    (m & M_DELETE) ? "DELETE, " : "");
	if ((len = strlen(allow)) >= 2)
		allow[len - 2] = '\0';
	add_header(rc, "Allow", "%s", allow);
	reply_error(rc, 405, "MethodNotAllowed", "%s not allowed on %s",
	    rc->method, rc->path);
}

/* Check the bearer token when one is required; answers 401 if wrong. */
static int
auth_ok(struct reqctx *rc)
{
	const char *h;

	if (svc.bearer == NULL)
		return 1;
	h = evhttp_find_header(evhttp_request_get_input_headers(rc->req),
	    "Authorization");
	if (h != NULL && strncasecmp(h, "Bearer ", 7) == 0 &&
	    strcmp(h + 7, svc.bearer) == 0)
		return 1;
	add_header(rc, "WWW-Authenticate", "Bearer realm=\"testservice\"");
	reply_error(rc, 401, "Unauthorized", h == NULL ?
	    "missing Authorization header" : "wrong bearer token");
	return 0;
}

/* Fault, then authentication, then the handler; frees rc. */
static void
request_finish(struct reqctx *rc)
{
	if (rc->fault != NULL && fault_apply(rc))
		goto done;
	if (!auth_ok(rc))
		goto done;
	dispatch(rc);
done:
	if (rc->req != NULL)	/* a handler forgot to answer */
		reply_error(rc, 500, "InternalError", "no reply");
	reqctx_free(rc);
}

/* The end of a fault's delay (or the deferral of a raw fault). */
static void
delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct reqctx *rc = arg;

	(void)fd;
	(void)what;
	TAILQ_REMOVE(&svc.delayed, rc, entry);
	if (evhttp_request_get_connection(rc->req) == NULL) {
		/*
		 * The client went away; evhttp detached the request.  Raw
		 * faults have no connection left; anything else still runs
		 * (a create happens even though its answer is lost).
		 */
		if (fault_is_raw(rc->fault)) {
			evhttp_request_free(rc->req);
			rc->req = NULL;
			reqctx_free(rc);
			return;
		}
	}
	request_finish(rc);
}

/* evhttp's callback for every request. */
static void
on_request(struct evhttp_request *req, void *arg)
{
	struct reqctx *rc;
	struct logent *l;
	struct timeval tv;

	(void)arg;
	rc = reqctx_new(req);
	route_find(rc);
	if (rc->control) {
		dispatch(rc);
		if (rc->req != NULL)
			reply_error(rc, 500, "InternalError", "no reply");
		reqctx_free(rc);
		return;
	}
	log_record(rc);
	if (rc->bad == NULL && (rc->fault = fault_take(rc)) != NULL) {
		if ((l = log_find(rc->logseq)) != NULL)
			l->fault = fault_kind(rc->fault);
		if (rc->fault->delay_ms > 0 || fault_is_raw(rc->fault)) {
			/* raw faults too run from the loop, not from evhttp */
			tv.tv_sec = rc->fault->delay_ms / 1000;
			tv.tv_usec = (rc->fault->delay_ms % 1000) * 1000;
			rc->timer = evtimer_new(svc.base, delay_cb, rc);
			if (rc->timer == NULL)
				fatalx("evtimer_new failed");
			evtimer_add(rc->timer, &tv);
			TAILQ_INSERT_TAIL(&svc.delayed, rc, entry);
			return;
		}
	}
	request_finish(rc);
}

/* ---- API 1: PollExecutor ---- */

/* The task named by a path segment; answers 404 and returns NULL if none. */
static struct task *
id_task(struct reqctx *rc, const char *s, uint64_t *id)
{
	struct task *t;

	if (parse_id(s, id) == -1 || (t = task_get(*id)) == NULL) {
		reply_error(rc, 404, "NotFound", "no such task: %s", s);
		return NULL;
	}
	return t;
}

/* POST /object/:id/publish and POST /tasks. */
static void
api1_create(struct reqctx *rc, const char *object)
{
	struct sment *e;
	struct spec sp;
	struct task *t;
	json_object *o, *jv;
	const char *key, *sv;
	char err[128];
	uint64_t id;
	int rep, code = 201;

	if (body_parse(rc) == -1) {
		reply_body_error(rc);
		return;
	}
	if (object == NULL && opt_find(rc, "object", &jv, &sv)) {
		if (jv != NULL && !json_object_is_type(jv, json_type_string)) {
			reply_error(rc, 400, "BadRequest",
			    "bad value for object");
			return;
		}
		object = jv != NULL ? json_object_get_string(jv) : sv;
	}
	key = idem_key(rc, &rep);
	if (key != NULL && (e = smap_find(&svc.idem, key)) != NULL) {
		id = e->v.u;
		t = task_get(id);
		if (t == NULL || t->kind != KIND_TASK ||
		    (t->object == NULL) != (object == NULL) ||
		    (object != NULL && strcmp(t->object, object) != 0)) {
			reply_error(rc, 422, "IdempotencyKeyReused",
			    "key %s was used for a different request", key);
			return;
		}
		code = 200;
		add_header(rc, "Idempotent-Replayed", "true");
		if (rep)
			add_header(rc, "Repeatability-Result", "accepted");
	} else {
		if (spec_parse(rc, KIND_TASK, &sp, err, sizeof err) == -1) {
			reply_error(rc, 400, "BadRequest", "%s", err);
			return;
		}
		if ((id = task_create(&sp, KIND_TASK, object)) == 0) {
			reply_error(rc, 507, "TableFull",
			    "task table full (%" PRIu64 " tasks)",
			    svc.max_tasks);
			return;
		}
		if (key != NULL)
			smap_get(&svc.idem, key, NULL)->v.u = id;
	}
	o = json_object_new_object();
	json_object_object_add(o, "task_id", json_object_new_int64(
	    (int64_t)id));
	add_header(rc, "Location", "/tasks/%" PRIu64, id);
	reply_json(rc, code, o);
}

/* POST /object/:id/publish */
static void
h_publish(struct reqctx *rc)
{
	api1_create(rc, rc->seg[1]);
}

/* POST /tasks */
static void
h_task_create(struct reqctx *rc)
{
	api1_create(rc, NULL);
}

/* GET /tasks/:id */
static void
h_task_get(struct reqctx *rc)
{
	struct task *t;
	int64_t now = now_ms();
	uint64_t id;

	if ((t = id_task(rc, rc->seg[1], &id)) == NULL)
		return;
	task_resolve(t, now);
	if (t->state == TS_RUNNING && t->retry_after >= 0)
		add_header(rc, "Retry-After", "%d", (int)t->retry_after);
	reply_json(rc, 200, task_json(id, t, now));
}

/* DELETE /tasks/:id: cancel a running, cancellable task. */
static void
h_task_cancel(struct reqctx *rc)
{
	struct task *t;
	json_object *o;
	int64_t now = now_ms();
	uint64_t id;

	if ((t = id_task(rc, rc->seg[1], &id)) == NULL)
		return;
	task_resolve(t, now);
	if (t->state != TS_RUNNING) {
		reply_error(rc, 409, "Conflict", "task %" PRIu64
		    " already finished (%s)", id, state_names[t->state]);
		return;
	}
	if (t->uncancellable) {
		reply_error(rc, 409, "Conflict", "task %" PRIu64
		    " cannot be cancelled", id);
		return;
	}
	t->state = TS_CANCELLED;
	t->ended = now;
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64((int64_t)id));
	json_object_object_add(o, "state", json_object_new_string(
	    state_names[TS_CANCELLED]));
	reply_json(rc, 200, o);
}

/* Append the ids in one search value (number, string, "1,2,3"). */
static int
search_collect(struct reqctx *rc, json_object *jv, uint64_t **ids,
    size_t *n, size_t *cap)
{
	const char *s;
	char *copy, *p, *tok;
	uint64_t id;
	int ret = 0;

	(void)rc;
	if (jv != NULL && json_object_is_type(jv, json_type_int)) {
		if (json_object_get_int64(jv) <= 0)
			return 0;	/* no such task */
		id = (uint64_t)json_object_get_int64(jv);
		goto add;
	}
	if (jv != NULL && !json_object_is_type(jv, json_type_string))
		return -1;
	s = json_object_get_string(jv);
	copy = xstrdup(s);
	for (p = copy; (tok = strsep(&p, ",")) != NULL;) {
		while (*tok == ' ')
			tok++;
		if (*tok == '\0')
			continue;
		if (parse_u64(tok, &id) == -1) {
			ret = -1;
			break;
		}
		if (*n == *cap) {
			*cap = *cap != 0 ? *cap * 2 : 64;
			*ids = xreallocarray(*ids, *cap, sizeof **ids);
		}
		(*ids)[(*n)++] = id;
	}
	free(copy);
	return ret;
add:
	if (*n == *cap) {
		*cap = *cap != 0 ? *cap * 2 : 64;
		*ids = xreallocarray(*ids, *cap, sizeof **ids);
	}
	(*ids)[(*n)++] = id;
	return 0;
}

/*
 * GET /tasks/search?task_id=1&task_id=2,3 and POST /tasks/search
 * {"task_id": [1, 2, 3]}: one item per known id, in request order, once.
 */
static void
h_search(struct reqctx *rc)
{
	struct evkeyval *kv;
	struct task *t;
	json_object *arr, *v, *sv;
	uint64_t *ids = NULL;
	size_t n = 0, cap = 0, i, len;
	int64_t now = now_ms();
	int bad = 0;

	if (rc->cmd == EVHTTP_REQ_POST) {
		if (body_parse(rc) == -1) {
			reply_body_error(rc);
			return;
		}
		if (rc->body == NULL ||
		    !json_object_is_type(rc->body, json_type_object) ||
		    !json_object_object_get_ex(rc->body, "task_id", &v)) {
			reply_error(rc, 400, "BadRequest",
			    "expected {\"task_id\": [...]}");
			return;
		}
		if (v != NULL && json_object_is_type(v, json_type_array)) {
			len = json_object_array_length(v);
			for (i = 0; i < len && !bad; i++) {
				sv = json_object_array_get_idx(v, i);
				if (sv == NULL || search_collect(rc, sv, &ids,
				    &n, &cap) == -1)
					bad = 1;
			}
		} else if (v == NULL || search_collect(rc, v, &ids, &n,
		    &cap) == -1)
			bad = 1;
	} else {
		TAILQ_FOREACH(kv, &rc->query, next) {
			if (strcmp(kv->key, "task_id") != 0)
				continue;
			sv = json_object_new_string(kv->value);
			if (search_collect(rc, sv, &ids, &n, &cap) == -1)
				bad = 1;
			json_object_put(sv);
		}
	}
	if (bad) {
		free(ids);
		reply_error(rc, 400, "BadRequest",
		    "task_id must hold positive integers");
		return;
	}
	if (++svc.mark == 0) {
		for (i = 0; i < svc.ntasks; i++)
			svc.tasks[i].mark = 0;
		svc.mark = 1;
	}
	arr = json_object_new_array_ext((int)(n < 1000000 ? n : 1000000));
	for (i = 0; i < n; i++) {
		if ((t = task_get(ids[i])) == NULL || t->mark == svc.mark)
			continue;
		t->mark = svc.mark;
		json_object_array_add(arr, task_json(ids[i], t, now));
	}
	free(ids);
	reply_json(rc, 200, arr);
}

/* ---- API 2: Azure-style long-running operations ---- */

/* The first answer to a create (also replayed for a repeated key). */
static void
lro_initial(struct reqctx *rc, uint64_t id, struct task *t, int replay)
{
	const char *base = task_base(rc, t);
	char buf[32], *enc;
	int64_t now = now_ms();
	int code, async = t->mode != MODE_STATUS;

	task_resolve(t, now);
	enc = evhttp_encode_uri(t->object);
	if (t->mode == MODE_OPLOC)
		add_header(rc, "Operation-Location", "%s/operations/%" PRIu64,
		    base, id);
	else if (t->mode == MODE_ASYNCOP)
		add_header(rc, "Azure-AsyncOperation",
		    "%s/operations/%" PRIu64, base, id);
	else if (t->mode == MODE_LOCATION)
		add_header(rc, "Location", "%s/results/%" PRIu64, base, id);
	if (t->fsv == FSV_LOCATION &&
	    (t->mode == MODE_OPLOC || t->mode == MODE_ASYNCOP)) {
		if (t->kind == KIND_RESOURCE)
			add_header(rc, "Location", "%s/resources/%s", base,
			    enc != NULL ? enc : "");
		else
			add_header(rc, "Location", "%s/results/%" PRIu64,
			    base, id);
	}
	free(enc);
	if (async && t->state == TS_RUNNING && t->retry_after >= 0)
		add_header(rc, "Retry-After", "%d", (int)t->retry_after);
	if (replay) {
		add_header(rc, "Idempotent-Replayed", "true");
		add_header(rc, "Repeatability-Result", "accepted");
	}

	if (t->kind == KIND_ACTION) {
		if (!async)
			result_reply(rc, id, t);
		else
			reply_send(rc, 202, NULL);
		return;
	}
	/* PUT /resources/:name: 201 creates, 200 updates, 202 Location */
	if (t->mode == MODE_LOCATION)
		code = 202;
	else
		code = t->created_new && !replay ? 201 : 200;
	if (async || t->state == TS_RUNNING)
		reply_json(rc, code, resource_json(t, t->created_new ?
		    "Creating" : "Updating", t->result, buf, sizeof buf));
	else {
		json_object *o;

		o = resource_json(t, t->state == TS_CANCELLED && t->british ?
		    "Cancelled" : state_azure[t->state], t->result, buf,
		    sizeof buf);
		if (t->state == TS_ERROR)
			json_object_object_add(o, "error",
			    task_error_json(id, t));
		reply_json(rc, code, o);
	}
}

/* PUT /resources/:name and POST /resources/:name/actions/build. */
static void
lro_create(struct reqctx *rc, int kind)
{
	struct resource *r = NULL;
	struct sment *e;
	struct spec sp;
	struct task *t;
	const char *key, *name = rc->seg[1];
	char err[128];
	uint64_t id;
	int rep, created;

	if (body_parse(rc) == -1) {
		reply_body_error(rc);
		return;
	}
	key = idem_key(rc, &rep);
	if (key != NULL && (e = smap_find(&svc.idem, key)) != NULL) {
		id = e->v.u;
		t = task_get(id);
		if (t == NULL || t->kind != kind ||
		    strcmp(t->object, name) != 0) {
			reply_error(rc, 422, "IdempotencyKeyReused",
			    "key %s was used for a different request", key);
			return;
		}
		lro_initial(rc, id, t, 1);
		return;
	}
	if (spec_parse(rc, kind, &sp, err, sizeof err) == -1) {
		reply_error(rc, 400, "BadRequest", "%s", err);
		return;
	}
	/* status mode: the answer is final unless a duration was asked */
	if (sp.mode == MODE_STATUS &&
	    (kind == KIND_ACTION || !sp.duration_given))
		sp.duration = 0;
	if ((id = task_create(&sp, kind, name)) == 0) {
		reply_error(rc, 507, "TableFull", "task table full (%" PRIu64
		    " tasks)", svc.max_tasks);
		return;
	}
	t = task_get(id);
	if (kind == KIND_RESOURCE) {
		e = smap_get(&svc.resources, name, &created);
		if (created)
			e->v.p = xcalloc(1, sizeof *r);
		r = e->v.p;
		resource_sync(r, now_ms());
		t->created_new = r->props == NULL;
		r->op = id;
	}
	if (key != NULL)
		smap_get(&svc.idem, key, NULL)->v.u = id;
	lro_initial(rc, id, t, 0);
}

/* PUT /resources/:name */
static void
h_res_put(struct reqctx *rc)
{
	lro_create(rc, KIND_RESOURCE);
}

/* POST /resources/:name/actions/build */
static void
h_action(struct reqctx *rc)
{
	lro_create(rc, KIND_ACTION);
}

/* GET /resources/:name */
static void
h_res_get(struct reqctx *rc)
{
	struct resource *r;
	struct sment *e;
	struct task *t;
	json_object *o;
	const char *state;
	char buf[32];
	int64_t now = now_ms();

	if ((e = smap_find(&svc.resources, rc->seg[1])) == NULL ||
	    (r = e->v.p) == NULL || (t = task_get(r->op)) == NULL) {
		reply_error(rc, 404, "ResourceNotFound",
		    "no such resource: %s", rc->seg[1]);
		return;
	}
	resource_sync(r, now);
	switch (t->state) {
	case TS_RUNNING:
		if (r->props == NULL && t->mode != MODE_STATUS) {
			reply_error(rc, 404, "ResourceNotFound",
			    "resource %s is still being created", rc->seg[1]);
			return;
		}
		state = r->props == NULL ? "Creating" : "Updating";
		break;
	case TS_CANCELLED:
		state = t->british ? "Cancelled" : "Canceled";
		break;
	default:
		state = state_azure[t->state];
		break;
	}
	o = resource_json(t, state, t->state == TS_DONE ? t->result :
	    (r->props != NULL ? r->props : t->result), buf, sizeof buf);
	if (t->state == TS_ERROR)
		json_object_object_add(o, "error", task_error_json(r->op, t));
	reply_json(rc, 200, o);
}

/* GET /operations/N */
static void
h_op_get(struct reqctx *rc)
{
	struct task *t;
	int64_t now = now_ms();
	uint64_t id;

	if ((t = id_task(rc, rc->seg[1], &id)) == NULL)
		return;
	task_resolve(t, now);
	if (t->state == TS_RUNNING && t->retry_after >= 0)
		add_header(rc, "Retry-After", "%d", (int)t->retry_after);
	reply_json(rc, 200, op_json(rc, id, t, now));
}

/* DELETE /operations/N */
static void
h_op_cancel(struct reqctx *rc)
{
	struct task *t;
	char buf[32];
	int64_t now = now_ms();
	uint64_t id;

	if ((t = id_task(rc, rc->seg[1], &id)) == NULL)
		return;
	task_resolve(t, now);
	if (t->state != TS_RUNNING) {
		reply_error(rc, 409, "Conflict", "operation %" PRIu64
		    " already finished (%s)", id,
		    status_name(t, now, buf, sizeof buf));
		return;
	}
	if (t->uncancellable) {
		reply_error(rc, 409, "Conflict", "operation %" PRIu64
		    " cannot be cancelled", id);
		return;
	}
	t->state = TS_CANCELLED;
	t->ended = now;
	reply_json(rc, 200, op_json(rc, id, t, now));
}

/* The Location-polling answer for a task (GET /results/N). */
static void
result_reply(struct reqctx *rc, uint64_t id, struct task *t)
{
	char buf[32];
	int64_t now = now_ms();

	task_resolve(t, now);
	switch (t->state) {
	case TS_RUNNING:
		if (t->retry_after >= 0)
			add_header(rc, "Retry-After", "%d",
			    (int)t->retry_after);
		add_header(rc, "Location", "%s/results/%" PRIu64,
		    task_base(rc, t), id);
		reply_send(rc, 202, NULL);
		return;
	case TS_DONE:
		if (t->final_status == 204) {
			reply_send(rc, 204, NULL);
			return;
		}
		if (t->kind == KIND_RESOURCE)
			reply_json(rc, t->final_status, resource_json(t,
			    "Succeeded", t->result, buf, sizeof buf));
		else
			reply_json(rc, t->final_status, result_body(id, t));
		return;
	case TS_ERROR:
		{
			json_object *o = json_object_new_object(), *e;

			e = task_error_json(id, t);
			json_object_object_add(o, "message", json_object_get(
			    json_object_object_get(e, "message")));
			json_object_object_add(o, "error", e);
			reply_json(rc, 500, o);
		}
		return;
	default:
		reply_error(rc, 500, "Canceled", "operation %" PRIu64
		    " was cancelled", id);
		return;
	}
}

/* GET /results/N */
static void
h_result_get(struct reqctx *rc)
{
	struct task *t;
	uint64_t id;

	if ((t = id_task(rc, rc->seg[1], &id)) == NULL)
		return;
	result_reply(rc, id, t);
}

/* ---- control ---- */

/* GET /_control/health */
static void
h_ctl_health(struct reqctx *rc)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "status", json_object_new_string("ok"));
	json_object_object_add(o, "port", json_object_new_int(svc.port));
	json_object_object_add(o, "pid", json_object_new_int(
	    (int)getpid()));
	reply_json(rc, 200, o);
}

/* POST /_control/reset: back to the state at start-up. */
static void
h_ctl_reset(struct reqctx *rc)
{
	json_object *o = json_object_new_object();

	fault_clear_all();
	log_reset();
	task_clear_all();
	free(svc.bearer);
	svc.bearer = NULL;
	svc.clock_offset = 0;
	json_object_object_add(o, "reset", json_object_new_boolean(1));
	reply_json(rc, 200, o);
}

/* GET /_control/faults: the faults and how often they hit. */
static void
h_ctl_faults_get(struct reqctx *rc)
{
	json_object *arr = json_object_new_array(), *o, *m;
	struct fault *f;

	TAILQ_FOREACH(f, &svc.faults, entry) {
		o = json_object_new_object();
		m = json_object_new_object();
		json_object_object_add(o, "id", json_object_new_int64(
		    (int64_t)f->id));
		json_object_object_add(m, "method", f->method != NULL ?
		    json_object_new_string(f->method) : NULL);
		json_object_object_add(m, "path_prefix", f->prefix != NULL ?
		    json_object_new_string(f->prefix) : NULL);
		json_object_object_add(o, "match", m);
		json_object_object_add(o, "count_left", f->left >= 0 ?
		    json_object_new_int64(f->left) : NULL);
		json_object_object_add(o, "hits", json_object_new_int64(
		    (int64_t)f->hits));
		json_object_object_add(o, "kind", json_object_new_string(
		    fault_kind(f)));
		json_object_object_add(o, "fault", json_object_get(f->spec));
		json_object_array_add(arr, o);
	}
	reply_json(rc, 200, arr);
}

/* POST /_control/faults: add a fault at the end of the list. */
static void
h_ctl_faults_post(struct reqctx *rc)
{
	struct fault *f;
	json_object *o;
	char err[160];

	if (body_parse(rc) == -1) {
		reply_body_error(rc);
		return;
	}
	if (svc.nfaults >= MAX_FAULTS) {
		reply_error(rc, 507, "TooManyFaults", "at most %d faults",
		    MAX_FAULTS);
		return;
	}
	if ((f = fault_parse(rc->body, err, sizeof err)) == NULL) {
		reply_error(rc, 400, "BadFault", "%s", err);
		return;
	}
	f->id = ++svc.fault_seq;
	TAILQ_INSERT_TAIL(&svc.faults, f, entry);
	svc.nfaults++;
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(
	    (int64_t)f->id));
	json_object_object_add(o, "kind", json_object_new_string(
	    fault_kind(f)));
	reply_json(rc, 201, o);
}

/* DELETE /_control/faults */
static void
h_ctl_faults_delete(struct reqctx *rc)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "cleared", json_object_new_int64(
	    (int64_t)svc.nfaults));
	fault_clear_all();
	reply_json(rc, 200, o);
}

/* DELETE /_control/faults/:id */
static void
h_ctl_fault_delete(struct reqctx *rc)
{
	struct fault *f;
	uint64_t id;

	if (parse_id(rc->seg[2], &id) == 0) {
		TAILQ_FOREACH(f, &svc.faults, entry) {
			if (f->id != id)
				continue;
			TAILQ_REMOVE(&svc.faults, f, entry);
			svc.nfaults--;
			fault_unref(f);
			reply_json(rc, 200, json_object_new_object());
			return;
		}
	}
	reply_error(rc, 404, "NotFound", "no such fault: %s", rc->seg[2]);
}

/* GET /_control/requests: counts and the last requests. */
static void
h_ctl_requests_get(struct reqctx *rc)
{
	json_object *o = json_object_new_object(), *routes_o, *vers, *arr;
	struct sment *e;
	struct logent *l;
	uint64_t seq, first;
	size_t i;

	routes_o = json_object_new_object();
	for (i = 0; i < svc.by_route.nb; i++)
		for (e = svc.by_route.b[i]; e != NULL; e = e->next)
			json_object_object_add(routes_o, e->key,
			    json_object_new_int64((int64_t)e->v.u));
	vers = json_object_new_object();
	for (i = 0; i < svc.by_version.nb; i++)
		for (e = svc.by_version.b[i]; e != NULL; e = e->next)
			json_object_object_add(vers, e->key,
			    json_object_new_int64((int64_t)e->v.u));
	arr = json_object_new_array();
	first = svc.req_seq >= RECENT_MAX ? svc.req_seq - RECENT_MAX + 1 : 1;
	for (seq = first; seq <= svc.req_seq; seq++)
		if ((l = log_find(seq)) != NULL)
			json_object_array_add(arr, logent_json(l));
	json_object_object_add(o, "total", json_object_new_int64(
	    (int64_t)svc.req_total));
	json_object_object_add(o, "by_route", routes_o);
	json_object_object_add(o, "by_version", vers);
	json_object_object_add(o, "recent", arr);
	reply_json(rc, 200, o);
}

/* DELETE /_control/requests */
static void
h_ctl_requests_delete(struct reqctx *rc)
{
	log_reset();
	reply_json(rc, 200, json_object_new_object());
}

/* GET /_control/tasks: a summary of the table. */
static void
h_ctl_tasks_get(struct reqctx *rc)
{
	json_object *o = json_object_new_object(), *st, *kd;
	uint64_t nstate[TS_COUNT] = { 0 }, nkind[KIND_COUNT] = { 0 };
	int64_t now = now_ms(), c0 = 0, c1 = 0, d1 = 0;
	size_t i;

	for (i = 0; i < svc.ntasks; i++) {
		task_resolve(&svc.tasks[i], now);
		nstate[svc.tasks[i].state]++;
		nkind[svc.tasks[i].kind]++;
		/* The span of the table, for benchmarks: first and last
		 * creation, last due time. */
		if (i == 0 || svc.tasks[i].created < c0)
			c0 = svc.tasks[i].created;
		if (i == 0 || svc.tasks[i].created > c1)
			c1 = svc.tasks[i].created;
		if (i == 0 || svc.tasks[i].due > d1)
			d1 = svc.tasks[i].due;
	}
	st = json_object_new_object();
	for (i = 0; i < TS_COUNT; i++)
		json_object_object_add(st, state_names[i],
		    json_object_new_int64((int64_t)nstate[i]));
	kd = json_object_new_object();
	for (i = 0; i < KIND_COUNT; i++)
		json_object_object_add(kd, kind_names[i],
		    json_object_new_int64((int64_t)nkind[i]));
	json_object_object_add(o, "count", json_object_new_int64(
	    (int64_t)svc.ntasks));
	json_object_object_add(o, "by_state", st);
	json_object_object_add(o, "by_kind", kd);
	json_object_object_add(o, "max_tasks", json_object_new_int64(
	    (int64_t)svc.max_tasks));
	json_object_object_add(o, "resources", json_object_new_int64(
	    (int64_t)svc.resources.n));
	json_object_object_add(o, "idempotency_keys", json_object_new_int64(
	    (int64_t)svc.idem.n));
	if (svc.ntasks > 0) {
		json_object_object_add(o, "first_created_ms",
		    json_object_new_int64(c0));
		json_object_object_add(o, "last_created_ms",
		    json_object_new_int64(c1));
		json_object_object_add(o, "last_due_ms",
		    json_object_new_int64(d1));
	}
	json_object_object_add(o, "now_ms", json_object_new_int64(now));
	reply_json(rc, 200, o);
}

/* DELETE /_control/tasks: empty the table; ids restart at 1. */
static void
h_ctl_tasks_delete(struct reqctx *rc)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "cleared", json_object_new_int64(
	    (int64_t)svc.ntasks));
	task_clear_all();
	reply_json(rc, 200, o);
}

/*
 * POST /_control/tasks: create many API 1 tasks at once, for the scale
 * benchmark: {"count": N, "duration_ms": D} (D as for POST /tasks);
 * answers {"first": ID, "last": ID}.
 */
static void
h_ctl_tasks_post(struct reqctx *rc)
{
	struct spec sp;
	json_object *o;
	int64_t count = 0;
	uint64_t id, first = 0, last = 0;

	if (body_parse(rc) == -1) {
		reply_body_error(rc);
		return;
	}
	memset(&sp, 0, sizeof sp);
	sp.duration = svc.default_duration;
	sp.outcome = TS_DONE;
	sp.cancellable = 1;
	sp.retry_after = -1;
	sp.final_status = 200;
	sp.mode = MODE_OPLOC;
	sp.fsv = FSV_DEFAULT;
	sp.scase = CASE_PASCAL;
	if (opt_int(rc, "count", 1, 10000000, &count) != 1 ||
	    opt_int(rc, "duration_ms", 0, MAX_DURATION, &sp.duration) == -1) {
		reply_error(rc, 400, "bad_request", "expected {\"count\": 1.."
		    "10000000, \"duration_ms\": N}");
		return;
	}
	while (count-- > 0) {
		if ((id = task_create(&sp, KIND_TASK, NULL)) == 0) {
			reply_error(rc, 507, "too_many_tasks",
			    "the task table is full (-m)");
			return;
		}
		if (first == 0)
			first = id;
		last = id;
	}
	o = json_object_new_object();
	json_object_object_add(o, "first", json_object_new_int64((int64_t)first));
	json_object_object_add(o, "last", json_object_new_int64((int64_t)last));
	reply_json(rc, 200, o);
}

/* Everything known about one task. */
static void
h_ctl_task_get(struct reqctx *rc)
{
	struct task *t;
	json_object *o;
	char buf[32];
	int64_t now = now_ms();
	uint64_t id;

	if ((t = id_task(rc, rc->seg[2], &id)) == NULL)
		return;
	o = task_json(id, t, now);
	json_object_object_add(o, "kind", json_object_new_string(
	    kind_names[t->kind]));
	json_object_object_add(o, "azure_status", json_object_new_string(
	    status_name(t, now, buf, sizeof buf)));
	json_object_object_add(o, "mode", json_object_new_string(
	    mode_names[t->mode]));
	json_object_object_add(o, "final_state_via", json_object_new_string(
	    fsv_names[t->fsv]));
	json_object_object_add(o, "outcome", json_object_new_string(
	    state_names[t->outcome]));
	json_object_object_add(o, "cancellable", json_object_new_boolean(
	    !t->uncancellable));
	json_object_object_add(o, "created_ms", json_object_new_int64(
	    t->created));
	json_object_object_add(o, "due_ms", json_object_new_int64(t->due));
	json_object_object_add(o, "ended_ms", t->state != TS_RUNNING ?
	    json_object_new_int64(t->ended) : NULL);
	json_object_object_add(o, "now_ms", json_object_new_int64(now));
	reply_json(rc, 200, o);
}

/* POST /_control/tasks/:id: force an outcome (or restart the task). */
static void
h_ctl_task_post(struct reqctx *rc)
{
	struct task *t;
	json_object *jv;
	const char *state, *s;
	int64_t now = now_ms(), dur;
	uint64_t id;
	int i, r, o;

	if ((t = id_task(rc, rc->seg[2], &id)) == NULL)
		return;
	if (body_parse(rc) == -1) {
		reply_body_error(rc);
		return;
	}
	if (opt_str(rc, "state", &state) != 1 ||
	    (i = name_lookup(state_names, TS_COUNT, state)) == -1) {
		reply_error(rc, 400, "BadRequest", "state must be one of "
		    "running, done, error, cancelled");
		return;
	}
	if ((r = opt_int(rc, "duration_ms", 0, MAX_DURATION, &dur)) == -1) {
		reply_error(rc, 400, "BadRequest", "bad value for duration_ms");
		return;
	}
	o = t->outcome;
	if (opt_outcome(rc, &o) == -1) {
		reply_error(rc, 400, "BadRequest", "bad value for outcome");
		return;
	}
	task_resolve(t, now);
	if (opt_find(rc, "result", &jv, &s) && jv != NULL) {
		if (t->kind == KIND_RESOURCE &&
		    !json_object_is_type(jv, json_type_object)) {
			reply_error(rc, 400, "BadRequest",
			    "a resource's result holds its properties: "
			    "an object");
			return;
		}
		json_object_put(t->result);
		t->result = json_object_get(jv);
	}
	if (opt_str(rc, "message", &s) == 1) {
		free(t->message);
		t->message = xstrdup(s);
	}
	if (opt_str(rc, "code", &s) == 1) {
		free(t->code);
		t->code = xstrdup(s);
	}
	if (i == TS_RUNNING) {
		t->outcome = (uint8_t)o;
		t->state = TS_RUNNING;
		t->created = now;
		t->due = now + (r == 1 ? dur : svc.default_duration);
		task_resolve(t, now);
	} else {
		t->state = (uint8_t)i;
		t->outcome = (uint8_t)i;
		t->ended = now;
	}
	reply_json(rc, 200, task_json(id, t, now));
}

/* GET /_control/clock */
static void
h_ctl_clock_get(struct reqctx *rc)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "now_ms", json_object_new_int64(now_ms()));
	json_object_object_add(o, "offset_ms", json_object_new_int64(
	    svc.clock_offset));
	reply_json(rc, 200, o);
}

/* POST /_control/clock {"advance_ms": N}: move the service clock on. */
static void
h_ctl_clock_post(struct reqctx *rc)
{
	int64_t n;

	if (body_parse(rc) == -1) {
		reply_body_error(rc);
		return;
	}
	if (opt_int(rc, "advance_ms", 0, MAX_DURATION * 100, &n) != 1) {
		reply_error(rc, 400, "BadRequest", "expected {\"advance_ms\": "
		    "N} with N >= 0");
		return;
	}
	svc.clock_offset += n;
	h_ctl_clock_get(rc);
}

/* GET /_control/auth */
static void
h_ctl_auth_get(struct reqctx *rc)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "required", json_object_new_boolean(
	    svc.bearer != NULL));
	reply_json(rc, 200, o);
}

/* POST /_control/auth {"bearer": "secret"} or {"bearer": null}. */
static void
h_ctl_auth_post(struct reqctx *rc)
{
	json_object *v;

	if (body_parse(rc) == -1) {
		reply_body_error(rc);
		return;
	}
	if (rc->body == NULL ||
	    !json_object_is_type(rc->body, json_type_object) ||
	    !json_object_object_get_ex(rc->body, "bearer", &v) ||
	    (v != NULL && (!json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) == 0))) {
		reply_error(rc, 400, "BadRequest", "expected {\"bearer\": "
		    "\"token\"} or {\"bearer\": null}");
		return;
	}
	free(svc.bearer);
	svc.bearer = v != NULL ? xstrdup(json_object_get_string(v)) : NULL;
	h_ctl_auth_get(rc);
}

/* ---- main ---- */

/* SIGTERM, SIGINT: leave the loop; main() cleans up. */
static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	log_debug("signal %d, stopping", (int)sig);
	event_base_loopexit(svc.base, NULL);
}

/* Write "PORT\n" to path atomically (path.tmp, then rename). */
static void
write_portfile(const char *path, int port)
{
	char *tmp = xasprintf("%s.tmp", path);
	FILE *f;

	if ((f = fopen(tmp, "w")) == NULL)
		fatalx("%s: %s", tmp, strerror(errno));
	fprintf(f, "%d\n", port);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || fclose(f) != 0)
		fatalx("%s: %s", tmp, strerror(errno));
	if (rename(tmp, path) == -1)
		fatalx("rename %s: %s", path, strerror(errno));
	free(tmp);
}

/* Free everything, so that valgrind sees no leak at exit. */
static void
cleanup(void)
{
	struct reqctx *rc;
	struct rawconn *raw;

	while ((rc = TAILQ_FIRST(&svc.delayed)) != NULL) {
		TAILQ_REMOVE(&svc.delayed, rc, entry);
		/* attached requests go with their connection below */
		if (rc->req != NULL &&
		    evhttp_request_get_connection(rc->req) == NULL)
			evhttp_request_free(rc->req);
		reqctx_free(rc);
	}
	while ((raw = TAILQ_FIRST(&svc.raws)) != NULL) {
		raw->rst = 0;
		raw_close(raw);
	}
	if (svc.http != NULL)
		evhttp_free(svc.http);
	SSL_CTX_free(svc.tls);
	fault_clear_all();
	log_reset();
	task_clear_all();
	free(svc.bearer);
	if (svc.sigterm != NULL)
		event_free(svc.sigterm);
	if (svc.sigint != NULL)
		event_free(svc.sigint);
	if (svc.base != NULL)
		event_base_free(svc.base);
	libevent_global_shutdown();
}

/* Errors from OpenSSL's queue, for a fatal message. */
static const char *
tls_error(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "unknown error";
	ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	return buf;
}

/*
 * HTTPS with CERT:KEY (PEM).  With a client CA every connection must present
 * a certificate it signed: the handshake fails otherwise, before evhttp sees
 * a request, just as a real service behind mutual TLS would behave.
 */
static void
tls_setup(const char *arg, const char *client_ca)
{
	char *cert, *key;
	STACK_OF(X509_NAME) *names;

	cert = xstrdup(arg);
	if ((key = strchr(cert, ':')) == NULL)
		fatalx("-T wants CERT.pem:KEY.pem");
	*key++ = '\0';
	if ((svc.tls = SSL_CTX_new(TLS_server_method())) == NULL)
		fatalx("SSL_CTX_new: %s", tls_error());
	if (SSL_CTX_use_certificate_chain_file(svc.tls, cert) != 1)
		fatalx("%s: %s", cert, tls_error());
	if (SSL_CTX_use_PrivateKey_file(svc.tls, key, SSL_FILETYPE_PEM) != 1)
		fatalx("%s: %s", key, tls_error());
	if (SSL_CTX_check_private_key(svc.tls) != 1)
		fatalx("%s: %s", key, tls_error());
	if (client_ca != NULL) {
		if (SSL_CTX_load_verify_locations(svc.tls, client_ca,
		    NULL) != 1 ||
		    (names = SSL_load_client_CA_file(client_ca)) == NULL)
			fatalx("%s: %s", client_ca, tls_error());
		SSL_CTX_set_client_CA_list(svc.tls, names);
		SSL_CTX_set_verify(svc.tls, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	free(cert);
}

/* evhttp's bufferevent for a new connection: TLS on the accepted socket. */
static struct bufferevent *
tls_bev(struct event_base *base, void *arg)
{
	struct bufferevent *bev;
	SSL *ssl;

	(void)arg;
	if ((ssl = SSL_new(svc.tls)) == NULL)
		return NULL;
	/* evhttp sets the socket later; CLOSE_ON_FREE frees ssl too. */
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/* Clients often close without close_notify; that is no error. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static void
usage(void)
{
	fprintf(stderr, "usage: testservice [-v] [-a addr] [-C client_ca.pem] "
	    "[-d duration_ms] [-m max_tasks] [-P portfile] [-p port] "
	    "[-T cert.pem:key.pem]\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct evhttp_bound_socket *bound;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof ss;
	const char *portfile = NULL, *tls = NULL, *client_ca = NULL;
	uint64_t u;
	int ch, port = 0;

	svc.addr = "127.0.0.1";
	svc.default_duration = 2000;
	svc.max_tasks = DEF_MAX_TASKS;
	while ((ch = getopt(argc, argv, "a:C:d:hm:P:p:T:v")) != -1) {
		switch (ch) {
		case 'a':
			svc.addr = optarg;
			break;
		case 'C':
			client_ca = optarg;
			break;
		case 'd':
			if (parse_u64(optarg, &u) == -1 || u > MAX_DURATION)
				fatalx("bad duration: %s", optarg);
			svc.default_duration = (int64_t)u;
			break;
		case 'm':
			if (parse_id(optarg, &u) == -1 || u > 100000000)
				fatalx("bad task cap: %s", optarg);
			svc.max_tasks = u;
			break;
		case 'P':
			portfile = optarg;
			break;
		case 'p':
			if (parse_u64(optarg, &u) == -1 || u > 65535)
				fatalx("bad port: %s", optarg);
			port = (int)u;
			break;
		case 'T':
			tls = optarg;
			break;
		case 'v':
			svc.verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || (client_ca != NULL && tls == NULL))
		usage();

	signal(SIGPIPE, SIG_IGN);
	memset(filler, 'x', sizeof filler);
	svc.started = mono_ms();
	TAILQ_INIT(&svc.faults);
	TAILQ_INIT(&svc.delayed);
	TAILQ_INIT(&svc.raws);

	if ((svc.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if ((svc.http = evhttp_new(svc.base)) == NULL)
		fatalx("evhttp_new failed");
	evhttp_set_max_body_size(svc.http, MAX_BODY);
	evhttp_set_max_headers_size(svc.http, MAX_HEADERS);
	evhttp_set_timeout(svc.http, IDLE_TIMEOUT);
	evhttp_set_allowed_methods(svc.http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD);
	evhttp_set_default_content_type(svc.http, NULL);
	evhttp_set_gencb(svc.http, on_request, NULL);
	if (tls != NULL) {
		tls_setup(tls, client_ca);
		evhttp_set_bevcb(svc.http, tls_bev, NULL);
	}
	if ((bound = evhttp_bind_socket_with_handle(svc.http, svc.addr,
	    (ev_uint16_t)port)) == NULL)
		fatalx("cannot listen on %s port %d", svc.addr, port);
	if (getsockname(evhttp_bound_socket_get_fd(bound),
	    (struct sockaddr *)&ss, &sslen) == -1)
		fatalx("getsockname: %s", strerror(errno));
	if (ss.ss_family == AF_INET)
		svc.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else
		svc.port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);

	svc.sigterm = evsignal_new(svc.base, SIGTERM, on_signal, NULL);
	svc.sigint = evsignal_new(svc.base, SIGINT, on_signal, NULL);
	if (svc.sigterm == NULL || svc.sigint == NULL ||
	    evsignal_add(svc.sigterm, NULL) == -1 ||
	    evsignal_add(svc.sigint, NULL) == -1)
		fatalx("cannot set up signal handlers");

	if (portfile != NULL)
		write_portfile(portfile, svc.port);
	printf("%d\n", svc.port);
	fflush(stdout);
	log_debug("listening on %s port %d", svc.addr, svc.port);

	if (event_base_dispatch(svc.base) == -1)
		log_warnx("event loop failed");
	cleanup();
	return 0;
}
