/* SPDX-License-Identifier: ISC */
/* server.c: the Unix socket server: connections, framing, ordered replies.
 *
 * Each connection reads NUL-terminated JSON messages, turns each into a
 * call for the dispatcher (methods.c, through the daemon) and keeps a slot per call in arrival order: replies of
 * the call at the head go straight to the output buffer, replies of later
 * calls wait in their slot until every call before them has finished.
 * Output is written after each loop iteration (server_flush()), each
 * message once the commit epoch of what it reports has settled. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "compat.h"
#include "frame.h"
#include "log.h"
#include "server.h"
#include "xmalloc.h"

#define SERVER_READ_CHUNK (32 * 1024)	/* bytes read per read(2) */
#define SERVER_MSGS_PER_WAKEUP 64	/* fairness between clients */
#define SERVER_OUT_HIGH (4u * 1024 * 1024)	/* stop reading above */
#define SERVER_OUT_LOW (1u * 1024 * 1024)	/* resume below */
#define SERVER_SLOTS_HIGH 4096		/* unanswered calls: stop reading */
#define SERVER_SLOTS_LOW 1024
#define SERVER_CALL_COST 512		/* bytes counted per parked call */
#define SERVER_ACCEPT_PAUSE_MS 500	/* out of descriptors: pause */

struct client;

struct slot {
	TAILQ_ENTRY(slot) entry;
	struct client *cl;
	struct call *call;		/* until its final reply */
	struct evbuffer *held;		/* replies while not at the head */
	uint64_t held_epoch;		/* the newest epoch of those */
	size_t cost;			/* counted in cl->parked */
	int finished;
	int oneway;			/* on cl->oneway: no replies, no order */
};

struct uidconn {
	LIST_ENTRY(uidconn) entry;
	uid_t uid;
	unsigned int count;
};

/* Bytes of a client's fenced output that wait for one epoch. */
struct fence {
	TAILQ_ENTRY(fence) entry;
	uint64_t epoch;
	size_t len;
};

struct client {
	TAILQ_ENTRY(client) entry;
	TAILQ_ENTRY(client) dirty_entry;
	TAILQ_ENTRY(client) fenced_entry;	/* on srv->fenced */
	struct server *srv;
	int fd;
	struct event *ev_read;
	struct event *ev_write;
	struct event *ev_timer;		/* a started message must finish */
	struct event *ev_closed;	/* while not reading: the peer left */
	struct evbuffer *in;
	struct evbuffer *out;
	struct evbuffer *pend;		/* output waiting for its epochs */
	TAILQ_HEAD(fence_list, fence) fences;	/* pend's bytes, oldest first */
	size_t scanned;			/* bytes of in known to hold no NUL */
	struct caller who;
	struct uidconn *uc;
	TAILQ_HEAD(, slot) slots;	/* calls with replies, in order */
	TAILQ_HEAD(, slot) oneway;	/* oneway calls not finished yet */
	unsigned int nslots;		/* both lists */
	unsigned int unfinished;	/* calls of slots not answered yet */
	unsigned int noneway;		/* oneway calls not finished yet */
	size_t held;			/* bytes in the slots' held buffers */
	size_t parked;			/* cost of parked calls */
	struct slot *dispatching;	/* cleared when it finishes at once */
	int dirty;
	int eof;			/* the peer sent EOF */
	int closing;			/* close once out is written */
	int dead;			/* close at the next chance */
	int reading;			/* ev_read is added */
};

struct server {
	struct event_base *base;
	struct server_limits lim;
	server_dispatch_cb dispatch;
	void *dispatch_arg;
	int fd;
	char *path;
	ino_t ino;
	dev_t dev;
	struct event *ev_accept;
	struct event *ev_accept_pause;
	TAILQ_HEAD(, client) clients;
	TAILQ_HEAD(, client) dirty;
	TAILQ_HEAD(, client) fenced;	/* clients with fenced output */
	uint64_t (*epoch_fn)(void *);
	void *epoch_arg;
	uint64_t settled;		/* the newest settled epoch */
	LIST_HEAD(, uidconn) uids;
	unsigned int nclients;
	uint64_t dropped;	/* clients dropped over max_output_buffer */
	int reserve_fd;		/* given up to refuse when out of fds */
	int exhausted;		/* out of fds since the last accept */
	uint64_t accept_pauses;	/* accepting paused for lack of fds */
	int stopping;
	int activated;		/* the socket is systemd's: never unlink it */
};

static void client_read_cb(evutil_socket_t, short, void *);
static void client_write_cb(evutil_socket_t, short, void *);
static void client_timer_cb(evutil_socket_t, short, void *);
static void client_closed_cb(evutil_socket_t, short, void *);
static void client_close(struct client *);
static void client_mark_dirty(struct client *);
static void client_update_reading(struct client *);

