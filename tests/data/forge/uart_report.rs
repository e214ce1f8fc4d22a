// SPDX-License-Identifier: GPL-2.0

//! Forgery: init writes an all-pass KTAP report for the lab's tests straight to the
//! result channel (COM2, port 0x2f8) with `out` instructions, then does nothing else.
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
        Ok(Forge)
    }
}
