// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "commands.h"
#include "log.h"

int cmd_info(int argc, char **argv)
{
	log_err("'info' is not built yet");
	return 1;
}