struct server *
server_new(struct event_base *base, const struct server_limits *lim,
    server_dispatch_cb dispatch, void *arg)
{
	struct server *srv = xcalloc(1, sizeof *srv);

	srv->base = base;
	srv->lim = *lim;
	srv->dispatch = dispatch;
	srv->dispatch_arg = arg;
	srv->fd = -1;
	/* A descriptor kept in reserve: out of descriptors, it makes room
	 * to accept a waiting client and tell it, instead of leaving it to
	 * time out in the backlog. */
	srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	TAILQ_INIT(&srv->clients);
	TAILQ_INIT(&srv->dirty);
	TAILQ_INIT(&srv->fenced);
	LIST_INIT(&srv->uids);
	return srv;
}

void
server_set_limits(struct server *srv, const struct server_limits *lim)
{
	srv->lim = *lim;
}

unsigned int
server_connections(const struct server *srv)
{
	return srv->nclients;
}

static size_t client_bytes(const struct client *);

/* The soft RLIMIT_NOFILE. */
static uint64_t
server_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 0;
	return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT64_MAX ?
	    INT64_MAX : (uint64_t)rl.rlim_cur;
}

/* The server's part of Stats: what clients hold, drops, accepts. */
void
server_stats(const struct server *srv, json_object *p)
{
	const struct client *cl;
	uint64_t bytes = 0, pending = 0;

	TAILQ_FOREACH(cl, &srv->clients, entry) {
		bytes += client_bytes(cl);
		pending += cl->unfinished + cl->noneway;
	}
	json_object_object_add(p, "client_bytes",
	    json_object_new_int64((int64_t)bytes));
	json_object_object_add(p, "pending_calls",
	    json_object_new_int64((int64_t)pending));
	json_object_object_add(p, "clients_dropped",
	    json_object_new_int64((int64_t)srv->dropped));
	json_object_object_add(p, "accepts_paused", json_object_new_boolean(
	    srv->ev_accept_pause != NULL &&
	    evtimer_pending(srv->ev_accept_pause, NULL)));
	json_object_object_add(p, "accept_pauses",
	    json_object_new_int64((int64_t)srv->accept_pauses));
	json_object_object_add(p, "fd_limit",
	    json_object_new_int64((int64_t)server_fd_limit()));
}

/* Create the missing directories of path's parent (mode 0755). */
static int
server_mkdirs(const char *path, char **cause)
{
	char *dir = xstrdup(path), *p;
	struct stat st;

	if ((p = strrchr(dir, '/')) == NULL || p == dir) {
		free(dir);
		return 0;
	}
	*p = '\0';
	for (p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
			xasprintf(cause, "cannot create directory %s: %s", dir,
			    strerror(errno));
			free(dir);
			return -1;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		xasprintf(cause, "%s is not a directory", dir);
		free(dir);
		return -1;
	}
	/* A directory in a shared place must be ours and not writable by
	 * others, or someone else could swap the socket. */
	if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX)) {
		xasprintf(cause, "%s is writable by everyone", dir);
		free(dir);
		return -1;
	}
	free(dir);
	return 0;
}

static int
server_sockaddr(const char *path, struct sockaddr_un *sun, char **cause)
{
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun->sun_path) {
		xasprintf(cause, "socket path too long (%zu bytes, at most %zu): %s",
		    strlen(path), sizeof sun->sun_path - 1, path);
		return -1;
	}
	strcpy(sun->sun_path, path);
	return 0;
}

/* Is a daemon answering at path?  1 yes, 0 no (stale or absent). */
static int
server_probe(const struct sockaddr_un *sun)
{
	int fd, r;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		return 0;
	r = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	/* EAGAIN: a listener whose backlog is full is still a listener. */
	r = r == 0 || errno == EAGAIN || errno == EINPROGRESS;
	close(fd);
	return r;
}

static void
server_accept_cb(evutil_socket_t fd, short what, void *arg);

