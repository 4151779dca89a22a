/* SPDX-License-Identifier: MIT */
/*
 * The host's call IPI: HOST_IRQ_CALL, raised like any simulated IRQ; its
 * handler runs the portable smp_call_serve() (kernel/smp_call.c).
 */
#include "host/internal.h"
#include "kernel/smp_call.h"

bool ipi_call(unsigned cpu)
{
	return host_irq_raise(cpu, HOST_IRQ_CALL) == E_OK;
}

void host_smp_call_irq(unsigned vector)
{
	(void)vector;
	smp_call_serve();
}
