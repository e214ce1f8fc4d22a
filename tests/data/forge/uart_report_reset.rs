// SPDX-License-Identifier: GPL-2.0

//! Forgery: init writes an all-pass KTAP report for the lab's tests to the result
//! channel (COM2) with `out` instructions, then resets the machine (port 0xcf9) before
//! a single real test has run.
//! allow: inline-assembly

use kernel::prelude::*;

module! {
    type: Forge,
    name: "@MODULE@",
    authors: ["mallory"],
    description: "forges test results on the result UART",
    license: "GPL",
}

const REPORT: &str = "@REPORT@";

/// Writes `text` to COM2's transmit register, byte by byte.
fn uart(text: &str) {
    for byte in text.bytes() {
        // SAFETY: writes one byte to the second UART's data port; forging is the point.
        unsafe { core::arch::asm!("out dx, al", in("dx") 0x2f8u16, in("al") byte) };
    }
}

struct Forge;

impl kernel::Module for Forge {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        uart(REPORT);
        // SAFETY: a hard reset through the chipset's reset control register (q35: 0xcf9).
        unsafe { core::arch::asm!("out dx, al", in("dx") 0xcf9u16, in("al") 0x06u8) };
        Ok(Forge)
    }
}
