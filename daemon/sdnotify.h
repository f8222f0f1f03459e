/* sdnotify.h: the systemd notification protocol, without libsystemd. */
#ifndef POLLEXD_SDNOTIFY_H
#define POLLEXD_SDNOTIFY_H

/* Send state ("READY=1", ...) to $NOTIFY_SOCKET; 0 when not set or sent,
 * -1 when sending failed. */
int sd_notify_send(const char *state);

#endif