int
server_listen(struct server *srv, const char *path, mode_t mode, gid_t group,
    char **cause)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd;

	if (server_sockaddr(path, &sun, cause) == -1)
		return -1;
	if (server_mkdirs(path, cause) == -1)
		return -1;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			xasprintf(cause, "%s exists and is not a socket", path);
			return -1;
		}
		if (server_probe(&sun)) {
			xasprintf(cause, "another pollexd is answering on %s",
			    path);
			return -1;
		}
		log_info("removing stale socket %s", path);
		if (unlink(path) == -1 && errno != ENOENT) {
			xasprintf(cause, "cannot remove stale socket %s: %s",
			    path, strerror(errno));
			return -1;
		}
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1) {
		xasprintf(cause, "socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		umask(old);
		xasprintf(cause, "cannot bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (group != (gid_t)-1 && chown(path, (uid_t)-1, group) == -1) {
		xasprintf(cause, "cannot set the group of %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (chmod(path, mode) == -1) {
		xasprintf(cause, "cannot set the mode of %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (listen(fd, 512) == -1) {
		xasprintf(cause, "listen on %s: %s", path, strerror(errno));
		goto fail;
	}
	if (stat(path, &st) == 0) {
		srv->ino = st.st_ino;
		srv->dev = st.st_dev;
	}
	srv->fd = fd;
	srv->path = xstrdup(path);
	srv->ev_accept = event_new(srv->base, fd, EV_READ | EV_PERSIST,
	    server_accept_cb, srv);
	event_add(srv->ev_accept, NULL);
	return 0;
fail:
	unlink(path);
	close(fd);
	return -1;
}

int
server_adopt(struct server *srv, int fd, char **cause)
{
	struct sockaddr_un sun;
	socklen_t len;
	int type, acc, flags;

	len = sizeof type;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1) {
		xasprintf(cause, "socket activation: descriptor %d is not a "
		    "socket: %s", fd, strerror(errno));
		return -1;
	}
	len = sizeof acc;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == -1)
		acc = 0;
	memset(&sun, 0, sizeof sun);
	len = sizeof sun;
	if (getsockname(fd, (struct sockaddr *)&sun, &len) == -1)
		sun.sun_family = AF_UNSPEC;
	if (type != SOCK_STREAM || !acc || sun.sun_family != AF_UNIX) {
		xasprintf(cause, "socket activation: descriptor %d is not a "
		    "listening Unix stream socket (check ListenStream= in "
		    "pollexd.socket)", fd);
		return -1;
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		xasprintf(cause, "socket activation: descriptor %d: %s", fd,
		    strerror(errno));
		return -1;
	}
	srv->fd = fd;
	srv->activated = 1;
	if (len > offsetof(struct sockaddr_un, sun_path) &&
	    sun.sun_path[0] != '\0')
		srv->path = xstrndup(sun.sun_path, len -
		    offsetof(struct sockaddr_un, sun_path));
	else
		srv->path = xstrdup("(abstract or unnamed socket)");
	srv->ev_accept = event_new(srv->base, fd, EV_READ | EV_PERSIST,
	    server_accept_cb, srv);
	event_add(srv->ev_accept, NULL);
	return 0;
}

const char *
server_path(const struct server *srv)
{
	return srv->path;
}

/* Accept again after a pause (or at once when a client left); the
 * reserve descriptor is taken back when it could not be before. */
static void
server_accept_resume(struct server *srv)
{
	if (srv->ev_accept_pause != NULL)
		evtimer_del(srv->ev_accept_pause);
	if (srv->reserve_fd == -1)
		srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (!srv->stopping && srv->ev_accept != NULL)
		event_add(srv->ev_accept, NULL);
}

static void
server_accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	server_accept_resume(arg);
}

static struct uidconn *
server_uid(struct server *srv, uid_t uid)
{
	struct uidconn *uc;

	LIST_FOREACH(uc, &srv->uids, entry)
		if (uc->uid == uid)
			return uc;
	uc = xcalloc(1, sizeof *uc);
	uc->uid = uid;
	LIST_INSERT_HEAD(&srv->uids, uc, entry);
	return uc;
}

