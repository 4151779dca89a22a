/* SPDX-License-Identifier: MIT */
/*
 * vsnprintf for the freestanding kernel: flags '-', '0', '#', width and
 * precision (numbers or '*'), length modifiers hh h l ll z, conversions
 * d i u x X p s c %. C99 semantics: the result is the length the output
 * would have had; at most size - 1 characters are stored, then a NUL.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct out {
	char *buf;
	size_t size;
	size_t len; /* characters produced, stored or not */
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void pad(struct out *o, char c, int n)
{
	while (n-- > 0)
		put(o, c);
}

struct spec {
	bool left, zero, alt;
	int width, prec; /* prec < 0: none */
	int length;      /* -2 hh, -1 h, 0, 1 l, 2 ll, 3 z */
};

/* Digits of v in base, most significant first, into tmp; returns count. */
static int digits(uint64_t v, unsigned base, bool upper, char tmp[24])
{
	const char *d = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	int n = 0;

	do {
		tmp[n++] = d[v % base];
		v /= base;
	} while (v != 0);
	return n;
}

static void number(struct out *o, const struct spec *s, uint64_t v,
		   bool negative, unsigned base, bool upper)
{
	char tmp[24];
	int n = (v == 0 && s->prec == 0) ? 0 : digits(v, base, upper, tmp);
	int zeros = s->prec > n ? s->prec - n : 0;
	const char *prefix = negative ? "-" : (s->alt && base == 16 && v != 0)
					      ? (upper ? "0X" : "0x") : "";
	int plen = prefix[0] == '\0' ? 0 : prefix[1] == '\0' ? 1 : 2;
	int fill = s->width - plen - zeros - n;

	if (s->zero && !s->left && s->prec < 0) {
		zeros += fill > 0 ? fill : 0;
		fill = 0;
	}
	if (!s->left)
		pad(o, ' ', fill);
	for (int i = 0; i < plen; i++)
		put(o, prefix[i]);
	pad(o, '0', zeros);
	while (n > 0)
		put(o, tmp[--n]);
	if (s->left)
		pad(o, ' ', fill);
}

static void string(struct out *o, const struct spec *s, const char *str)
{
	int n = 0;

	if (str == NULL)
		str = "(null)";
	while (str[n] != '\0' && (s->prec < 0 || n < s->prec))
		n++;
	if (!s->left)
		pad(o, ' ', s->width - n);
	for (int i = 0; i < n; i++)
		put(o, str[i]);
	if (s->left)
		pad(o, ' ', s->width - n);
}

static void character(struct out *o, const struct spec *s, char c)
{
	if (!s->left)
		pad(o, ' ', s->width - 1);
	put(o, c);
	if (s->left)
		pad(o, ' ', s->width - 1);
}

static uint64_t unsigned_arg(va_list *ap, int length)
{
	switch (length) {
	case -2: return (unsigned char)va_arg(*ap, unsigned);
	case -1: return (unsigned short)va_arg(*ap, unsigned);
	case 0:  return va_arg(*ap, unsigned);
	case 1:  return va_arg(*ap, unsigned long);
	case 2:  return va_arg(*ap, unsigned long long);
	default: return va_arg(*ap, size_t);
	}
}

static int64_t signed_arg(va_list *ap, int length)
{
	switch (length) {
	case -2: return (signed char)va_arg(*ap, int);
	case -1: return (short)va_arg(*ap, int);
	case 0:  return va_arg(*ap, int);
	case 1:  return va_arg(*ap, long);
	case 2:  return va_arg(*ap, long long);
	default: return (int64_t)va_arg(*ap, size_t);
	}
}

/* Parse flags, width, precision, length at *f; advance *f past them. */
static struct spec parse_spec(const char **f, va_list *ap)
{
	struct spec s = { false, false, false, 0, -1, 0 };

	for (;; (*f)++) {
		if (**f == '-')
			s.left = true;
		else if (**f == '0')
			s.zero = true;
		else if (**f == '#')
			s.alt = true;
		else
			break;
	}
	if (**f == '*') {
		s.width = va_arg(*ap, int);
		if (s.width < 0) { /* C99: a negative width is '-' and its size */
			s.left = true;
			s.width = -s.width;
		}
		(*f)++;
	}
	for (; **f >= '0' && **f <= '9'; (*f)++)
		s.width = s.width * 10 + (**f - '0');
	if (**f == '.') {
		s.prec = 0;
		if (*++(*f) == '*') {
			s.prec = va_arg(*ap, int);
			if (s.prec < 0) /* C99: as if no precision */
				s.prec = -1;
			(*f)++;
		}
		for (; **f >= '0' && **f <= '9'; (*f)++)
			s.prec = s.prec * 10 + (**f - '0');
	}
	for (;; (*f)++) {
		if (**f == 'h')
			s.length = s.length < 0 ? -2 : -1;
		else if (**f == 'l')
			s.length++;
		else if (**f == 'z')
			s.length = 3;
		else
			break;
	}
	return s;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap_in)
{
	struct out o = { buf, size, 0 };
	va_list ap;

	va_copy(ap, ap_in);
	for (const char *f = fmt; *f != '\0'; f++) {
		struct spec s;
		int64_t v;

		if (*f != '%') {
			put(&o, *f);
			continue;
		}
		f++;
		s = parse_spec(&f, &ap);
		switch (*f) {
		case 'd':
		case 'i':
			v = signed_arg(&ap, s.length);
			number(&o, &s, v < 0 ? (uint64_t)-(v + 1) + 1 : (uint64_t)v,
			       v < 0, 10, false);
			break;
		case 'u':
			number(&o, &s, unsigned_arg(&ap, s.length), false, 10, false);
			break;
		case 'x':
		case 'X':
			number(&o, &s, unsigned_arg(&ap, s.length), false, 16,
			       *f == 'X');
			break;
		case 'p':
			s.alt = true;
			number(&o, &s, (uintptr_t)va_arg(ap, void *), false, 16,
			       false);
			break;
		case 's':
			string(&o, &s, va_arg(ap, const char *));
			break;
		case 'c':
			character(&o, &s, (char)va_arg(ap, int));
			break;
		case '%':
			put(&o, '%');
			break;
		case '\0':
			f--; /* a lone '%' at the end */
			break;
		default:
			put(&o, '%');
			put(&o, *f);
		}
	}
	va_end(ap);
	if (size > 0)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
