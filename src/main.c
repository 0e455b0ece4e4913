// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* leakhound: finds what leaks in a running Go program, from outside, with eBPF. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "log.h"

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{"info", cmd_info, "what leakhound knows about a Go binary or process"},
	{"symbolize", cmd_symbolize,
	 "addresses of a Go binary, or of a live process (Go and C), to functions, files, lines"},
	{"check", cmd_check, "whether this kernel and these privileges can run leakhound"},
	{"trace", cmd_trace, "live Go heap by allocation stack of a running process"},
	{"goroutines", cmd_goroutines, "every goroutine of a running process, grouped by stack"},
	{"mem", cmd_mem, "what the RSS of a process is: heap, idle heap, stacks, ..."},
	{"daemon", cmd_daemon,
	 "every Go process of the machine, continuously: metrics, profiles, suspects over HTTP"},
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: leakhound [-v] COMMAND [ARGS]\n"
		"\n"
		"An eBPF memory-leak tracer for Go programs: points at the Go heap, goroutine\n"
		"and C heap growth of a running process, with no change to it.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n"
		     "Options:\n"
		     "  -v, --verbose   more diagnostics on stderr (repeat for debug)\n"
		     "  -V, --version   print the version and the features built in\n"
		     "  -h, --help      this help; 'leakhound COMMAND --help' for a command\n");
}

static void version(void)
{
	printf("leakhound %s\n", LEAKHOUND_VERSION);
	printf("features: go1.%d-go1.%d, amd64, libbpf, pclntab, inline-tree, dwarf, "
	       "stripped-globals\n",
	       19, 26);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	int c;

	/* '+': stop at the subcommand, whose options are its own */
	while ((c = getopt_long(argc, argv, "+vVh", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			log_verbosity++;
			break;
		case 'V':
			version();
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	log_setup_libbpf();
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			argc -= optind;
			argv += optind;
			optind = 0; /* reset getopt for the subcommand */
			return commands[i].run(argc, argv);
		}
	}
	log_err("unknown command '%s' (see 'leakhound --help')", argv[optind]);
	return 2;
}