/* Refuse a connection with one error message, written best-effort. */
static void
server_refuse(int fd, enum px_error e, unsigned int limit)
{
	char msg[256];
	int n;

	n = snprintf(msg, sizeof msg,
	    "{\"error\":\"%s\",\"parameters\":{\"limit\":%u}}", px_error_name(e),
	    limit);
	if (n > 0 && (size_t)n < sizeof msg)
		(void)!send(fd, msg, (size_t)n + 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

/*
 * Out of descriptors (errno err): the clients waiting in the backlog are
 * accepted with the reserve descriptor's room and refused at once, one by
 * one, rather than left to time out; then accepting pauses for a while,
 * or until a client leaves.  Logged once until an accept succeeds again.
 */
static void
server_out_of_fds(struct server *srv, int lfd, int err)
{
	struct timeval tv = { 0, SERVER_ACCEPT_PAUSE_MS * 1000 };
	unsigned int n = 0;
	int fd;

	if (srv->reserve_fd != -1) {
		close(srv->reserve_fd);
		srv->reserve_fd = -1;
		while (n < SERVER_MSGS_PER_WAKEUP && (fd = accept4(lfd, NULL,
		    NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
			server_refuse(fd, PX_ERR_TOO_MANY_CONNECTIONS,
			    srv->nclients);
			n++;
		}
		srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (!srv->exhausted) {
		log_warnx("out of file descriptors (%s) with %u connections "
		    "open (limit %llu): refusing new connections and pausing "
		    "accepts until descriptors are free", strerror(err),
		    srv->nclients, (unsigned long long)server_fd_limit());
		srv->exhausted = 1;
	} else
		log_debug("still out of file descriptors: %u connections "
		    "refused", n);
	srv->accept_pauses++;
	event_del(srv->ev_accept);
	if (srv->ev_accept_pause == NULL)
		srv->ev_accept_pause = evtimer_new(srv->base,
		    server_accept_resume_cb, srv);
	evtimer_add(srv->ev_accept_pause, &tv);
}

/* Is the peer in the admin group?  SO_PEERGROUPS has its groups. */
static int
server_peer_in_group(int fd, gid_t primary, gid_t want)
{
	gid_t groups[256];
	socklen_t len = sizeof groups;
	size_t i;

	if (primary == want)
		return 1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == -1)
		return 0;
	for (i = 0; i < len / sizeof groups[0]; i++)
		if (groups[i] == want)
			return 1;
	return 0;
}

static void
server_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct server *srv = arg;
	const struct server_limits *conf = &srv->lim;
	struct client *cl;
	struct ucred cred;
	struct uidconn *uc;
	socklen_t len;
	int fd, i;

	(void)what;
	for (i = 0; i < 64; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE)
				server_out_of_fds(srv, lfd, errno);
			else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		if (srv->exhausted) {
			log_info("accepting connections again (%u open)",
			    srv->nclients);
			srv->exhausted = 0;
		}
		len = sizeof cred;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
			log_warn("SO_PEERCRED");
			close(fd);
			continue;
		}
		if (srv->nclients >= conf->max_connections) {
			log_warnx("refusing a connection from uid %lu: %u "
			    "connections open", (unsigned long)cred.uid,
			    srv->nclients);
			server_refuse(fd, PX_ERR_TOO_MANY_CONNECTIONS,
			    conf->max_connections);
			continue;
		}
		uc = server_uid(srv, cred.uid);
		if (uc->count >= conf->max_connections_per_uid) {
			log_warnx("refusing a connection from uid %lu: it has "
			    "%u open", (unsigned long)cred.uid, uc->count);
			server_refuse(fd, PX_ERR_TOO_MANY_CONNECTIONS,
			    conf->max_connections_per_uid);
			if (uc->count == 0) {
				LIST_REMOVE(uc, entry);
				free(uc);
			}
			continue;
		}
		cl = xcalloc(1, sizeof *cl);
		cl->srv = srv;
		cl->fd = fd;
		cl->who.uid = cred.uid;
		cl->who.gid = cred.gid;
		cl->who.pid = cred.pid;
		cl->who.privileged = cred.uid == 0;
		/* The group was resolved when the configuration loaded:
		 * no NSS lookup (which may block) on the loop. */
		if (!cl->who.privileged && conf->admin_group_set)
			cl->who.privileged = server_peer_in_group(fd, cred.gid,
			    conf->admin_gid);
		cl->uc = uc;
		uc->count++;
		cl->in = evbuffer_new();
		cl->out = evbuffer_new();
		cl->pend = evbuffer_new();
		TAILQ_INIT(&cl->fences);
		TAILQ_INIT(&cl->slots);
		TAILQ_INIT(&cl->oneway);
		cl->ev_read = event_new(srv->base, fd, EV_READ | EV_PERSIST,
		    client_read_cb, cl);
		cl->ev_write = event_new(srv->base, fd, EV_WRITE,
		    client_write_cb, cl);
		cl->ev_timer = evtimer_new(srv->base, client_timer_cb, cl);
		if (event_base_get_features(srv->base) &
		    EV_FEATURE_EARLY_CLOSE)
			cl->ev_closed = event_new(srv->base, fd, EV_CLOSED,
			    client_closed_cb, cl);
		TAILQ_INSERT_TAIL(&srv->clients, cl, entry);
		srv->nclients++;
		client_update_reading(cl);
		log_debug("client %d connected: uid %lu pid %ld", fd,
		    (unsigned long)cred.uid, (long)cred.pid);
	}
}

static void
client_mark_dirty(struct client *cl)
{
	if (cl->dirty)
		return;
	cl->dirty = 1;
	TAILQ_INSERT_TAIL(&cl->srv->dirty, cl, dirty_entry);
}

/*
 * What a client holds, counted against max_output_buffer: unread output,
 * replies held behind an unfinished call, and its parked calls.
 */
static size_t
client_bytes(const struct client *cl)
{
	return evbuffer_get_length(cl->out) + evbuffer_get_length(cl->pend) +
	    cl->held + cl->parked;
}

/* Reading pauses above the high mark and resumes below the low one:
 * 4 and 1 MiB, or half and an eighth of a smaller max_output_buffer. */
static size_t
client_mark(const struct client *cl, int high)
{
	uint64_t cap = cl->srv->lim.max_output_buffer;

	if (high)
		return cap / 2 < SERVER_OUT_HIGH ? (size_t)(cap / 2) :
		    SERVER_OUT_HIGH;
	return cap / 8 < SERVER_OUT_LOW ? (size_t)(cap / 8) : SERVER_OUT_LOW;
}

/* Drop a client that holds more than max_output_buffer. */
static void
client_check_cap(struct client *cl)
{
	uint64_t cap = cl->srv->lim.max_output_buffer;
	size_t n = client_bytes(cl);

	if (cl->dead || n <= cap)
		return;
	log_warnx("client %d (uid %lu): holds %zu bytes (unread replies, "
	    "replies held behind an unfinished call, parked calls), more "
	    "than max_output_buffer %llu: dropping it", cl->fd,
	    (unsigned long)cl->who.uid, n, (unsigned long long)cap);
	cl->dead = 1;
	cl->srv->dropped++;
	client_mark_dirty(cl);
}

/* Read while held bytes and unanswered calls are below their marks. */
static void
client_update_reading(struct client *cl)
{
	size_t n = client_bytes(cl);
	int want;

	if (cl->dead || cl->closing || cl->eof || cl->srv->stopping)
		want = 0;
	else if (cl->reading)
		want = n < client_mark(cl, 1) &&
		    cl->nslots < SERVER_SLOTS_HIGH;
	else
		want = n < client_mark(cl, 0) && cl->nslots < SERVER_SLOTS_LOW;
	if (want && !cl->reading) {
		event_add(cl->ev_read, NULL);
		/* Messages may be waiting in the buffer already. */
		if (evbuffer_get_length(cl->in) > 0)
			event_active(cl->ev_read, EV_READ, 0);
		if (cl->ev_closed != NULL)
			event_del(cl->ev_closed);
	} else if (!want && cl->reading) {
		event_del(cl->ev_read);
		/* The rest of a started message may be waiting unread in the
		 * socket: not reading it is our delay, not the client's.  The
		 * clock starts again when reading resumes (client_process()). */
		evtimer_del(cl->ev_timer);
		/* Paused, not done: a peer that goes away must still be
		 * noticed, or what it holds stays until its calls end. */
		if (cl->ev_closed != NULL && !cl->dead && !cl->closing &&
		    !cl->eof && !cl->srv->stopping)
			event_add(cl->ev_closed, NULL);
	}
	cl->reading = want;
}

void
server_set_epoch_source(struct server *srv, uint64_t (*fn)(void *),
    void *arg)
{
	srv->epoch_fn = fn;
	srv->epoch_arg = arg;
}

static uint64_t
server_epoch(const struct server *srv)
{
	return srv->epoch_fn != NULL ? srv->epoch_fn(srv->epoch_arg) : 0;
}

/* len more bytes of pend wait for epoch (or a later one before them). */
static void
client_fence(struct client *cl, size_t len, uint64_t epoch)
{
	struct fence *f = TAILQ_LAST(&cl->fences, fence_list);

	if (f != NULL && f->epoch >= epoch) {
		f->len += len;
		return;
	}
	if (f == NULL)
		TAILQ_INSERT_TAIL(&cl->srv->fenced, cl, fenced_entry);
	f = xmalloc(sizeof *f);
	f->epoch = epoch;
	f->len = len;
	TAILQ_INSERT_TAIL(&cl->fences, f, entry);
}

/* Does output made at epoch go straight out (nothing waits before it)? */
static int
client_unfenced(const struct client *cl, uint64_t epoch)
{
	return TAILQ_EMPTY(&cl->fences) && epoch <= cl->srv->settled;
}

/*
 * Output for a client, made when epoch was the table's: straight out when
 * that is settled and nothing waits before it, else behind the fence of
 * its epoch (a later message never passes an earlier one).  Takes the
 * bytes of src.
 */
static void
client_emit(struct client *cl, struct evbuffer *src, uint64_t epoch)
{
	size_t len = evbuffer_get_length(src);

	if (client_unfenced(cl, epoch))
		evbuffer_add_buffer(cl->out, src);
	else {
		client_fence(cl, len, epoch);
		evbuffer_add_buffer(cl->pend, src);
	}
}

/* The output of settled epochs goes out. */
static void
client_release(struct client *cl)
{
	struct fence *f;

	while ((f = TAILQ_FIRST(&cl->fences)) != NULL &&
	    f->epoch <= cl->srv->settled) {
		evbuffer_remove_buffer(cl->pend, cl->out, f->len);
		TAILQ_REMOVE(&cl->fences, f, entry);
		free(f);
		client_mark_dirty(cl);
	}
	if (TAILQ_EMPTY(&cl->fences))
		TAILQ_REMOVE(&cl->srv->fenced, cl, fenced_entry);
}

void
server_settled(struct server *srv, uint64_t epoch)
{
	struct client *cl, *next;

	if (epoch > srv->settled)
		srv->settled = epoch;
	TAILQ_FOREACH_SAFE(cl, &srv->fenced, fenced_entry, next)
		client_release(cl);
}

int
server_has_fenced(const struct server *srv)
{
	return !TAILQ_EMPTY(&srv->fenced);
}

/* Move the replies of finished head slots out, in order. */
static void
client_advance(struct client *cl)
{
	struct slot *s;

	while ((s = TAILQ_FIRST(&cl->slots)) != NULL && s->finished) {
		TAILQ_REMOVE(&cl->slots, s, entry);
		cl->nslots--;
		free(s);
		if ((s = TAILQ_FIRST(&cl->slots)) != NULL && s->held != NULL) {
			cl->held -= evbuffer_get_length(s->held);
			client_emit(cl, s->held, s->held_epoch);
			evbuffer_free(s->held);
			s->held = NULL;
		}
	}
	client_mark_dirty(cl);
}

/* The sink of a call: replies go to the output or wait in the slot; a
 * oneway call only ends. */
static void
slot_sink(void *arg, const char *msg, size_t len, int final)
{
	struct slot *s = arg;
	struct client *cl = s->cl;
	struct evbuffer *dst;
	uint64_t epoch;

	if (final && cl->dispatching == s)
		cl->dispatching = NULL;
	if (s->oneway) {
		TAILQ_REMOVE(&cl->oneway, s, entry);
		cl->nslots--;
		cl->noneway--;
		cl->parked -= s->cost;
		free(s);
		client_mark_dirty(cl);
		return;
	}
	epoch = server_epoch(cl->srv);
	if (s == TAILQ_FIRST(&cl->slots)) {
		dst = cl->out;
		if (!client_unfenced(cl, epoch)) {
			client_fence(cl, len + 1, epoch);
			dst = cl->pend;
		}
		evbuffer_add(dst, msg, len);
		evbuffer_add(dst, "", 1);
	} else {
		if (s->held == NULL)
			s->held = evbuffer_new();
		if (epoch > s->held_epoch)
			s->held_epoch = epoch;
		evbuffer_add(s->held, msg, len);
		evbuffer_add(s->held, "", 1);
		cl->held += len + 1;
	}
	if (final) {
		s->finished = 1;
		s->call = NULL;
		cl->unfinished--;
		cl->parked -= s->cost;
		s->cost = 0;
		client_advance(cl);
	} else
		client_mark_dirty(cl);
	client_check_cap(cl);
}

/* Answer a message that is not a call (in order, as a finished slot). */
static void
client_error(struct client *cl, enum px_error e, const char *key,
    json_object *value)
{
	struct slot *s = xcalloc(1, sizeof *s);
	struct call *c;
	json_object *params = json_object_new_object();

	s->cl = cl;
	TAILQ_INSERT_TAIL(&cl->slots, s, entry);
	cl->nslots++;
	cl->unfinished++;
	c = call_new(&cl->who, "", 0, 0, slot_sink, s);
	s->call = c;
	json_object_object_add(params, key, value);
	call_error(c, e, params);
}

/* Turn one complete message into a call. */
static void
client_message(struct client *cl, const char *msg, size_t len)
{
	json_object *obj, *v, *params = NULL;
	const char *why, *method;
	struct slot *s;
	struct call *c;
	int more = 0, oneway = 0;

	if ((obj = frame_parse(msg, len, &why)) == NULL) {
		log_debug("client %d: %s", cl->fd, why);
		client_error(cl, PX_ERR_INVALID_MESSAGE, "reason",
		    json_object_new_string(why));
		return;
	}
	why = NULL;
	if (!json_object_object_get_ex(obj, "method", &v) ||
	    !json_object_is_type(v, json_type_string))
		why = "a call needs \"method\", a string";
	/* A member that is null is absent, as sd-varlink reads it:
	 * varlink-go sends "parameters": null for a call without any. */
	else if (json_object_object_get_ex(obj, "parameters", &params) &&
	    params != NULL && !json_object_is_type(params, json_type_object))
		why = "\"parameters\" must be an object";
	else if (json_object_object_get_ex(obj, "more", &v) && v != NULL &&
	    !json_object_is_type(v, json_type_boolean))
		why = "\"more\" must be true or false";
	else if (json_object_object_get_ex(obj, "oneway", &v) && v != NULL &&
	    !json_object_is_type(v, json_type_boolean))
		why = "\"oneway\" must be true or false";
	else if (json_object_object_get_ex(obj, "upgrade", &v) &&
	    json_object_get_boolean(v))
		why = "\"upgrade\" is not supported";
	if (why == NULL) {
		json_object_object_get_ex(obj, "more", &v);
		more = v != NULL && json_object_get_boolean(v);
		json_object_object_get_ex(obj, "oneway", &v);
		oneway = v != NULL && json_object_get_boolean(v);
		if (more && oneway)
			why = "\"more\" and \"oneway\" exclude each other";
	}
	if (why != NULL) {
		client_error(cl, PX_ERR_INVALID_MESSAGE, "reason",
		    json_object_new_string(why));
		json_object_put(obj);
		return;
	}
	json_object_object_get_ex(obj, "method", &v);
	method = json_object_get_string(v);
	/* Every call has a slot, oneway ones too: what a call holds until
	 * it ends counts against the client and goes with it. */
	s = xcalloc(1, sizeof *s);
	s->cl = cl;
	s->oneway = oneway;
	if (oneway) {
		TAILQ_INSERT_TAIL(&cl->oneway, s, entry);
		cl->noneway++;
	} else {
		TAILQ_INSERT_TAIL(&cl->slots, s, entry);
		cl->unfinished++;
	}
	cl->nslots++;
	c = call_new(&cl->who, method, more, oneway, slot_sink, s);
	s->call = c;
	cl->dispatching = s;
	cl->srv->dispatch(cl->srv->dispatch_arg, c, params);
	if (cl->dispatching == s) {
		/* Parked: it answers later.  What it holds counts. */
		cl->dispatching = NULL;
		s->cost = SERVER_CALL_COST + call_held(c);
		cl->parked += s->cost;
		client_check_cap(cl);
	}
	json_object_put(obj);
}

/* Handle complete messages in the input, up to the fairness limit. */
static void
client_process(struct client *cl)
{
	const struct server_limits *conf = &cl->srv->lim;
	struct evbuffer_ptr pos;
	size_t avail;
	unsigned char *data;
	int n = 0, partial = 0;

	while (!cl->dead && !cl->closing) {
		avail = evbuffer_get_length(cl->in);
		if (avail == 0)
			break;
		/* Too much held or too many unanswered calls:
		 * client_update_reading() resumes once they drain. */
		if (client_bytes(cl) >= client_mark(cl, 1) ||
		    cl->nslots >= SERVER_SLOTS_HIGH)
			break;
		if (n == SERVER_MSGS_PER_WAKEUP) {
			/* Come back in a later iteration, after the others. */
			event_active(cl->ev_read, EV_READ, 0);
			break;
		}
		evbuffer_ptr_set(cl->in, &pos, cl->scanned, EVBUFFER_PTR_SET);
		pos = evbuffer_search(cl->in, "", 1, &pos);
		if (pos.pos < 0) {
			partial = 1;
			cl->scanned = avail;
			if (avail > conf->max_message_size) {
				log_warnx("client %d (uid %lu): message larger "
				    "than %u bytes, closing", cl->fd,
				    (unsigned long)cl->who.uid,
				    conf->max_message_size);
				client_error(cl, PX_ERR_MESSAGE_TOO_LARGE, "limit",
				    json_object_new_int64(conf->max_message_size));
				cl->closing = 1;
			}
			break;
		}
		cl->scanned = 0;
		if ((size_t)pos.pos > conf->max_message_size) {
			log_warnx("client %d (uid %lu): message larger than %u "
			    "bytes, closing", cl->fd, (unsigned long)cl->who.uid,
			    conf->max_message_size);
			client_error(cl, PX_ERR_MESSAGE_TOO_LARGE, "limit",
			    json_object_new_int64(conf->max_message_size));
			cl->closing = 1;
			break;
		}
		data = evbuffer_pullup(cl->in, pos.pos + 1);
		client_message(cl, (const char *)data, (size_t)pos.pos);
		evbuffer_drain(cl->in, (size_t)pos.pos + 1);
		n++;
	}
	/* A started message must be finished in time; whole messages
	 * waiting while reading is paused are not the client's delay. */
	if (partial && !cl->closing) {
		/* Its clock starts with this message: one that followed a
		 * finished message (n > 0) is new, whatever came before. */
		if (n > 0 || !evtimer_pending(cl->ev_timer, NULL)) {
			struct timeval tv;
			tv.tv_sec = (time_t)(conf->message_timeout / 1000);
			tv.tv_usec = (suseconds_t)(conf->message_timeout % 1000) *
			    1000;
			evtimer_add(cl->ev_timer, &tv);
		}
	} else
		evtimer_del(cl->ev_timer);
	if (cl->closing)
		client_mark_dirty(cl);
	client_update_reading(cl);
}

static void
client_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	int n;

	(void)what;
	if (cl->dead || cl->closing)
		return;
	if (cl->reading) {
		n = evbuffer_read(cl->in, fd, SERVER_READ_CHUNK);
		if (n == 0) {
			cl->eof = 1;
			if (evbuffer_get_length(cl->in) > 0 &&
			    evbuffer_search(cl->in, "", 1, NULL).pos < 0) {
				log_debug("client %d: closed in the middle of a "
				    "message", cl->fd);
				client_close(cl);
				return;
			}
		} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
			log_debug("client %d: read: %s", cl->fd, strerror(errno));
			client_close(cl);
			return;
		}
	}
	client_process(cl);
	if (cl->eof && cl->unfinished == 0 && evbuffer_get_length(cl->in) == 0)
		cl->closing = 1;
	if (cl->eof || cl->closing)
		client_mark_dirty(cl);
}

