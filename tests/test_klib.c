/* SPDX-License-Identifier: MIT */
/*
 * The kernel's own C library (kernel/lib/printf.c, kernel/lib/string.c),
 * checked against the host's. The build compiles both files for this
 * test with every function renamed to klib_* (mk/tests.mk), so they sit
 * beside glibc's: fixed cases for what each conversion promises, then
 * random formats and buffers compared output for output.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "host/util.h"
#include "tests/support.h"

/*
 * The cases include what the compiler warns about on purpose (a '0' flag
 * that '-' or a precision overrides, NULL for %s, formats built at run
 * time): both implementations must agree there too.
 */
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-security"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-overflow"
#endif

int klib_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void *klib_memset(void *s, int c, size_t n);
void *klib_memcpy(void *restrict dst, const void *restrict src, size_t n);
void *klib_memmove(void *dst, const void *src, size_t n);
int klib_memcmp(const void *a, const void *b, size_t n);
size_t klib_strlen(const char *s);
int klib_strcmp(const char *a, const char *b);
char *klib_strstr(const char *haystack, const char *needle);

/* Both printfs on the same format and arguments: same text, same length. */
#define SAME(fmt, ...)                                                       \
	do {                                                                 \
		char want_[256], got_[256];                                  \
		int wn_ = snprintf(want_, sizeof(want_), fmt, __VA_ARGS__);  \
		int gn_ = klib_snprintf(got_, sizeof(got_), fmt, __VA_ARGS__); \
		assert_string_equal(got_, want_);                            \
		assert_int_equal(gn_, wn_);                                  \
	} while (0)

static void test_integers_match_libc(void **state)
{
	(void)state;
	SAME("%d %d %d %i", 0, 42, -42, INT_MIN);
	SAME("%u %u", 0u, UINT_MAX);
	SAME("%ld %lu %lld %llu", LONG_MIN, ULONG_MAX, LLONG_MIN, ULLONG_MAX);
	SAME("%zu %zx", (size_t)12345, SIZE_MAX);
	SAME("%hhu %hhd %hu %hd", 300, 200, 70000, 40000);
	SAME("%x %X %#x %#X %#x", 0xbeefu, 0xbeefu, 0xbeefu, 0xbeefu, 0u);
	SAME("%llx %#llx", 0xfedcba9876543210ull, 1ull);
}

static void test_width_precision_flags_match_libc(void **state)
{
	(void)state;
	SAME("[%5d] [%-5d] [%05d] [%-05d]", 42, 42, -42, 42);
	SAME("[%.3d] [%8.3d] [%-8.3d] [%08.3d]", 7, -7, 7, 7);
	SAME("[%.0d] [%.0x] [%#.0x] [%5.0u]", 0, 0u, 0u, 0u);
	SAME("[%*d] [%-*d] [%*d]", 6, 1, 6, 2, -6, 3);
	SAME("[%.*d] [%.*d]", 4, 5, -1, 6);
	SAME("[%#014llx] [%#-14x] [%#8.4x]", 0x1234ull, 0xabu, 0x1u);
}

static void test_strings_chars_percent_match_libc(void **state)
{
	(void)state;
	SAME("[%s] [%10s] [%-10s] [%.2s] [%*.*s]", "abc", "abc", "abc", "abc",
	     7, 1, "xyz");
	SAME("[%c] [%3c] [%-3c]", 'a', 'b', 'c');
	SAME("100%% %s", "done");
	SAME("%p", (void *)0x1234);
	SAME("%s", "");
}

/* C99: the result is the full length; at most size - 1 chars, then NUL. */
static void test_truncation_keeps_full_length(void **state)
{
	char buf[8];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(klib_snprintf(buf, 0, "%s", "hello"), 5);
	assert_int_equal(buf[0], 'x');
	assert_int_equal(klib_snprintf(buf, 1, "%s", "hello"), 5);
	assert_string_equal(buf, "");
	assert_int_equal(klib_snprintf(buf, 4, "%d", 123456), 6);
	assert_string_equal(buf, "123");
	assert_int_equal(buf[4], 'x');
	assert_int_equal(klib_snprintf(buf, sizeof(buf), "%s", "1234567"), 7);
	assert_string_equal(buf, "1234567");
}

