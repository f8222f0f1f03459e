/* SPDX-License-Identifier: ISC */
/* proto.c: names of errors, states and modes; default socket paths. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"

static const char *const px_error_names[PX_ERR_COUNT] = {
	[PX_ERR_NONE] = "",
#define PX_ERR_NAME(sym, name) [PX_ERR_##sym] = name,
	PX_ERROR_LIST(PX_ERR_NAME)
#undef PX_ERR_NAME
};

static const char *const px_state_names[PX_STATE_COUNT] = {
#define PX_STATE_NAME(sym, name) [PX_STATE_##sym] = name,
	PX_STATE_LIST(PX_STATE_NAME)
#undef PX_STATE_NAME
};

static const char *const px_rw_names[PX_RW_COUNT] = {
#define PX_RW_NAME(sym, name, idl) [PX_RW_##sym] = name,
	PX_RETURN_WHEN_LIST(PX_RW_NAME)
#undef PX_RW_NAME
};

static const char *const px_rw_idl_names[PX_RW_COUNT] = {
#define PX_RW_IDL(sym, name, idl) [PX_RW_##sym] = idl,
	PX_RETURN_WHEN_LIST(PX_RW_IDL)
#undef PX_RW_IDL
};

const char *
px_error_name(enum px_error e)
{
	if ((int)e < 0 || e >= PX_ERR_COUNT)
		return "io.pollex.UnknownError";
	return px_error_names[e];
}

enum px_error
px_error_from_name(const char *name)
{
	int i;

	for (i = 1; i < PX_ERR_COUNT; i++)
		if (strcmp(px_error_names[i], name) == 0)
			return (enum px_error)i;
	return PX_ERR_NONE;
}

const char *
px_state_name(enum px_state s)
{
	if ((int)s < 0 || s >= PX_STATE_COUNT)
		return "unknown";
	return px_state_names[s];
}

int
px_state_from_name(const char *name, enum px_state *out)
{
	int i;

	for (i = 0; i < PX_STATE_COUNT; i++)
		if (strcmp(px_state_names[i], name) == 0) {
			*out = (enum px_state)i;
			return 0;
		}
	return -1;
}

const char *
px_return_when_name(enum px_return_when rw)
{
	if ((int)rw < 0 || rw >= PX_RW_COUNT)
		return "unknown";
	return px_rw_names[rw];
}

const char *
px_return_when_idl_name(enum px_return_when rw)
{
	if ((int)rw < 0 || rw >= PX_RW_COUNT)
		return "unknown";
	return px_rw_idl_names[rw];
}

/* Either spelling: the IDL's (first_completed) or the old one. */
int
px_return_when_from_name(const char *name, enum px_return_when *out)
{
	int i;

	for (i = 0; i < PX_RW_COUNT; i++)
		if (strcmp(px_rw_names[i], name) == 0 ||
		    strcmp(px_rw_idl_names[i], name) == 0) {
			*out = (enum px_return_when)i;
			return 0;
		}
	return -1;
}

static char *
px_fit(char *buf, size_t len, int n)
{
	if (n < 0 || (size_t)n >= len)
		return NULL;
	return buf;
}

/* The per-user socket: $XDG_RUNTIME_DIR/pollex, else /tmp/pollex-UID. */
char *
px_user_socket(char *buf, size_t len, uid_t uid)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (xdg != NULL && *xdg == '/')
		return px_fit(buf, len,
		    snprintf(buf, len, "%s/pollex/pollex.sock", xdg));
	return px_fit(buf, len,
	    snprintf(buf, len, "/tmp/pollex-%lu/pollex.sock", (unsigned long)uid));
}

char *
px_socket_for_daemon(char *buf, size_t len)
{
	const char *env = getenv("POLLEX_SOCKET");

	if (env != NULL && *env != '\0')
		return px_fit(buf, len, snprintf(buf, len, "%s", env));
	/* A user running pollexd by hand, root included, gets the per-user
	 * socket; the system service (no XDG_RUNTIME_DIR) gets /run/pollex. */
	env = getenv("XDG_RUNTIME_DIR");
	if (geteuid() == 0 && (env == NULL || *env != '/'))
		return px_fit(buf, len, snprintf(buf, len, "%s", PX_SYSTEM_SOCKET));
	return px_user_socket(buf, len, geteuid());
}

char *
px_socket_for_client(char *buf, size_t len)
{
	const char *env = getenv("POLLEX_SOCKET");
	struct stat st;

	if (env != NULL && *env != '\0')
		return px_fit(buf, len, snprintf(buf, len, "%s", env));
	if (px_user_socket(buf, len, geteuid()) != NULL &&
	    stat(buf, &st) == 0 && S_ISSOCK(st.st_mode))
		return buf;
	return px_fit(buf, len, snprintf(buf, len, "%s", PX_SYSTEM_SOCKET));
}
