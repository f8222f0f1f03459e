/* SPDX-License-Identifier: ISC */
/* sdnotify.h: the systemd notification and socket-activation protocols,
 * without libsystemd. */
#ifndef POLLEXD_SDNOTIFY_H
#define POLLEXD_SDNOTIFY_H

#include <stdint.h>

#define SD_LISTEN_FDS_START 3

/* Send state ("READY=1", ...) to $NOTIFY_SOCKET; 0 when not set or sent,
 * -1 when sending failed. */
int sd_notify_send(const char *state);

/*
 * The number of descriptors passed by socket activation ($LISTEN_FDS, for
 * this process per $LISTEN_PID), starting at SD_LISTEN_FDS_START; 0 when
 * not activated.  Unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES so that
 * children do not inherit them, and marks the descriptors close-on-exec.
 */
int sd_listen_fds(void);

/* The watchdog interval in microseconds ($WATCHDOG_USEC, for this process
 * per $WATCHDOG_PID when set); 0 when there is no watchdog. */
uint64_t sd_watchdog_usec(void);

#endif
