// SPDX-License-Identifier: GPL-2.0
/*
 * Lab 05's hidden test repeated_dma: DMA writes and reads of different offsets
 * and lengths through /dev/edu, each read checked against a model of what the
 * device's 4 KiB buffer must hold.
 *
 * A read never asks for what the transfer just before it moved: the driver's
 * bounce buffer then holds other bytes (the last write's data, or an earlier
 * read's), so a driver that copies its bounce buffer out without running the
 * device -> RAM transfer fails here, whereas a round trip of one offset and
 * length would hand the same bytes back and pass. The user buffer is poisoned
 * before every read.
 */
#include "edu.h"

struct step {
	char op;          /* 'w': DMA write (RAM -> device), 'r': DMA read and compare */
	uint32_t off, len;
};

static const struct step steps[] = {
	{ 'w', 0, BUF_SIZE },   /* known contents everywhere */
	{ 'w', 17, 333 },
	{ 'w', 2048, 2048 },    /* the bounce buffer now holds this write's data */
	{ 'r', 17, 333 },       /* ... which is not what lies at 17 */
	{ 'w', 4000, 96 },
	{ 'r', 300, 1900 },     /* across the first two writes */
	{ 'r', 3990, 106 },     /* across the last two, up to the end of the buffer */
	{ 'r', 0, BUF_SIZE },
};

int main(void)
{
	static uint8_t model[BUF_SIZE], out[BUF_SIZE], in[BUF_SIZE];

	setvbuf(stdout, NULL, _IOLBF, 0);
	open_dev();
	for (unsigned int i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const struct step *s = &steps[i];
		char what[96];

		if (s->op == 'w') {
			pattern(out, s->len, 10 + i);
			dma_write(out, s->off, s->len);
			memcpy(model + s->off, out, s->len);
			continue;
		}
		memset(in, 0xa5, sizeof(in));
		dma_read(in, s->off, s->len);
		snprintf(what, sizeof(what), "step %u: read of %u bytes at offset %u", i + 1,
			 s->len, s->off);
		if (compare(what, model + s->off, in, s->len)) {
			printf("hint: each read must run a device -> RAM transfer (DMA_CMD bit 1 "
			       "set) of exactly that offset and length before copying the bounce "
			       "buffer out\n");
			return 1;
		}
	}
	return 0;
}
