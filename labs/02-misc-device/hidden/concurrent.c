// SPDX-License-Identifier: GPL-2.0
/*
 * Lab 02's hidden test concurrent_writers, in two phases.
 *
 * Rounds: writer threads, each with its own open file, offer far more than the
 * capacity at once on an emptied device; after each round the device holds at
 * most its capacity, every stored record is whole, each writer's accepted records
 * are there in order and its refused ones are not, and accepted + refused bytes
 * add up to what was offered.
 *
 * Race hunt: a write that checks the free space under the lock, drops the lock to
 * copy from user space, then appends without checking again (check-then-act)
 * overflows the buffer when another write fills it in that gap. The course kernel
 * has one CPU and preempts kernel code only for real-time tasks, so ordinary
 * threads never land in each other's gap. Here ordinary writers append without
 * pause (emptying the device when it is full), and a SCHED_FIFO thread wakes at
 * every timer tick, preempting whichever writer runs, wherever it is, and fills
 * the device exactly to its capacity. When the preempted writer was in the gap,
 * its append then goes past the capacity, which the next SCRATCH_GET_LEN shows.
 * A correct driver holds the lock across check, copy and append: the real-time
 * thread then waits for the lock, and the writer appends before the device fills.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "scratch.h"

#define WRITERS 4            /* writer threads */
#define RECORDS 40           /* records offered by each writer per round */
#define MAX_RECORD 160
#define ROUNDS 4
#define HUNT_TICKS 60        /* timer ticks the race hunt lasts at most (0.24 s at HZ=250) */

enum outcome { NOT_RUN, ACCEPTED, REFUSED, OTHER };

static unsigned char outcome[WRITERS][RECORDS];
static char error[WRITERS][96];
static pthread_barrier_t start;
static atomic_int done;
static atomic_long overflow; /* a length above the capacity, seen during the hunt */

/* The record seq of writer id: its length, and its bytes "<wII rSSSS LLL ...>\n". */
static int record(char *out, int id, int seq)
{
	int len = 32 + (id * 37 + seq * 53) % (MAX_RECORD - 32 + 1);
	char head[32];
	int n = snprintf(head, sizeof(head), "<w%02d r%04d %03d ", id, seq, len);

	memcpy(out, head, n);
	memset(out + n, 'a' + (id + seq) % 26, len - n - 2);
	out[len - 2] = '>';
	out[len - 1] = '\n';
	return len;
}

static void offer(int fd, int id, int seq)
{
	char rec[MAX_RECORD];
	int len = record(rec, id, seq);
	ssize_t n = write(fd, rec, len);

	if (n == len) {
		outcome[id][seq] = ACCEPTED;
	} else if (n < 0 && errno == ENOSPC) {
		outcome[id][seq] = REFUSED;
	} else {
		outcome[id][seq] = OTHER;
		snprintf(error[id], sizeof(error[id]), "write of %d bytes returned %zd (%s)", len,
			 n, n < 0 ? strerror(errno) : "a short write");
	}
}

static void *writer_main(void *arg)
{
	int id = (int)(long)arg, fd = open_dev();

	pthread_barrier_wait(&start);
	for (int seq = 0; seq < RECORDS; seq++)
		offer(fd, id, seq);
	close(fd);
	return NULL;
}

/* One round: the writers, released together. */
static void run_round(void)
{
	pthread_t threads[WRITERS];

	memset(outcome, 0, sizeof(outcome));
	pthread_barrier_init(&start, NULL, WRITERS);
	for (long id = 0; id < WRITERS; id++)
		pthread_create(&threads[id], NULL, writer_main, (void *)id);
	for (int id = 0; id < WRITERS; id++)
		pthread_join(threads[id], NULL);
	pthread_barrier_destroy(&start);
}

/* Checks what the device holds after a round against what the writers were told. */
static void check_round(int fd, int round)
{
	static char buf[READ_LIMIT];
	long accepted = 0, refused = 0, total = 0, len, n, off = 0;
	int next[WRITERS] = { 0 };
	char rec[MAX_RECORD];

	for (int id = 0; id < WRITERS; id++) {
		for (int seq = 0; seq < RECORDS; seq++) {
			int size = record(rec, id, seq);

			total += size;
			if (outcome[id][seq] == ACCEPTED)
				accepted += size;
			else if (outcome[id][seq] == REFUSED)
				refused += size;
			else
				fail("round %d, writer %d: %s; a write either fits whole or fails "
				     "with ENOSPC", round, id, error[id]);
		}
	}
	if (failed)
		return;
	len = get_len(fd);
	if (len < 0)
		return;
	if (len > CAPACITY) {
		fail("round %d: the device holds %ld bytes (SCRATCH_GET_LEN), more than its "
		     "capacity of %d", round, len, CAPACITY);
		return;
	}
	if (len != accepted) {
		fail("round %d: the writers were told %ld bytes were stored (the writes that "
		     "returned their length; %ld bytes were refused, %ld offered), "
		     "SCRATCH_GET_LEN says %ld", round, accepted, refused, total, len);
		if (len == 0)
			fail("hint: every writer opened the device itself; the data must be "
			     "shared by all open files, not kept per open file");
		return;
	}
	n = read_upto(fd, buf, sizeof(buf), len);
	if (n != len) {
		if (n >= 0)
			fail("round %d: read returned %ld bytes, SCRATCH_GET_LEN says %ld", round,
			     n, len);
		return;
	}
	while (off < n && !failed) {
		int id, seq, size;

		if (sscanf(buf + off, "<w%d r%d %d ", &id, &seq, &size) != 3 || id < 0 ||
		    id >= WRITERS || seq < 0 || seq >= RECORDS || off + size > n ||
		    record(rec, id, seq) != size || memcmp(rec, buf + off, size)) {
			fail("round %d: bytes from %ld on are not a whole record: '%.24s...' "
			     "(records were split or overwritten)", round, off, buf + off);
			break;
		}
		while (next[id] < seq && outcome[id][next[id]] == REFUSED)
			next[id]++;
		if (seq != next[id] || outcome[id][seq] != ACCEPTED) {
			fail("round %d: writer %d's record %d is at byte %ld, but %s", round, id,
			     seq, off, outcome[id][seq] != ACCEPTED ? "its write was refused" :
			     "an earlier accepted record of that writer is missing or comes later");
			break;
		}
		next[id]++;
		off += size;
	}
}

