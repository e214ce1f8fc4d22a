// SPDX-License-Identifier: GPL-2.0
/*
 * What lab 02's guest helpers share: the device's ioctl numbers and checks that
 * print what they expected and what they saw. Included by guest/scratchtest.c and
 * by the hidden tests' helpers (hidden/*.c), which the grader compiles with -I guest/.
 */
#ifndef SCRATCH_H
#define SCRATCH_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEV "/dev/kdlab-scratch"
#define CAPACITY 4096
#define SCRATCH_GET_LEN _IOR('k', 1, unsigned int)
#define SCRATCH_CLEAR _IO('k', 2)
#define SCRATCH_UNKNOWN _IO('k', 99)
/* Room for reads: more than the device may ever hold. */
#define READ_LIMIT (4 * CAPACITY)

static int failed;

static inline void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	failed = 1;
}

static inline int open_dev(void)
{
	int fd = open(DEV, O_RDWR);

	if (fd < 0) {
		printf("open(%s) failed: %s\n", DEV, strerror(errno));
		exit(1);
	}
	return fd;
}

/* SCRATCH_GET_LEN, or -1 (reported) on failure. */
static inline long get_len(int fd)
{
	unsigned int len = 0xdeadbeef;

	if (ioctl(fd, SCRATCH_GET_LEN, &len) < 0) {
		fail("ioctl(SCRATCH_GET_LEN) failed: %s", strerror(errno));
		return -1;
	}
	if (len == 0xdeadbeef) {
		fail("ioctl(SCRATCH_GET_LEN) returned 0 but did not store the length into *arg");
		return -1;
	}
	return len;
}

static inline void clear(int fd)
{
	if (ioctl(fd, SCRATCH_CLEAR) < 0) {
		printf("ioctl(SCRATCH_CLEAR) failed: %s\n", strerror(errno));
		exit(1);
	}
}

static inline void expect_len(int fd, long expected, const char *when)
{
	long len = get_len(fd);

	if (len >= 0 && len != expected)
		fail("%s: SCRATCH_GET_LEN says %ld bytes, expected %ld", when, len, expected);
}

/*
 * Read from offset 0 with pread until end of file or until `expected` bytes
 * are in; returns the byte count or -1. (The offsets test checks end of file.)
 */
static inline long read_upto(int fd, char *buf, size_t size, long expected)
{
	long total = 0;

	for (;;) {
		ssize_t n = pread(fd, buf + total, size - total, total);

		if (n < 0) {
			fail("pread(offset %ld) failed: %s", total, strerror(errno));
			return -1;
		}
		total += n;
		if (n == 0 || total >= expected || (size_t)total == size)
			return total;
	}
}

/* write() of len bytes of c; returns write's result, errno kept. */
static inline ssize_t write_fill(int fd, char c, size_t len)
{
	char buf[2 * CAPACITY];

	memset(buf, c, len);
	return write(fd, buf, len);
}

static inline void expect_write(int fd, char c, size_t len, ssize_t expected, int expected_errno,
			 const char *what)
{
	ssize_t n;

	errno = 0;
	n = write_fill(fd, c, len);
	if (n == expected && (expected >= 0 || errno == expected_errno))
		return;
	if (expected >= 0)
		fail("%s: write(%zu bytes) returned %zd (%s), expected %zd", what, len, n,
		     n < 0 ? strerror(errno) : "no error", expected);
	else
		fail("%s: write(%zu bytes) returned %zd%s%s, expected -1 with %s", what, len, n,
		     n < 0 ? " with " : "", n < 0 ? strerror(errno) : "", strerror(expected_errno));
}

#endif /* SCRATCH_H */
