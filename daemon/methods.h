/* SPDX-License-Identifier: ISC */
/* methods.h: the method table of the io.pollex and varlink interfaces. */
#ifndef POLLEXD_METHODS_H
#define POLLEXD_METHODS_H

#include <json-c/json.h>

#include "call.h"

struct core;

/* Run the handler of the call's method (params may be NULL); it answers
 * through the call, now or later. */
void methods_dispatch(struct core *core, struct call *c, json_object *params);

#endif
