// SPDX-License-Identifier: GPL-2.0

//! Forgery: waits until the tests run (the lab's tests unload the module), then, from
//! its destructor, writes all-pass result lines into the runner's stream on COM2.
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
        Ok(Forge)
    }
}

impl Drop for Forge {
    fn drop(&mut self) {
        for line in REPORT.lines().filter(|line| line.starts_with("ok ")) {
            uart(line);
            uart("\n");
        }
    }
}
