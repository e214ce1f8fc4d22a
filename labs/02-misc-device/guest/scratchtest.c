// SPDX-License-Identifier: GPL-2.0
/*
 * Guest-side checks of /dev/kdlab-scratch for lab 02.
 *
 *   scratchtest clear | len          SCRATCH_CLEAR / print SCRATCH_GET_LEN
 *   scratchtest ioctl                GET_LEN and CLEAR behave, unknown commands fail
 *   scratchtest offsets              reads honour and advance the file position
 *   scratchtest bounds               writes that do not fit are refused whole
 *   scratchtest partial              a write from a partly unmapped buffer stores nothing
 *
 * Every check prints what it expected and what it saw, and exits 1 on failure.
 */
#include "scratch.h"

#include <sys/mman.h>

static int cmd_ioctl(void)
{
	int fd = open_dev();
	char buf[READ_LIMIT];
	long n;

	clear(fd);
	expect_len(fd, 0, "after SCRATCH_CLEAR");
	if (write(fd, "hello", 5) != 5 || write(fd, " world", 6) != 6) {
		printf("writing 'hello' and ' world' failed: %s\n", strerror(errno));
		return 1;
	}
	expect_len(fd, 11, "after writing 'hello' and ' world'");
	clear(fd);
	expect_len(fd, 0, "after SCRATCH_CLEAR of 11 bytes");
	n = read_upto(fd, buf, sizeof(buf), 1);
	if (n > 0)
		fail("after SCRATCH_CLEAR, reading returned %ld bytes, expected 0 (empty)", n);
	if (write(fd, "again", 5) != 5)
		fail("writing after SCRATCH_CLEAR failed: %s", strerror(errno));
	expect_len(fd, 5, "after SCRATCH_CLEAR then writing 'again'");
	n = read_upto(fd, buf, sizeof(buf), 5);
	if (n >= 0 && (n != 5 || memcmp(buf, "again", 5)))
		fail("after SCRATCH_CLEAR then writing 'again', read '%.*s', expected 'again'",
		     (int)(n > 40 ? 40 : n), buf);
	errno = 0;
	if (ioctl(fd, SCRATCH_UNKNOWN) != -1 || errno != ENOTTY)
		fail("an unknown ioctl command must fail with ENOTTY; got %s",
		     errno ? strerror(errno) : "success");
	close(fd);
	return failed;
}

static int cmd_offsets(void)
{
	int fd = open_dev(), other;
	char buf[64];
	const char *expect[] = { "012", "345", "678", "9", "" };
	ssize_t n;
	int i;

	clear(fd);
	if (write(fd, "0123456789", 10) != 10) {
		printf("writing '0123456789' failed: %s\n", strerror(errno));
		return 1;
	}
	n = pread(fd, buf, sizeof(buf), 4);
	if (n != 6 || memcmp(buf, "456789", 6))
		fail("pread(offset 4) returned %zd bytes '%.*s', expected 6 bytes '456789'", n,
		     (int)(n > 0 ? n : 0), buf);
	n = pread(fd, buf, sizeof(buf), 10);
	if (n != 0)
		fail("pread(offset 10) at the end of the 10 bytes returned %zd, expected 0", n);
	n = pread(fd, buf, sizeof(buf), 5000);
	if (n != 0)
		fail("pread(offset 5000) beyond the end returned %zd, expected 0", n);

	/* Sequential reads through a fresh open file, 3 bytes at a time. */
	other = open_dev();
	for (i = 0; i < 5; i++) {
		n = read(other, buf, 3);
		if (n < 0 || (size_t)n != strlen(expect[i]) || memcmp(buf, expect[i], n)) {
			fail("read #%d of 3 bytes returned %zd '%.*s', expected %zu '%s' "
			     "(reads must continue at the file position and advance it)",
			     i + 1, n, (int)(n > 0 ? n : 0), buf, strlen(expect[i]), expect[i]);
			if (i == 0 && n == 0)
				fail("hint: this read used another open file than the write; the "
				     "data must be shared by all open files");
			break;
		}
	}
	close(other);
	close(fd);
	return failed;
}

