// SPDX-License-Identifier: GPL-2.0
/*
 * eductl: the guest-side test driver for lab 05 (edu capstone).
 *
 * Usage: eductl COMMAND [ARG]; each command is one check, prints what it
 * expected and what it saw when something is wrong, and exits 0 (ok) or 1.
 *
 * The ioctl interface of /dev/edu is in edu.h.
 */
#include "edu.h"

#include <sys/mman.h>

static int cmd_id(void)
{
	uint32_t id = 0;

	xioctl(EDU_IOC_ID, &id, "EDU_IOC_ID");
	if (id == EDU_ID)
		return 0;
	printf("ID: expected 0x%08x, got 0x%08x\n", EDU_ID, id);
	return 1;
}

static int cmd_liveness(void)
{
	uint32_t values[] = { 0, 1, 0xffffffff, 0x12345678, 0xdeadbeef, 0x80000000, 0, 0 };
	int bad = 0;

	rng_state = 0x5eed;
	values[6] = rng();
	values[7] = rng();
	for (unsigned int i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		uint32_t v = values[i];

		xioctl(EDU_IOC_LIVENESS, &v, "EDU_IOC_LIVENESS");
		if (v != ~values[i]) {
			printf("liveness(0x%08x): expected 0x%08x, got 0x%08x\n", values[i],
			       ~values[i], v);
			bad = 1;
		}
	}
	if (bad)
		printf("hint: write the value to LIVENESS (0x04), then read it back\n");
	return bad;
}

static int cmd_fact(void)
{
	/*
	 * 0..20 (n! wraps modulo 2^32 from 13 on, as on the device), then a large n: the
	 * device multiplies n times, so 20000000! takes it tens of milliseconds (the result
	 * is 0: 2^32 divides n! for n >= 34). Reading too early returns n itself.
	 */
	static const uint32_t big = 20000000;
	int bad = 0, early = 0;

	for (uint32_t n = 0; n <= 21; n++) {
		uint32_t arg = n <= 20 ? n : big, v = arg, want = factorial(arg <= 40 ? arg : 40);

		xioctl(EDU_IOC_FACTORIAL, &v, "EDU_IOC_FACTORIAL");
		if (v != want) {
			if (bad < 5)
				printf("factorial(%u): expected %u, got %u\n", arg, want, v);
			if (v == arg)
				early++;
			bad++;
		}
	}
	if (bad) {
		printf("%d of 22 factorials wrong\n", bad);
		if (early)
			printf("hint: %d results were n itself: FACTORIAL was read before the device "
			       "finished\n", early);
		printf("hint: the device computes in the background: read FACTORIAL only once "
		       "STATUS.computing (bit 0) is clear, e.g. after the completion interrupt\n");
	}
	return bad != 0;
}

static int cmd_fact_irqs(void)
{
	struct edu_stats a, b;
	uint32_t v;
	int bad = 0;

	a = stats();
	for (uint32_t n = 0; n <= 12; n++) {
		v = n;
		xioctl(EDU_IOC_FACTORIAL, &v, "EDU_IOC_FACTORIAL");
	}
	b = stats();
	bad |= delta_eq("fact_irqs", a.fact_irqs, b.fact_irqs, 13,
			"one interrupt per factorial: set STATUS bit 7 (0x80) before writing "
			"FACTORIAL, count IRQ status bit 0x1 once per interrupt");
	bad |= delta_eq("irqs", a.irqs, b.irqs, 13, NULL);
	bad |= delta_eq("raise_irqs", a.raise_irqs, b.raise_irqs, 0,
			"factorial interrupts must not count as raised ones: was an older "
			"raised bit never acknowledged?");
	bad |= delta_eq("dma_irqs", a.dma_irqs, b.dma_irqs, 0, NULL);
	bad |= status_clear(&b);
	if (b.last_status != 0x1) {
		printf("last interrupt status: expected 0x1 (factorial), got 0x%x\n",
		       b.last_status);
		bad = 1;
	}
	return bad;
}

