/* SPDX-License-Identifier: ISC */
/* main.c: pollexd's entry point; the daemon lives in libpollexd. */
#include "config.h"

#include "pollexd.h"

int
main(int argc, char **argv)
{
	return pollexd_main(argc, argv);
}
