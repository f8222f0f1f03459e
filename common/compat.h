/* SPDX-License-Identifier: ISC */
/* compat.h: what glibc's <sys/queue.h> lacks. */
#ifndef POLLEX_COMPAT_H
#define POLLEX_COMPAT_H

#include <sys/queue.h>

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)             \
	for ((var) = TAILQ_FIRST((head));                       \
	    (var) && ((tvar) = TAILQ_NEXT((var), field), 1);    \
	    (var) = (tvar))
#endif
#ifndef LIST_FOREACH_SAFE
#define LIST_FOREACH_SAFE(var, head, field, tvar)              \
	for ((var) = LIST_FIRST((head));                        \
	    (var) && ((tvar) = LIST_NEXT((var), field), 1);     \
	    (var) = (tvar))
#endif

#endif