static int cmd_raise(void)
{
	struct edu_stats a, b;
	int bad = 0;

	a = stats();
	for (int i = 0; i < 10; i++) {
		uint32_t bits = 1u << (16 + i);

		xioctl(EDU_IOC_RAISE, &bits, "EDU_IOC_RAISE");
	}
	b = stats();
	bad |= delta_eq("raise_irqs", a.raise_irqs, b.raise_irqs, 10,
			"count one raised interrupt for each interrupt whose status has bits "
			"other than 0x1 and 0x100");
	bad |= delta_eq("irqs", a.irqs, b.irqs, 10, NULL);
	bad |= delta_eq("fact_irqs", a.fact_irqs, b.fact_irqs, 0,
			"a raised interrupt is not a factorial: was the factorial bit 0x1 "
			"left unacknowledged?");
	bad |= delta_eq("dma_irqs", a.dma_irqs, b.dma_irqs, 0, NULL);
	bad |= status_clear(&b);
	if (b.last_status != 1u << 25) {
		printf("last interrupt status: expected 0x%x (the last value raised), got 0x%x\n",
		       1u << 25, b.last_status);
		if ((b.last_status & (1u << 25)) && b.last_status != (1u << 25))
			printf("hint: older bits are still set in IRQ_STATUS: acknowledge them "
			       "(IRQ_ACK, 0x64)\n");
		bad = 1;
	}
	return bad;
}

static int cmd_dma(void)
{
	static uint8_t a[BUF_SIZE], b[1024], c[512], want[BUF_SIZE], got[BUF_SIZE];
	int bad = 0;

	pattern(a, sizeof(a), 1);
	pattern(b, sizeof(b), 2);
	pattern(c, sizeof(c), 3);
	dma_write(a, 0, BUF_SIZE);
	dma_write(b, 1024, sizeof(b));
	dma_write(c, BUF_SIZE - sizeof(c), sizeof(c));
	memcpy(want, a, BUF_SIZE);
	memcpy(want + 1024, b, sizeof(b));
	memcpy(want + BUF_SIZE - sizeof(c), c, sizeof(c));

	memset(got, 0, sizeof(got));
	dma_read(got, 0, BUF_SIZE);
	bad |= compare("4096-byte read at offset 0 (after writes of 4096 bytes at 0, 1024 at "
		       "1024, 512 at 3584)", want, got, BUF_SIZE);
	if (bad) {
		static const uint8_t zeros[BUF_SIZE];

		if (!memcmp(got, zeros, BUF_SIZE))
			printf("hint: all zeros, what the device buffer holds before any write: did "
			       "the writes reach the device? DMA_CMD bit 1 (0x2) must be clear for "
			       "RAM -> device\n");
		/* What a bounce buffer still holds if the read moved nothing into it. */
		else if (!memcmp(got, c, sizeof(c)))
			printf("hint: the start of the result holds your last DMA write, which is "
			       "what the bounce buffer held before the read: the read brought "
			       "nothing from the device. Does it run a device -> RAM transfer "
			       "(DMA_CMD bit 1, 0x2, set) and wait for it before copying out?\n");
		return 1;
	}

	memset(got, 0, sizeof(got));
	dma_read(got, 1000, 100);
	bad |= compare("100-byte read at offset 1000", want + 1000, got, 100);
	return bad;
}

static int cmd_dma_irqs(void)
{
	static uint8_t buf[256];
	struct edu_stats a, b;
	int bad = 0;

	pattern(buf, sizeof(buf), 4);
	a = stats();
	dma_write(buf, 0, sizeof(buf));
	dma_read(buf, 0, sizeof(buf));
	b = stats();
	if (b.dma_irqs - a.dma_irqs < 2) {
		struct edu_stats later;

		usleep(300 * 1000); /* three transfers' time */
		later = stats();
		if (later.dma_irqs != b.dma_irqs) {
			printf("dma_irqs grew by %u while the two transfers ran, by %u after they "
			       "had returned\n", b.dma_irqs - a.dma_irqs, later.dma_irqs - b.dma_irqs);
			printf("hint: the DMA ioctls returned before their transfers were done: "
			       "wait for the completion interrupt before returning (and before "
			       "touching the bounce buffer)\n");
			return 1;
		}
	}
	bad |= delta_eq("dma_irqs", a.dma_irqs, b.dma_irqs, 2,
			"one interrupt per transfer: set DMA_CMD bit 2 (0x4), count IRQ status "
			"bit 0x100");
	bad |= delta_eq("irqs", a.irqs, b.irqs, 2, NULL);
	bad |= delta_eq("fact_irqs", a.fact_irqs, b.fact_irqs, 0, NULL);
	bad |= delta_eq("raise_irqs", a.raise_irqs, b.raise_irqs, 0, NULL);
	bad |= status_clear(&b);
	if (b.last_status != 0x100) {
		printf("last interrupt status: expected 0x100 (DMA), got 0x%x\n", b.last_status);
		bad = 1;
	}
	return bad;
}

