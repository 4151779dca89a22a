/* SPDX-License-Identifier: MIT */
/*
 * Compiler helpers shared by every source, kernel and host alike.
 *
 * Only GCC and clang builtins and attributes here: no inline asm (that lives
 * in kernel/arch/x86_64/) and nothing that needs a C library.
 */
#ifndef KERNEL_LIB_COMPILER_H
#define KERNEL_LIB_COMPILER_H

#include <stddef.h>
#include <stdint.h>

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* A function whose result must be looked at: errors are values here. */
#define MUST_CHECK   __attribute__((warn_unused_result))
#define NORETURN     __attribute__((noreturn))
#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))
#define ALWAYS_INLINE inline __attribute__((always_inline))
#define NOINLINE     __attribute__((noinline))
#define UNUSED       __attribute__((unused))
#define CACHELINE    64
#define CACHE_ALIGNED __attribute__((aligned(CACHELINE)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)
/* "file:line" of the expansion site, as a string literal. */
#define HERE __FILE__ ":" STRINGIFY(__LINE__)

#define container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Power-of-two arithmetic on unsigned 64-bit values (a must be 2^k). */
#define IS_POW2(x)        ((x) != 0 && ((x) & ((x) - 1)) == 0)
#define ALIGN_DOWN(x, a)  ((x) & ~((uint64_t)(a) - 1))
#define ALIGN_UP(x, a)    ALIGN_DOWN((x) + (uint64_t)(a) - 1, (a))
#define IS_ALIGNED(x, a)  (((x) & ((uint64_t)(a) - 1)) == 0)

/* Compiler-only barrier: stops the compiler moving memory accesses across. */
#define barrier() __asm__ __volatile__("" ::: "memory")

/*
 * Sanitizer detection, the same spelling for GCC (__SANITIZE_*__) and clang
 * (__has_feature).
 */
#if defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define HAVE_TSAN 1
#  endif
#  if __has_feature(address_sanitizer)
#    define HAVE_ASAN 1
#  endif
#endif
#if defined(__SANITIZE_THREAD__)
#  define HAVE_TSAN 1
#endif
#if defined(__SANITIZE_ADDRESS__)
#  define HAVE_ASAN 1
#endif
#ifndef HAVE_TSAN
#  define HAVE_TSAN 0
#endif
#ifndef HAVE_ASAN
#  define HAVE_ASAN 0
#endif

/*
 * clang's -Wthread-safety attributes. They work on C functions: the lock API
 * says what it acquires and releases, globals say which lock guards them,
 * and clang checks every caller. (In C, unlike C++, GUARDED_BY cannot name
 * a sibling struct member, so struct fields carry a written tag instead:
 * "[lock]".) Other compilers see nothing.
 */
#if defined(__clang__)
#  define TSA(x) __attribute__((x))
#else
#  define TSA(x)
#endif
#define CAPABILITY(name)     TSA(capability(name))
#define GUARDED_BY(l)        TSA(guarded_by(l))
#define PT_GUARDED_BY(l)     TSA(pt_guarded_by(l))
#define ACQUIRE(...)         TSA(acquire_capability(__VA_ARGS__))
#define RELEASE(...)         TSA(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...)     TSA(try_acquire_capability(__VA_ARGS__))
#define REQUIRES(...)        TSA(requires_capability(__VA_ARGS__))
#define EXCLUDES(...)        TSA(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(l) TSA(assert_capability(l))
#define NO_THREAD_SAFETY_ANALYSIS TSA(no_thread_safety_analysis)

#endif /* KERNEL_LIB_COMPILER_H */
