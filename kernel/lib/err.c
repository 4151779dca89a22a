/* SPDX-License-Identifier: MIT */
#include "kernel/lib/err.h"

static const char *const names[E_COUNT] = {
	[E_OK] = "E_OK",
	[E_INVAL] = "E_INVAL",
	[E_RANGE] = "E_RANGE",
	[E_NOMEM] = "E_NOMEM",
	[E_NOSPC] = "E_NOSPC",
	[E_BUSY] = "E_BUSY",
	[E_ALREADY] = "E_ALREADY",
	[E_STATE] = "E_STATE",
	[E_NOT_ALLOCATED] = "E_NOT_ALLOCATED",
	[E_BAD_ORDER] = "E_BAD_ORDER",
	[E_RESERVED] = "E_RESERVED",
	[E_REFERENCED] = "E_REFERENCED",
	[E_QUOTA] = "E_QUOTA",
	[E_DYING] = "E_DYING",
	[E_FAULT] = "E_FAULT",
};

const char *err_name(err_t e)
{
	if ((unsigned)e >= E_COUNT || names[e] == NULL)
		return "E_UNKNOWN";
	return names[e];
}