/* One worker of the concurrency test: factorials and liveness checks, or raises. */
static int worker(int id, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		uint32_t n = (i + id * 5) % 13, v = n, l = 0x1000 * id + i;

		if (id == 2) {
			uint32_t bits = 1u << (16 + i % 8);

			xioctl(EDU_IOC_RAISE, &bits, "EDU_IOC_RAISE");
			continue;
		}
		xioctl(EDU_IOC_FACTORIAL, &v, "EDU_IOC_FACTORIAL");
		if (v != factorial(n)) {
			printf("process %d: factorial(%u): expected %u, got %u\n", id, n,
			       factorial(n), v);
			return 1;
		}
		v = l;
		xioctl(EDU_IOC_LIVENESS, &v, "EDU_IOC_LIVENESS");
		if (v != ~l) {
			printf("process %d: liveness(0x%x): expected 0x%x, got 0x%x\n", id, l, ~l,
			       v);
			return 1;
		}
	}
	return 0;
}

/*
 * A factorial asked for while another process's 20000000! keeps the factorial unit
 * busy (tens of milliseconds, the other process asleep in the driver): without a
 * lock across write, wait and read, the busy device ignores the second write and
 * both wake on the first result. The free-running workers below collide only when
 * the scheduler happens to interleave them; this collides every time.
 */
