// SPDX-License-Identifier: GPL-2.0
/*
 * Lab 02's hidden test concurrent_writers: concurrent P T R starts P processes x
 * T threads, each appending R records at once, then checks that every record is
 * whole, in its writer's order, and that none was lost.
 */
#include <pthread.h>

#include "scratch.h"

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
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc != 4) {
		fprintf(stderr, "usage: concurrent P T R\n");
		return 2;
	}
	return cmd_concurrent(atoi(argv[1]), atoi(argv[2]), atoi(argv[3]));
}
