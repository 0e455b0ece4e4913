// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>

#include "jsonout.h"

int json_emit(struct cJSON *doc)
{
	char *s;
	int err = 0;

	if (!doc)
		return -ENOMEM;
	s = cJSON_Print(doc);
	cJSON_Delete(doc);
	if (!s)
		return -ENOMEM;
	if (puts(s) == EOF)
		err = -EIO;
	cJSON_free(s);
	return err;
}
