// SPDX-License-Identifier: GPL-2.0
/*
 * Lab 05's hidden test repeated_dma: several DMA round trips of different
 * offsets and lengths through /dev/edu.
 */
#include "edu.h"

static int cmd_dma_repeat(void)
{
	static const uint32_t req[][2] = { { 17, 333 }, { 2048, 2048 }, { 4000, 96 } };
	static uint8_t out[BUF_SIZE], in[BUF_SIZE];
	int bad = 0;

	for (unsigned int i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
		uint32_t off = req[i][0], len = req[i][1];
		char what[80];

		pattern(out, len, 10 + i);
		memset(in, 0xa5, sizeof(in));
		dma_write(out, off, len);
		dma_read(in, off, len);
		snprintf(what, sizeof(what), "round %u: %u bytes at offset %u", i + 1, len, off);
		if (compare(what, out, in, len))
			return 1;
	}
	return bad;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	open_dev();
	return cmd_dma_repeat();
}
