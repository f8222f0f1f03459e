/* SPDX-License-Identifier: ISC */
/*
 * check_idl.c: the interface definitions pollexd serves are the source of
 * truth.  Every method an IDL declares is in the daemon's method table and
 * the other way round; each accepts exactly the parameters its IDL input
 * names; a TaskSpec has exactly the fields its IDL type names.  A method
 * or parameter added on one side only fails here.
 */
#include "config.h"

#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "proto.h"
#include "testlib.h"

#define MAXNAMES 64

struct names {
	char *v[MAXNAMES];
	size_t n;
};

static void
names_add(struct names *ns, const char *s, size_t len)
{
	ck_assert_uint_lt(ns->n, MAXNAMES);
	ns->v[ns->n++] = strndup(s, len);
}

static void
names_clear(struct names *ns)
{
	while (ns->n > 0)
		free(ns->v[--ns->n]);
}

static int
names_has(const struct names *ns, const char *s)
{
	size_t i;

	for (i = 0; i < ns->n; i++)
		if (strcmp(ns->v[i], s) == 0)
			return 1;
	return 0;
}

static int
strv_has(const char *const *v, const char *s)
{
	for (; *v != NULL; v++)
		if (strcmp(*v, s) == 0)
			return 1;
	return 0;
}

/* The IDL without its comments. */
static char *
uncomment(const char *idl)
{
	char *out = malloc(strlen(idl) + 1), *o = out;

	ck_assert_ptr_nonnull(out);
	while (*idl != '\0') {
		if (*idl == '#')
			while (*idl != '\0' && *idl != '\n')
				idl++;
		else
			*o++ = *idl++;
	}
	*o = '\0';
	return out;
}

/* The member names of the parenthesised list at *p ('('), top level only:
 * "a: int, b: ?(c: string)" gives a, b.  *p moves past the ')'. */
static void
member_names(const char **p, struct names *ns)
{
	const char *s = *p, *start;
	int depth = 0;

	ck_assert_int_eq(*s, '(');
	s++;
	for (;;) {
		while (isspace((unsigned char)*s) || *s == ',')
			s++;
		if (*s == ')') {
			*p = s + 1;
			return;
		}
		start = s;
		while (isalnum((unsigned char)*s) || *s == '_')
			s++;
		ck_assert_msg(s > start && *s == ':', "IDL: a member without a "
		    "name near \"%.30s\"", start);
		names_add(ns, start, (size_t)(s - start));
		/* Skip the type, nested lists included. */
		for (depth = 0; *s != '\0'; s++) {
			if (*s == '(')
				depth++;
			else if (*s == ')') {
				if (depth == 0)
					break;
				depth--;
			} else if (*s == ',' && depth == 0)
				break;
		}
		ck_assert_msg(*s != '\0', "IDL: an unclosed list");
	}
}

/* Is the word w at p, standing alone at the start of a line? */
static int
keyword_at(const char *text, const char *p, const char *w)
{
	size_t n = strlen(w);

	return strncmp(p, w, n) == 0 && isspace((unsigned char)p[n]) &&
	    (p == text || p[-1] == '\n');
}

