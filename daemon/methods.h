/* SPDX-License-Identifier: ISC */
/* methods.h: the method table of the io.pollex and varlink interfaces. */
#ifndef POLLEXD_METHODS_H
#define POLLEXD_METHODS_H

#include <stddef.h>

#include <json-c/json.h>

#include "call.h"

struct core;

/* Run the handler of the call's method (params may be NULL); it answers
 * through the call, now or later. */
void methods_dispatch(struct core *core, struct call *c, json_object *params);

/*
 * The method table, for the test that holds it to the IDL: the full names
 * ("io.pollex.Submit"), each one's accepted parameters and the fields of
 * a TaskSpec (NULL-terminated), and the description served for an
 * interface (NULL: not ours).
 */
size_t methods_count(void);
const char *methods_name(size_t i);
const char *const *methods_params(size_t i);
const char *const *methods_spec_fields(void);
const char *methods_description(const char *interface);

#endif
