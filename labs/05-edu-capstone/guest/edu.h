// SPDX-License-Identifier: GPL-2.0
/*
 * What lab 05's guest helpers share: the ioctl interface of /dev/edu (see the
 * lab's README.md) and the DMA and comparison helpers. Included by guest/eductl.c
 * and by the hidden tests' helpers (hidden/*.c), which the grader compiles with
 * -I guest/.
 */
#ifndef EDU_H
#define EDU_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

struct edu_stats {
	uint32_t irqs;        /* interrupts handled (IRQ status was non-zero) */
	uint32_t fact_irqs;   /* ... whose status had the factorial bit 0x1 */
	uint32_t dma_irqs;    /* ... whose status had the DMA bit 0x100 */
	uint32_t raise_irqs;  /* ... whose status had any other bit */
	uint32_t last_status; /* IRQ status seen by the last interrupt */
	uint32_t irq_status;  /* IRQ_STATUS register now */
};

struct edu_dma {
	uint64_t buf;    /* user buffer */
	uint32_t offset; /* offset in the device's 4 KiB buffer */
	uint32_t len;    /* bytes; offset + len <= 4096 */
};

#define EDU_IOC_ID _IOR('E', 0x01, uint32_t)
#define EDU_IOC_LIVENESS _IOWR('E', 0x02, uint32_t)
#define EDU_IOC_FACTORIAL _IOWR('E', 0x03, uint32_t)
#define EDU_IOC_RAISE _IOW('E', 0x04, uint32_t)
#define EDU_IOC_STATS _IOR('E', 0x05, struct edu_stats)
#define EDU_IOC_DMA_WRITE _IOW('E', 0x06, struct edu_dma)
#define EDU_IOC_DMA_READ _IOW('E', 0x07, struct edu_dma)

#define EDU_ID 0x010000edu
#define BUF_SIZE 4096

static int fd = -1;

static inline void open_dev(void)
{
	fd = open("/dev/edu", O_RDWR);
	if (fd < 0) {
		printf("open(/dev/edu): %s\n", strerror(errno));
		if (errno == ENOENT)
			printf("hint: the module must register a misc device named \"edu\"\n");
		else if (errno == ENODEV)
			printf("hint: open() found no bound edu device (did probe succeed?)\n");
		exit(1);
	}
}

/*
 * Why the driver timed out waiting for an interrupt, from what the device and the
 * driver report afterwards. Every timeout used to get the same "is the handler
 * registered?", which sent a student without bus mastering off debugging a correct
 * handler; the three cases below have different causes. `enable` names what starts
 * the interrupt for this request (shown when the device raised nothing).
 */
static inline void explain_timeout(const char *enable)
{
	struct edu_stats s;

	if (ioctl(fd, EDU_IOC_STATS, &s) != 0) {
		printf("hint: the driver timed out waiting for the interrupt (and EDU_IOC_STATS "
		       "failed: %s)\n", strerror(errno));
		return;
	}
	if (s.irq_status != 0 && s.irqs == 0)
		printf("hint: the device raised the interrupt (IRQ_STATUS is 0x%x) but no handler "
		       "call has ever seen one: the interrupt never reached the CPU. An MSI is a "
		       "memory write by the device, like DMA, and a device may only make those "
		       "as a bus master: is pdev.set_master() called in probe? (Then: is a "
		       "vector allocated and the handler registered for it?)\n", s.irq_status);
	else if (s.irq_status != 0)
		printf("hint: the device raised the interrupt (IRQ_STATUS is 0x%x) and the "
		       "handler has run %u time(s), but not for this one: does it read IRQ_STATUS, "
		       "acknowledge, count this cause and wake the waiter?\n", s.irq_status,
		       s.irqs);
	else if (s.irqs == 0)
		printf("hint: the device raised no interrupt at all: %s\n", enable);
	else
		printf("hint: the handler has run %u time(s) (last status 0x%x) but the waiter was "
		       "not woken for this event: does the handler count this cause and notify "
		       "the waiter? (%s)\n", s.irqs, s.last_status, enable);
}