/* Every method of iface's IDL against the table; *seen counts them. */
static void
check_interface(const char *iface, size_t *seen)
{
	const char *desc = methods_description(iface), *p, *start;
	const char *const *params;
	char *text, full[256], name[128];
	struct names ns = { { NULL }, 0 };
	size_t i, k, n;

	ck_assert_msg(desc != NULL, "no description for %s", iface);
	text = uncomment(desc);
	for (p = text; *p != '\0'; p++) {
		if (!keyword_at(text, p, "method"))
			continue;
		p += strlen("method");
		while (isspace((unsigned char)*p))
			p++;
		start = p;
		while (isalnum((unsigned char)*p))
			p++;
		n = (size_t)(p - start);
		ck_assert_uint_lt(n, sizeof name);
		memcpy(name, start, n);
		name[n] = '\0';
		snprintf(full, sizeof full, "%s.%s", iface, name);
		while (isspace((unsigned char)*p))
			p++;
		member_names(&p, &ns);
		for (i = 0; i < methods_count(); i++)
			if (strcmp(methods_name(i), full) == 0)
				break;
		ck_assert_msg(i < methods_count(), "%s is in the IDL but not "
		    "in the daemon's method table", full);
		params = methods_params(i);
		for (k = 0; k < ns.n; k++)
			ck_assert_msg(strv_has(params, ns.v[k]), "%s: the IDL "
			    "declares parameter %s, the daemon refuses it",
			    full, ns.v[k]);
		for (k = 0; params[k] != NULL; k++)
			ck_assert_msg(names_has(&ns, params[k]), "%s: the daemon "
			    "accepts parameter %s, the IDL does not declare it",
			    full, params[k]);
		names_clear(&ns);
		(*seen)++;
	}
	free(text);
}

START_TEST(test_methods_match_idl)
{
	size_t seen = 0, i;
	const char *name;

	check_interface(PX_INTERFACE, &seen);
	check_interface(PX_VARLINK_SERVICE, &seen);
	/* And nothing in the table that no IDL declares. */
	ck_assert_msg(seen == methods_count(), "the method table has %zu "
	    "methods, the IDLs declare %zu", methods_count(), seen);
	for (i = 0; i < methods_count(); i++) {
		name = methods_name(i);
		ck_assert_msg(strncmp(name, PX_INTERFACE ".",
		    strlen(PX_INTERFACE) + 1) == 0 ||
		    strncmp(name, PX_VARLINK_SERVICE ".",
		    strlen(PX_VARLINK_SERVICE) + 1) == 0,
		    "%s is of no interface served", name);
	}
}
END_TEST

START_TEST(test_taskspec_fields_match_idl)
{
	char *text = uncomment(methods_description(PX_INTERFACE));
	const char *const *fields = methods_spec_fields();
	struct names ns = { { NULL }, 0 };
	const char *p;
	size_t k;

	for (p = text; *p != '\0'; p++)
		if (keyword_at(text, p, "type") &&
		    strncmp(p + 4, " TaskSpec", 9) == 0)
			break;
	ck_assert_msg(*p != '\0', "the IDL has no type TaskSpec");
	p = strchr(p, '(');
	ck_assert_ptr_nonnull(p);
	member_names(&p, &ns);
	ck_assert_uint_gt(ns.n, 0);
	for (k = 0; k < ns.n; k++)
		ck_assert_msg(strv_has(fields, ns.v[k]), "TaskSpec: the IDL "
		    "declares %s, the daemon refuses it", ns.v[k]);
	for (k = 0; fields[k] != NULL; k++)
		ck_assert_msg(names_has(&ns, fields[k]), "TaskSpec: the daemon "
		    "accepts %s, the IDL does not declare it", fields[k]);
	names_clear(&ns);
	free(text);
}
END_TEST

/* The parser itself: nested types are skipped, names are what they are. */
START_TEST(test_member_names)
{
	const char *p = "(a: int, b_c: ?(x: string, y: []int), d: [string]bool)"
	    " -> (z: int)";
	struct names ns = { { NULL }, 0 };

	member_names(&p, &ns);
	ck_assert_uint_eq(ns.n, 3);
	ck_assert_str_eq(ns.v[0], "a");
	ck_assert_str_eq(ns.v[1], "b_c");
	ck_assert_str_eq(ns.v[2], "d");
	ck_assert_str_eq(p, " -> (z: int)");
	names_clear(&ns);
}
END_TEST

static Suite *
idl_suite(void)
{
	Suite *s = suite_create("idl");
	TCase *tc = tcase_create("idl");

	tcase_add_test(tc, test_member_names);
	tcase_add_test(tc, test_methods_match_idl);
	tcase_add_test(tc, test_taskspec_fields_match_idl);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return check_run(idl_suite());
}