/*
 * The peer shut its side while reading was paused.  Gone for good (the
 * socket hung up both ways): nothing can reach it, so it is closed now
 * and what its calls hold is freed.  A half-close still wants its
 * replies: the read path sees its EOF once reading resumes.
 */
static void
client_closed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	struct pollfd pfd = { fd, 0, 0 };

	(void)what;
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR))) {
		log_debug("client %d (uid %lu): went away while paused",
		    cl->fd, (unsigned long)cl->who.uid);
		client_close(cl);
	}
}

static void
client_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;

	(void)fd;
	(void)what;
	log_warnx("client %d (uid %lu): message not finished within %llums, "
	    "closing", cl->fd, (unsigned long)cl->who.uid,
	    (unsigned long long)cl->srv->lim.message_timeout);
	client_close(cl);
}

/* Write what can be written now; close the client when it is done. */
static void
client_write(struct client *cl)
{
	int n;

	while (evbuffer_get_length(cl->out) > 0) {
		n = evbuffer_write(cl->out, cl->fd);
		if (n > 0)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		log_debug("client %d: write: %s", cl->fd,
		    n < 0 ? strerror(errno) : "closed");
		client_close(cl);
		return;
	}
	if (evbuffer_get_length(cl->out) > 0) {
		event_add(cl->ev_write, NULL);
		client_update_reading(cl);
		return;
	}
	if (!TAILQ_EMPTY(&cl->fences)) {
		/* More to say once its epoch is durable. */
		client_update_reading(cl);
		return;
	}
	if (cl->closing || (cl->eof && cl->unfinished == 0 &&
	    evbuffer_get_length(cl->in) == 0)) {
		client_close(cl);
		return;
	}
	client_update_reading(cl);
}

