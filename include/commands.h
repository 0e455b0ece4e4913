/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_COMMANDS_H
#define LEAKHOUND_COMMANDS_H

/*
 * Subcommands. Each parses its own options (argv[0] is the subcommand name) and
 * returns the process exit status.
 */
int cmd_info(int argc, char **argv);
int cmd_symbolize(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_goroutines(int argc, char **argv);
int cmd_daemon(int argc, char **argv);
int cmd_mem(int argc, char **argv);

#endif
