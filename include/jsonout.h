/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef LEAKHOUND_JSONOUT_H
#define LEAKHOUND_JSONOUT_H

struct cJSON;

/* Prints a JSON document on stdout and deletes it (NULL: -ENOMEM). 0 or -errno. */
int json_emit(struct cJSON *doc);

#endif