static int cmd_bounds(void)
{
	int fd = open_dev();
	static char buf[READ_LIMIT];
	long n, i;

	clear(fd);
	expect_write(fd, 'a', 0, 0, 0, "an empty write");
	expect_write(fd, 'a', 4000, 4000, 0, "4000 bytes into the empty buffer");
	expect_write(fd, 'b', 200, -1, ENOSPC, "200 bytes with 96 free");
	expect_len(fd, 4000, "after the refused write of 200 bytes");
	expect_write(fd, 'c', 96, 96, 0, "96 bytes with 96 free (exactly full)");
	expect_len(fd, CAPACITY, "after filling the buffer");
	expect_write(fd, 'd', 1, -1, ENOSPC, "1 byte into the full buffer");
	n = read_upto(fd, buf, sizeof(buf), CAPACITY);
	if (n >= 0 && n != CAPACITY) {
		fail("reading the full buffer returned %ld bytes, expected %d", n, CAPACITY);
	} else if (n == CAPACITY) {
		for (i = 0; i < n; i++) {
			char want = i < 4000 ? 'a' : 'c';

			if (buf[i] != want) {
				fail("byte %ld of the full buffer is '%c', expected '%c' (4000 x 'a' "
				     "then 96 x 'c'; refused writes must store nothing)", i, buf[i],
				     want);
				break;
			}
		}
	}
	clear(fd);
	expect_write(fd, 'e', CAPACITY + 1, -1, ENOSPC, "4097 bytes (more than the capacity)");
	expect_len(fd, 0, "after the refused 4097-byte write");
	close(fd);
	return failed;
}

/*
 * A write whose user buffer ends in an unmapped page: the kernel copies the bytes
 * before the hole, then faults. A record is stored whole or not at all, so the
 * write must fail with EFAULT and leave the device as it was.
 */
static int cmd_partial(void)
{
	long page = sysconf(_SC_PAGESIZE);
	static char buf[READ_LIMIT];
	char *map;
	ssize_t n;
	int fd = open_dev();

	map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED || munmap(map + page, page) < 0) {
		printf("mmap/munmap: %s\n", strerror(errno));
		return 2;
	}
	memset(map, 'p', page);
	clear(fd);
	expect_write(fd, 'a', 10, 10, 0, "10 bytes into the empty buffer");
	errno = 0;
	n = write(fd, map + page - 16, 64);
	if (n != -1 || errno != EFAULT)
		fail("write(64 bytes) whose last 48 bytes are unmapped returned %zd%s%s, expected "
		     "-1 with %s", n, n < 0 ? " with " : "", n < 0 ? strerror(errno) : "",
		     strerror(EFAULT));
	expect_len(fd, 10, "after the write from a partly unmapped buffer");
	n = read_upto(fd, buf, sizeof(buf), 10);
	if (n > 10 || (n == 10 && memcmp(buf, "aaaaaaaaaa", 10)))
		fail("the device holds '%.*s', expected only the 10 'a' written before", (int)n,
		     buf);
	if (failed)
		printf("hint: when fewer bytes than asked could be copied from user space, remove "
		       "the ones that were (the record is whole or absent) and return EFAULT\n");
	munmap(map, page);
	close(fd);
	return failed;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(cmd, "clear")) {
		int fd = open_dev();

		clear(fd);
		return 0;
	}
	if (!strcmp(cmd, "len")) {
		long len = get_len(open_dev());

		if (len < 0)
			return 1;
		printf("%ld\n", len);
		return 0;
	}
	if (!strcmp(cmd, "ioctl"))
		return cmd_ioctl();
	if (!strcmp(cmd, "offsets"))
		return cmd_offsets();
	if (!strcmp(cmd, "bounds"))
		return cmd_bounds();
	if (!strcmp(cmd, "partial"))
		return cmd_partial();
	fprintf(stderr, "usage: scratchtest clear|len|ioctl|offsets|bounds|partial\n");
	return 2;
}