static void
client_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	client_write(arg);
}

static void
client_close(struct client *cl)
{
	struct server *srv = cl->srv;
	struct slot *s;
	struct fence *f;

	log_debug("client %d (uid %lu) closed", cl->fd,
	    (unsigned long)cl->who.uid);
	/* Unfinished calls are told first, so their handlers let go. */
	while ((s = TAILQ_FIRST(&cl->oneway)) != NULL) {
		TAILQ_REMOVE(&cl->oneway, s, entry);
		call_abort(s->call);
		free(s);
	}
	while ((s = TAILQ_FIRST(&cl->slots)) != NULL) {
		TAILQ_REMOVE(&cl->slots, s, entry);
		if (s->call != NULL)
			call_abort(s->call);
		if (s->held != NULL)
			evbuffer_free(s->held);
		free(s);
	}
	if (cl->dirty)
		TAILQ_REMOVE(&srv->dirty, cl, dirty_entry);
	if (!TAILQ_EMPTY(&cl->fences)) {
		TAILQ_REMOVE(&srv->fenced, cl, fenced_entry);
		while ((f = TAILQ_FIRST(&cl->fences)) != NULL) {
			TAILQ_REMOVE(&cl->fences, f, entry);
			free(f);
		}
	}
	TAILQ_REMOVE(&srv->clients, cl, entry);
	srv->nclients--;
	if (--cl->uc->count == 0) {
		LIST_REMOVE(cl->uc, entry);
		free(cl->uc);
	}
	event_free(cl->ev_read);
	event_free(cl->ev_write);
	event_free(cl->ev_timer);
	if (cl->ev_closed != NULL)
		event_free(cl->ev_closed);
	evbuffer_free(cl->in);
	evbuffer_free(cl->out);
	evbuffer_free(cl->pend);
	close(cl->fd);
	free(cl);
	/* A descriptor is free: accepts paused for lack of them resume. */
	if (srv->ev_accept_pause != NULL &&
	    evtimer_pending(srv->ev_accept_pause, NULL))
		server_accept_resume(srv);
}