/* What makes the device interrupt, per request (for explain_timeout). */
#define ENABLE_FACT "write STATUS with bit 7 (0x80, irq_on_done) set before writing FACTORIAL"
#define ENABLE_RAISE "the value written to IRQ_RAISE (0x60) is ORed into IRQ_STATUS"
#define ENABLE_DMA "set DMA_CMD bit 2 (0x4) with start, and count IRQ status bit 0x100"

/* ioctl or exit(1) with a message naming the request. */
static inline void xioctl(unsigned long req, void *arg, const char *what)
{
	if (ioctl(fd, req, arg) == 0)
		return;
	printf("%s failed: %s\n", what, strerror(errno));
	if (errno == ETIMEDOUT)
		explain_timeout(req == EDU_IOC_RAISE ? ENABLE_RAISE : ENABLE_FACT);
	else if (errno == ENOTTY)
		printf("hint: ENOTTY: this operation is not implemented yet\n");
	exit(1);
}

static inline struct edu_stats stats(void)
{
	struct edu_stats s;

	xioctl(EDU_IOC_STATS, &s, "EDU_IOC_STATS");
	return s;
}

static inline uint32_t factorial(uint32_t n)
{
	uint32_t r = 1;

	while (n > 0)
		r *= n--;
	return r;
}

static uint32_t rng_state;

static inline uint32_t rng(void)
{
	/* xorshift32: deterministic patterns, reproducible failures */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static inline void pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	rng_state = seed * 2654435761u + 1;
	for (size_t i = 0; i < len; i++)
		buf[i] = rng() >> 24;
}

static inline int dma(unsigned long req, void *buf, uint32_t offset, uint32_t len)
{
	struct edu_dma d = { .buf = (uintptr_t)buf, .offset = offset, .len = len };

	return ioctl(fd, req, &d);
}

static inline void dma_write(const void *buf, uint32_t offset, uint32_t len)
{
	if (dma(EDU_IOC_DMA_WRITE, (void *)buf, offset, len) == 0)
		return;
	printf("EDU_IOC_DMA_WRITE (offset %u, %u bytes) failed: %s\n", offset, len,
	       strerror(errno));
	if (errno == ETIMEDOUT)
		explain_timeout(ENABLE_DMA);
	exit(1);
}

static inline void dma_read(void *buf, uint32_t offset, uint32_t len)
{
	if (dma(EDU_IOC_DMA_READ, buf, offset, len) == 0)
		return;
	printf("EDU_IOC_DMA_READ (offset %u, %u bytes) failed: %s\n", offset, len,
	       strerror(errno));
	if (errno == ETIMEDOUT)
		explain_timeout(ENABLE_DMA);
	exit(1);
}

/* Compares a read-back with what the device should hold; explains the first difference. */
static inline int compare(const char *what, const uint8_t *want, const uint8_t *got, uint32_t len)
{
	uint32_t bad = 0, first = 0, good_prefix = len;

	for (uint32_t i = 0; i < len; i++) {
		if (want[i] != got[i]) {
			if (!bad)
				first = i;
			bad++;
		}
	}
	if (!bad)
		return 0;
	for (uint32_t i = 0; i < len; i++) {
		if (want[i] != got[i]) {
			good_prefix = i;
			break;
		}
	}
	printf("%s: %u of %u bytes differ, first at byte %u (expected 0x%02x, got 0x%02x)\n",
	       what, bad, len, first, want[first], got[first]);
	if (good_prefix > 0 && good_prefix < len)
		printf("hint: the first %u bytes are right, the rest is not: is DMA_COUNT the "
		       "length in bytes?\n", good_prefix);
	return 1;
}

static inline int delta_eq(const char *what, uint32_t before, uint32_t after, uint32_t want,
		    const char *hint)
{
	if (after - before == want)
		return 0;
	printf("%s grew by %u, expected %u\n", what, after - before, want);
	if (hint)
		printf("hint: %s\n", hint);
	return 1;
}

static inline int status_clear(const struct edu_stats *s)
{
	if (s->irq_status == 0)
		return 0;
	printf("IRQ_STATUS (0x24) is 0x%x after the interrupts were handled, expected 0\n",
	       s->irq_status);
	printf("hint: the handler must acknowledge what it saw by writing those bits to "
	       "IRQ_ACK (0x64)\n");
	return 1;
}

#endif /* EDU_H */