/* What the kernel prints when it meets something it does not know. */
static void test_unknown_conversion_printed_verbatim(void **state)
{
	const char *unknown = "a%qb";
	char buf[32];

	(void)state;
	assert_int_equal(klib_snprintf(buf, sizeof(buf), unknown), 4);
	assert_string_equal(buf, "a%qb");
	assert_int_equal(klib_snprintf(buf, sizeof(buf), "%s", (char *)NULL), 6);
	assert_string_equal(buf, "(null)");
}

/* Random conversions, flags, widths, precisions and values. */
static void test_random_formats_match_libc(void **state)
{
	static const char *const convs[] = { "d", "i", "u", "x", "X", "ld",
					     "lu", "llx", "lld", "zu", "hu",
					     "hhx" };
	uint64_t rng = 0x5eed;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		uint64_t r = rng_next(&rng), v = rng_next(&rng);
		char fmt[32], *p = fmt;
		const char *conv = convs[r % ARRAY_SIZE(convs)];

		*p++ = '%';
		if ((r >> 8) & 1)
			*p++ = '-';
		if ((r >> 9) & 1)
			*p++ = '0';
		if ((r >> 10) & 1 && strchr("xX", conv[strlen(conv) - 1]))
			*p++ = '#';
		if ((r >> 11) & 1)
			p += sprintf(p, "%u", (unsigned)(r >> 16) % 24);
		if ((r >> 12) & 1)
			p += sprintf(p, ".%u", (unsigned)(r >> 24) % 24);
		strcpy(p, conv);
		/* Pass every value as the type the length modifier names. */
		if (strchr(conv, 'z'))
			SAME(fmt, (size_t)v);
		else if (strstr(conv, "ll"))
			SAME(fmt, (unsigned long long)v);
		else if (strchr(conv, 'l'))
			SAME(fmt, (unsigned long)v);
		else
			SAME(fmt, (unsigned)v);
	}
}

/* Random lengths, alignments and overlaps against glibc. */
static void test_memory_functions_match_libc(void **state)
{
	static unsigned char a[512], b[512], c[512];
	uint64_t rng = 7;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		size_t off = rng_next(&rng) % 64, off2 = rng_next(&rng) % 64;
		size_t n = rng_next(&rng) % 256;
		int v = (int)(rng_next(&rng) % 256);

		for (size_t k = 0; k < sizeof(a); k++)
			a[k] = b[k] = (unsigned char)rng_next(&rng);
		memcpy(c, a, sizeof(a));
		assert_ptr_equal(klib_memset(a + off, v, n), a + off);
		memset(b + off, v, n);
		assert_memory_equal(a, b, sizeof(a));
		assert_ptr_equal(klib_memcpy(a + off, c + off2, n), a + off);
		memcpy(b + off, c + off2, n);
		assert_memory_equal(a, b, sizeof(a));
		/* Overlapping, both directions. */
		assert_ptr_equal(klib_memmove(a + off, a + off2, n), a + off);
		memmove(b + off, b + off2, n);
		assert_memory_equal(a, b, sizeof(a));
		b[off + n / 2] ^= (unsigned char)(i & 1);
		assert_int_equal(klib_memcmp(a + off, b + off, n) < 0,
				 memcmp(a + off, b + off, n) < 0);
		assert_int_equal(klib_memcmp(a + off, b + off, n) == 0,
				 memcmp(a + off, b + off, n) == 0);
	}
}

static void test_string_functions_match_libc(void **state)
{
	static const char *const s[] = { "", "a", "ab", "abc", "abd", "b",
					 "abcabcabd", "\xff", "bcab" };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(s); i++) {
		assert_int_equal(klib_strlen(s[i]), strlen(s[i]));
		for (size_t j = 0; j < ARRAY_SIZE(s); j++) {
			int want = strcmp(s[i], s[j]), got = klib_strcmp(s[i], s[j]);

			assert_int_equal(got < 0, want < 0);
			assert_int_equal(got > 0, want > 0);
			assert_ptr_equal(klib_strstr(s[i], s[j]),
					 strstr(s[i], s[j]));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers_match_libc),
		cmocka_unit_test(test_width_precision_flags_match_libc),
		cmocka_unit_test(test_strings_chars_percent_match_libc),
		cmocka_unit_test(test_truncation_keeps_full_length),
		cmocka_unit_test(test_unknown_conversion_printed_verbatim),
		cmocka_unit_test(test_random_formats_match_libc),
		cmocka_unit_test(test_memory_functions_match_libc),
		cmocka_unit_test(test_string_functions_match_libc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
