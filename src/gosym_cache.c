// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Direct-mapped pc -> frames cache. A tracer symbolizes the same few thousand
 * PCs over and over (every report walks the same stacks), so a slot per PC hash
 * with no eviction policy beyond overwrite answers most lookups with one compare.
 * Slots are calloc'd: untouched ones cost no memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gosym.h"

#define MAX_SLOTS (1u << 24)

struct cache_slot {
	uint64_t pc;
	int8_t n; /* frames stored; 0 = empty slot */
	struct gosym_frame frames[GOSYM_CACHE_DEPTH];
};

struct gosym_cache {
	const struct gosym *gs;
	struct cache_slot *slots;
	uint32_t mask;
	uint64_t hits;
	uint64_t lookups;
};

struct gosym_cache *gosym_cache__new(const struct gosym *gs, uint32_t slots)
{
	struct gosym_cache *c = calloc(1, sizeof(*c));
	uint32_t size = 1;

	if (!c)
		return NULL;
	while (size < slots && size < MAX_SLOTS)
		size <<= 1;
	c->slots = calloc(size, sizeof(*c->slots));
	if (!c->slots) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->gs = gs;
	c->mask = size - 1;
	return c;
}

void gosym_cache__free(struct gosym_cache *c)
{
	if (!c)
		return;
	free(c->slots);
	free(c);
}

/* Fibonacci hashing: instruction addresses differ in their low bits. */
static inline uint32_t slot_of(const struct gosym_cache *c, uint64_t pc)
{
	return (uint32_t)((pc * 0x9e3779b97f4a7c15ull) >> 32) & c->mask;
}

int gosym_cache__frames(struct gosym_cache *c, uint64_t pc, struct gosym_frame *frames, int max)
{
	struct cache_slot *s = &c->slots[slot_of(c, pc)];
	struct gosym_frame tmp[GOSYM_CACHE_DEPTH + 1];
	int n;

	c->lookups++;
	if (s->n && s->pc == pc && s->n <= max) {
		c->hits++;
		memcpy(frames, s->frames, s->n * sizeof(*frames));
		return s->n;
	}
	if (max < GOSYM_CACHE_DEPTH + 1)
		return gosym__frames(c->gs, pc, frames, max);
	/* one more than fits: a chain that fills tmp was cut and is not cached */
	n = gosym__frames(c->gs, pc, tmp, GOSYM_CACHE_DEPTH + 1);
	if (n > GOSYM_CACHE_DEPTH)
		return gosym__frames(c->gs, pc, frames, max);
	if (n < 0)
		return n;
	memcpy(s->frames, tmp, n * sizeof(*tmp));
	s->pc = pc;
	s->n = n;
	memcpy(frames, tmp, n * sizeof(*tmp));
	return n;
}

void gosym_cache__stats(const struct gosym_cache *c, uint64_t *hits, uint64_t *lookups)
{
	*hits = c->hits;
	*lookups = c->lookups;
}
