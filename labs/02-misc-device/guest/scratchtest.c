// SPDX-License-Identifier: GPL-2.0
/*
 * Guest-side checks of /dev/kdlab-scratch for lab 02.
 *
 *   scratchtest clear | len          SCRATCH_CLEAR / print SCRATCH_GET_LEN
 *   scratchtest ioctl                GET_LEN and CLEAR behave, unknown commands fail
 *   scratchtest offsets              reads honour and advance the file position
 *   scratchtest bounds               writes that do not fit are refused whole
 *   scratchtest concurrent P T R     P processes x T threads each append R records
 *
 * Every check prints what it expected and what it saw, and exits 1 on failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	failed = 1;
}

static int open_dev(void)
{
	int fd = open(DEV, O_RDWR);

	if (fd < 0) {
		printf("open(%s) failed: %s\n", DEV, strerror(errno));
		exit(1);
	}
	return fd;
}

/* SCRATCH_GET_LEN, or -1 (reported) on failure. */
static long get_len(int fd)
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

static void clear(int fd)
{
	if (ioctl(fd, SCRATCH_CLEAR) < 0) {
		printf("ioctl(SCRATCH_CLEAR) failed: %s\n", strerror(errno));
		exit(1);
	}
}

static void expect_len(int fd, long expected, const char *when)
{
	long len = get_len(fd);

	if (len >= 0 && len != expected)
		fail("%s: SCRATCH_GET_LEN says %ld bytes, expected %ld", when, len, expected);
}

/*
 * Read from offset 0 with pread until end of file or until `expected` bytes
 * are in; returns the byte count or -1. (The offsets test checks end of file.)
 */
static long read_upto(int fd, char *buf, size_t size, long expected)
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
static ssize_t write_fill(int fd, char c, size_t len)
{
	char buf[2 * CAPACITY];

	memset(buf, c, len);
	return write(fd, buf, len);
}

static void expect_write(int fd, char c, size_t len, ssize_t expected, int expected_errno,
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

#define RECORD 32

struct writer {
	int fd, id, records, errors;
	pthread_t thread;
};

static void record(char *out, int id, int seq)
{
	char tmp[64];

	/* 31 characters and a newline: "<w03 r0012 kdlab-scratch-recor>" */
	snprintf(tmp, sizeof(tmp), "<w%02d r%04d %-19.19s>", id % 100, seq % 10000,
		 "kdlab-scratch-record");
	memcpy(out, tmp, RECORD - 1);
	out[RECORD - 1] = '\n';
}

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	char rec[RECORD];
	int seq;

	for (seq = 0; seq < w->records; seq++) {
		ssize_t n;

		record(rec, w->id, seq);
		n = write(w->fd, rec, RECORD);
		if (n != RECORD) {
			if (!w->errors)
				printf("writer %d: write of record %d returned %zd (%s)\n", w->id,
				       seq, n, n < 0 ? strerror(errno) : "short");
			w->errors++;
		}
		if (seq % 3 == 0)
			sched_yield();
	}
	return NULL;
}

/* One process: its own open file, shared by its threads. */
static int process_main(int first_id, int threads, int records, int start_fd)
{
	struct writer w[16];
	char go;
	int fd = open_dev(), i, errors = 0;

	if (read(start_fd, &go, 1) != 1)
		return 1;
	for (i = 0; i < threads; i++) {
		w[i] = (struct writer){ .fd = fd, .id = first_id + i, .records = records };
		pthread_create(&w[i].thread, NULL, writer_main, &w[i]);
	}
	for (i = 0; i < threads; i++) {
		pthread_join(w[i].thread, NULL);
		errors += w[i].errors;
	}
	close(fd);
	return errors ? 1 : 0;
}

static int cmd_concurrent(int procs, int threads, int records)
{
	int writers = procs * threads, total = writers * records * RECORD;
	int fd = open_dev(), start[2], i, status, child_failed = 0;
	int next[64] = { 0 }, seen[64] = { 0 };
	static char buf[READ_LIMIT];
	pid_t pids[16];
	long n, off;

	if (writers > 64 || procs > 16 || threads > 16 || total > CAPACITY) {
		printf("bad arguments\n");
		return 2;
	}
	clear(fd);
	if (pipe(start) < 0)
		return 2;
	for (i = 0; i < procs; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(start[1]);
			_exit(process_main(i * threads, threads, records, start[0]));
		}
	}
	close(start[0]);
	/* Release every writer at once. */
	for (i = 0; i < procs; i++)
		if (write(start[1], "g", 1) != 1)
			return 2;
	close(start[1]);
	for (i = 0; i < procs; i++) {
		waitpid(pids[i], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			child_failed = 1;
	}
	if (child_failed)
		fail("some writes failed (see above); with %d bytes in total everything fits", total);

	n = read_upto(fd, buf, sizeof(buf), total);
	if (n < 0)
		return 1;
	if (n != total) {
		fail("%d writers x %d records x %d bytes: expected %d bytes in the device, "
		     "read %ld", writers, records, RECORD, total, n);
		if (n == 0)
			fail("hint: every writer opened the device itself; the data must be "
			     "shared by all open files, not kept per open file");
		else if (n < total)
			fail("hint: records were lost; is the buffer locked for the whole "
			     "append (check the free space, copy, update the length)?");
	}
	expect_len(fd, total, "after the concurrent writers");
	for (off = 0; off + RECORD <= n; off += RECORD) {
		char want[RECORD];
		int id, seq;

		if (sscanf(buf + off, "<w%d r%d", &id, &seq) != 2 || id < 0 || id >= writers ||
		    seq < 0 || seq >= records) {
			fail("bytes %ld..%ld are not a whole record: '%.31s' (records were split "
			     "or overwritten)", off, off + RECORD - 1, buf + off);
			break;
		}
		record(want, id, seq);
		if (memcmp(want, buf + off, RECORD)) {
			fail("record at byte %ld is torn: '%.31s', expected '%.31s'", off,
			     buf + off, want);
			break;
		}
		if (seq != next[id]) {
			fail("writer %d's record %d comes where its record %d was expected: "
			     "records of one writer must stay in order", id, seq, next[id]);
			break;
		}
		next[id]++;
		seen[id]++;
	}
	for (i = 0; i < writers && !failed; i++)
		if (seen[i] != records)
			fail("writer %d: %d of its %d records are in the device", i, seen[i],
			     records);
	expect_write(fd, 'x', 1, -1, ENOSPC, "1 byte into the device filled by the writers");
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
	if (!strcmp(cmd, "concurrent") && argc == 5)
		return cmd_concurrent(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: scratchtest clear|len|ioctl|offsets|bounds|concurrent P T R\n");
	return 2;
}
