/* SPDX-License-Identifier: MIT */
/*
 * Build-time configuration. Every switch has a default here and is
 * overridden with -DCONFIG_...=value by the build (see mk/config.mk).
 * A switch selects between implementations of one source; there are no
 * separate copies of code per configuration.
 */
#ifndef KERNEL_CONFIG_H
#define KERNEL_CONFIG_H

/* Debug checks: ASSERT(), validation on every call, the lock checker. */
#ifndef CONFIG_DEBUG
#define CONFIG_DEBUG 1
#endif

/* The lock-order / IRQ-safety / self-deadlock checker (locks/lockcheck.c). */
#ifndef CONFIG_LOCK_DEBUG
#define CONFIG_LOCK_DEBUG CONFIG_DEBUG
#endif

/*
 * Pause points (kernel/lib/pause.h): named places in concurrent code where
 * a test can force an interleaving. Host debug builds only.
 */
#ifndef CONFIG_PAUSE_POINTS
#define CONFIG_PAUSE_POINTS 0
#endif

/* Spinlock implementation: 0 = ticket lock (default), 1 = MCS queue lock. */
#ifndef CONFIG_SPINLOCK_MCS
#define CONFIG_SPINLOCK_MCS 0
#endif

/* Largest number of CPUs (host threads registered as CPUs, or kernel vCPUs). */
#ifndef CONFIG_MAX_CPUS
#define CONFIG_MAX_CPUS 256
#endif

#if CONFIG_MAX_CPUS < 1 || CONFIG_MAX_CPUS > 4096
#error "CONFIG_MAX_CPUS must be in 1..4096"
#endif

#endif /* KERNEL_CONFIG_H */
