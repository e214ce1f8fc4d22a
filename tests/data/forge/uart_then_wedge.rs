// SPDX-License-Identifier: GPL-2.0

//! Forgery: init writes an all-pass report to COM2, then wedges the guest (spins with
//! interrupts off), so nothing real ever reports and the host has to stop the VM.
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
        // SAFETY: interrupts off for good; the loop below never ends.
        unsafe { core::arch::asm!("cli") };
        loop {
            core::hint::spin_loop();
        }
    }
}