static int overlapping_factorials(void)
{
	for (int round = 0; round < 3; round++) {
		uint32_t v = 5;
		int st;
		pid_t big;

		fflush(stdout);
		big = fork();
		if (big == 0) {
			uint32_t n = 20000000;

			xioctl(EDU_IOC_FACTORIAL, &n, "EDU_IOC_FACTORIAL");
			if (n != 0)
				printf("process 1: factorial(20000000): expected 0, got %u\n", n);
			_exit(n != 0);
		}
		usleep(3000); /* the other process is now waiting for its result */
		xioctl(EDU_IOC_FACTORIAL, &v, "EDU_IOC_FACTORIAL");
		waitpid(big, &st, 0);
		if (v != 120)
			printf("process 2: factorial(5) while process 1's factorial(20000000) was "
			       "computing: expected 120, got %u\n", v);
		if (v != 120 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			return 1;
	}
	return 0;
}

static int cmd_concurrent(void)
{
	const int rounds = 60;
	struct edu_stats a, b;
	int bad = 0;
	pid_t pids[3];

	a = stats();
	bad = overlapping_factorials();
	for (int id = 0; id < 3; id++) {
		pids[id] = fork();
		if (pids[id] == 0) {
			fflush(stdout);
			_exit(worker(id, rounds));
		}
	}
	for (int id = 0; id < 3; id++) {
		int st;

		waitpid(pids[id], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad = 1;
	}
	fflush(stdout);
	if (bad)
		printf("hint: three processes used /dev/edu at once: a result that is n itself "
		       "was read too early; one that belongs to another request means operations "
		       "interleaved: hold a mutex across write, wait and read\n");
	b = stats();
	bad |= delta_eq("fact_irqs", a.fact_irqs, b.fact_irqs, 2 * rounds + 6,
			"each factorial's interrupt counted exactly once");
	bad |= delta_eq("raise_irqs", a.raise_irqs, b.raise_irqs, rounds,
			"each raised interrupt counted exactly once");
	bad |= status_clear(&b);
	return bad;
}

/* Fills the device buffer with a pattern (before a reload). */
static int cmd_dma_fill(uint32_t seed)
{
	static uint8_t buf[BUF_SIZE];

	pattern(buf, sizeof(buf), seed);
	dma_write(buf, 0, BUF_SIZE);
	return 0;
}

/* Checks the device buffer still holds the pattern (after a reload). */
static int cmd_dma_check(uint32_t seed)
{
	static uint8_t want[BUF_SIZE], got[BUF_SIZE];

	pattern(want, sizeof(want), seed);
	memset(got, 0, sizeof(got));
	dma_read(got, 0, BUF_SIZE);
	if (!compare("device buffer after the module was reloaded", want, got, BUF_SIZE))
		return 0;
	printf("hint: the device keeps its buffer across a reload, only a DMA that really "
	       "reached it can be read back: check DMA_CMD's direction bit (0x2) for both "
	       "transfers and DMA_COUNT\n");
	return 1;
}

static int cmd_dma_range(void)
{
	static uint8_t buf[BUF_SIZE];
	static const struct {
		unsigned long req;
		const char *name;
		uint32_t offset, len;
	} bad_req[] = {
		/*
		 * Small overruns only, reads first: a driver that does not check makes QEMU's
		 * edu copy past its 4 KiB buffer (into its DMA mask, right behind it).
		 */
		{ EDU_IOC_DMA_READ, "EDU_IOC_DMA_READ", 4090, 8 },
		{ EDU_IOC_DMA_READ, "EDU_IOC_DMA_READ", 4096, 4 },
		{ EDU_IOC_DMA_WRITE, "EDU_IOC_DMA_WRITE", 4092, 8 },
	};
	int bad = 0;

	pattern(buf, sizeof(buf), 5);
	dma_write(buf, 4095, 1);
	dma_read(buf, 4095, 1);
	for (unsigned int i = 0; i < sizeof(bad_req) / sizeof(bad_req[0]); i++) {
		int rc = dma(bad_req[i].req, buf, bad_req[i].offset, bad_req[i].len);

		if (rc == 0 || errno != EINVAL) {
			printf("%s of %u bytes at offset %u: expected EINVAL, got %s\n",
			       bad_req[i].name, bad_req[i].len, bad_req[i].offset,
			       rc == 0 ? "success" : strerror(errno));
			bad = 1;
		}
	}
	if (bad)
		printf("hint: the device copies whatever range it is given; reject offset + len "
		       "> 4096 before programming the DMA engine\n");
	return bad;
}

/*
 * reg SYSFS-DIR OFFSET [VALUE]: reads one 32-bit register of BAR0 (prints it as
 * 0x...) or writes VALUE to it, through SYSFS-DIR/resource0: the device as user
 * space sees it, without /dev/edu, so that a test can set up and check the
 * device's state around an unbind whatever the driver under test does.
 */
static int cmd_reg(int argc, char **argv)
{
	char path[300];
	volatile uint32_t *bar;
	uint32_t off;
	int bar_fd;

	if (argc < 4) {
		printf("usage: eductl reg SYSFS-DIR OFFSET [VALUE]\n");
		return 2;
	}
	off = strtoul(argv[3], NULL, 0);
	snprintf(path, sizeof(path), "%s/resource0", argv[2]);
	bar_fd = open(path, O_RDWR | O_SYNC);
	if (bar_fd < 0) {
		printf("open(%s): %s\n", path, strerror(errno));
		return 1;
	}
	bar = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, bar_fd, 0);
	if (bar == MAP_FAILED) {
		printf("mmap(%s): %s\n", path, strerror(errno));
		return 1;
	}
	if (argc > 4)
		bar[off / 4] = strtoul(argv[4], NULL, 0);
	else
		printf("0x%x\n", bar[off / 4]);
	munmap((void *)bar, 4096);
	close(bar_fd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	uint32_t arg = argc > 2 ? strtoul(argv[2], NULL, 0) : 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "reg"))
		return cmd_reg(argc, argv);
	open_dev();
	if (!strcmp(cmd, "open"))
		return 0;
	if (!strcmp(cmd, "id"))
		return cmd_id();
	if (!strcmp(cmd, "liveness"))
		return cmd_liveness();
	if (!strcmp(cmd, "fact"))
		return cmd_fact();
	if (!strcmp(cmd, "fact-irqs"))
		return cmd_fact_irqs();
	if (!strcmp(cmd, "raise"))
		return cmd_raise();
	if (!strcmp(cmd, "dma"))
		return cmd_dma();
	if (!strcmp(cmd, "dma-irqs"))
		return cmd_dma_irqs();
	if (!strcmp(cmd, "concurrent"))
		return cmd_concurrent();
	if (!strcmp(cmd, "dma-fill"))
		return cmd_dma_fill(arg);
	if (!strcmp(cmd, "dma-check"))
		return cmd_dma_check(arg);
	if (!strcmp(cmd, "dma-range"))
		return cmd_dma_range();
	printf("usage: eductl open|id|liveness|fact|fact-irqs|raise|dma|dma-irqs|concurrent|"
	       "dma-fill SEED|dma-check SEED|dma-range|reg SYSFS-DIR OFFSET [VALUE]\n");
	return 2;
}
