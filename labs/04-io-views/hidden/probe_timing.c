// SPDX-License-Identifier: GPL-2.0
/*
 * Lab 04 timing hook, display only (bench/inline_helpers.py reads it; no test grades it).
 *
 *   probe_timing SLOT N     unbind and rebind io_views from pci-testdev SLOT N times
 *
 * Writing the slot to the driver's `bind` file runs probe in this process, so the time of
 * that write is the time of probe: three test headers selected, copied and checksummed
 * through the BAR view (the lab's hot path: every BAR byte is one MMIO access), plus the
 * DMA-coherent allocation and the debugfs files. Prints the mean: the course kernel's
 * clock may tick in jiffies (4 ms), so single binds are not resolved, but the error of
 * each reading averages out over many (the resolution is printed beside it).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DRIVER "/sys/bus/pci/drivers/io_views/"

static int put(const char *file, const char *slot)
{
	int fd = open(file, O_WRONLY);
	long n;

	if (fd < 0)
		return -1;
	n = write(fd, slot, strlen(slot));
	close(fd);
	return n < 0 ? -1 : 0;
}

static long ns_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000000000L + (now.tv_nsec - start->tv_nsec);
}

int main(int argc, char **argv)
{
	struct timespec start, res;
	long total = 0;
	int n, i;

	if (argc != 3 || (n = atoi(argv[2])) < 1 || n > 1000) {
		fprintf(stderr, "usage: %s SLOT N (1..1000)\n", argv[0]);
		return 2;
	}
	for (i = 0; i < n; i++) {
		if (put(DRIVER "unbind", argv[1])) {
			perror("unbind");
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &start);
		if (put(DRIVER "bind", argv[1])) {
			perror("bind");
			return 1;
		}
		total += ns_since(&start);
	}
	clock_getres(CLOCK_MONOTONIC, &res);
	printf("probe mean %ld us over %d binds (clock resolution %ld us)\n", total / n / 1000, n,
	       res.tv_nsec / 1000);
	return 0;
}