/* SCRATCH_GET_LEN; a length above the capacity is kept in `overflow`. */
static void note_len(int fd)
{
	long len = get_len(fd);

	if (len > CAPACITY)
		atomic_store(&overflow, len);
}

/* An ordinary writer of the hunt: appends without pause, empties a full device. */
static void *hunter_main(void *arg)
{
	int id = (int)(long)arg, fd = open_dev();
	char rec[MAX_RECORD];

	pthread_barrier_wait(&start);
	/*
	 * The length is looked at before every write, and an overflow stops every writer:
	 * a racy driver's next free-space check would go below zero and panic, which
	 * would tell the student less than the message below.
	 */
	for (int seq = 0; !atomic_load(&done); seq++) {
		int len = record(rec, id, seq % RECORDS);
		ssize_t n;

		note_len(fd);
		if (atomic_load(&overflow))
			break;
		n = write(fd, rec, len);
		if (n == len) {
			continue;
		} else if (n < 0 && errno == ENOSPC) {
			clear(fd);
		} else {
			fail("race hunt, writer %d: write of %d bytes returned %zd (%s)", id, len, n,
			     n < 0 ? strerror(errno) : "a short write");
			break;
		}
	}
	close(fd);
	return NULL;
}

/* The real-time thread of the hunt: at every tick, fills the device to its capacity. */
static void *filler_main(void *arg)
{
	static char fill[CAPACITY];
	struct timespec nap = { .tv_nsec = 1000 }; /* until the next tick */
	int fd = open_dev();

	(void)arg;
	memset(fill, '.', sizeof(fill));
	pthread_barrier_wait(&start);
	for (int tick = 0; tick < HUNT_TICKS && !atomic_load(&overflow) && !failed; tick++) {
		long len;

		clock_nanosleep(CLOCK_MONOTONIC, 0, &nap, NULL);
		len = get_len(fd);
		if (len > CAPACITY)
			atomic_store(&overflow, len);
		else if (len >= 0 && len < CAPACITY && write(fd, fill, CAPACITY - len) < 0 &&
			 errno != ENOSPC)
			fail("race hunt: write of %ld bytes returned -1 (%s)", CAPACITY - len,
			     strerror(errno));
	}
	atomic_store(&done, 1);
	close(fd);
	return NULL;
}

static void hunt_race(void)
{
	struct sched_param prio = { .sched_priority = 10 };
	pthread_t threads[WRITERS + 1];
	pthread_attr_t rt;

	pthread_barrier_init(&start, NULL, WRITERS + 1);
	pthread_attr_init(&rt);
	pthread_attr_setinheritsched(&rt, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&rt, SCHED_FIFO);
	pthread_attr_setschedparam(&rt, &prio);
	if (pthread_create(&threads[WRITERS], &rt, filler_main, NULL) != 0) {
		printf("cannot start a SCHED_FIFO thread (lab setup problem)\n");
		exit(2);
	}
	for (long id = 0; id < WRITERS; id++)
		pthread_create(&threads[id], NULL, hunter_main, (void *)id);
	for (int id = 0; id <= WRITERS; id++)
		pthread_join(threads[id], NULL);
	pthread_barrier_destroy(&start);
	if (atomic_load(&overflow)) {
		fail("writers racing on a nearly full device: SCRATCH_GET_LEN said %ld bytes, "
		     "more than the capacity of %d", atomic_load(&overflow), CAPACITY);
		fail("hint: a write passed the free-space check, then another write filled the "
		     "device before the first appended: check the free space, copy and append "
		     "under one lock, without dropping it in between");
	}
}

int main(void)
{
	int fd;

	setvbuf(stdout, NULL, _IONBF, 0);
	fd = open_dev();
	for (int round = 1; round <= ROUNDS && !failed; round++) {
		clear(fd);
		run_round();
		check_round(fd, round);
	}
	if (!failed)
		hunt_race();
	close(fd);
	return failed;
}