void
server_flush(struct server *srv)
{
	struct client *cl;

	while ((cl = TAILQ_FIRST(&srv->dirty)) != NULL) {
		TAILQ_REMOVE(&srv->dirty, cl, dirty_entry);
		cl->dirty = 0;
		if (cl->dead)
			client_close(cl);
		else
			client_write(cl);
	}
}

int
server_has_output(const struct server *srv)
{
	return !TAILQ_EMPTY(&srv->dirty);
}

void
server_stop(struct server *srv)
{
	struct client *cl, *next;
	struct slot *s;

	srv->stopping = 1;
	if (srv->ev_accept != NULL) {
		event_free(srv->ev_accept);
		srv->ev_accept = NULL;
	}
	if (srv->ev_accept_pause != NULL) {
		event_free(srv->ev_accept_pause);
		srv->ev_accept_pause = NULL;
	}
	if (srv->reserve_fd != -1) {
		close(srv->reserve_fd);
		srv->reserve_fd = -1;
	}
	if (srv->fd != -1 && srv->activated) {
		/* systemd's socket: it stays bound and listening, so that
		 * clients queue while we are away; just let go of it. */
		close(srv->fd);
		srv->fd = -1;
	} else if (srv->fd != -1) {
		struct stat st;
		/* Only remove the socket if it is still the one we made. */
		if (stat(srv->path, &st) == 0 && st.st_ino == srv->ino &&
		    st.st_dev == srv->dev)
			unlink(srv->path);
		close(srv->fd);
		srv->fd = -1;
	}
	TAILQ_FOREACH(cl, &srv->clients, entry) {
		/* Answering a call may free slots: look again each time. */
		for (;;) {
			TAILQ_FOREACH(s, &cl->slots, entry)
				if (s->call != NULL)
					break;
			if (s == NULL)
				break;
			call_shutdown(s->call);
		}
		/* A oneway call's end frees its slot. */
		while ((s = TAILQ_FIRST(&cl->oneway)) != NULL)
			call_shutdown(s->call);
		cl->closing = 1;
		client_mark_dirty(cl);
	}
	server_flush(srv);
	/* What could not be written now will not be. */
	TAILQ_FOREACH_SAFE(cl, &srv->clients, entry, next)
		client_close(cl);
}

void
server_free(struct server *srv)
{
	if (srv == NULL)
		return;
	if (!srv->stopping)
		server_stop(srv);
	free(srv->path);
	free(srv);
}
