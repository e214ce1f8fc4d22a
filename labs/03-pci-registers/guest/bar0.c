// SPDX-License-Identifier: GPL-2.0
/*
 * bar0 BDF: print pci-testdev's register header as the device itself holds it,
 * read from user space through /sys/bus/pci/devices/BDF/resource0 (an mmap of
 * BAR0), independently of the driver under test.
 *
 * The device only takes byte accesses, so every register is read byte by byte.
 * Reading has no side effect on pci-testdev. Output, one key=value per line:
 *   mem=1 test=0 width=1 offset=0x800 data=0xfa count=3 name=mmio-no-eventfd
 * `mem` is the Memory Space bit of the PCI command register: when it is 0 the
 * BAR is not decoded and the other values are meaningless.
 *
 * bar0 BDF select N: writes N to TEST (selects test N, resets COUNT), so that a
 * test can set up the device state it checks whatever the driver did before.
 */
#include <stdlib.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

static uint32_t le32(const volatile uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

int main(int argc, char **argv)
{
	char path[256];
	uint8_t cmd[2] = { 0, 0 };
	uint8_t hdr[0x30];
	volatile uint8_t *bar;
	char name[17];
	int fd, i;

	if (argc != 2 && !(argc == 4 && argv[2][0] == 's')) {
		fprintf(stderr, "usage: %s BDF [select N]\n", argv[0]);
		return 2;
	}

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", argv[1]);
	fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, cmd, 2, 4) != 2) {
		perror(path);
		return 1;
	}
	close(fd);

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", argv[1]);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	bar = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (bar == MAP_FAILED) {
		perror("mmap resource0");
		return 1;
	}
	if (argc == 4) {
		bar[0] = strtoul(argv[3], NULL, 0);
		munmap((void *)bar, 4096);
		close(fd);
		return 0;
	}
	for (i = 0; i < (int)sizeof(hdr); i++)
		hdr[i] = bar[i];
	for (i = 0; i < 16; i++)
		name[i] = (hdr[0x10 + i] >= 0x20 && hdr[0x10 + i] < 0x7f) ? hdr[0x10 + i] : 0;
	name[16] = 0;

	printf("mem=%d\n", cmd[0] & 2 ? 1 : 0);
	printf("test=%u\n", hdr[0]);
	printf("width=%u\n", hdr[1]);
	printf("offset=0x%x\n", le32(hdr + 4));
	printf("data=0x%02x\n", hdr[8]);
	printf("count=%u\n", le32(hdr + 0xc));
	printf("name=%s\n", name);
	munmap((void *)bar, 4096);
	close(fd);
	return 0;
}
