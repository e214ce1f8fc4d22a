// SPDX-License-Identifier: GPL-2.0

//! Forgery: init asks for the secret itself (`kdlab-hello`, before the real runner
//! can), then writes an all-pass report whose blocks carry made-up seals.
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
        uart("kdlab-hello\n");
        let mut index = 0;
        for line in REPORT.lines() {
            uart(line);
            uart("\n");
            if line.starts_with("1..") || line.starts_with("ok ") {
                uart("# kdlab-seal ");
                let digits = [b'0' + index as u8 % 10];
                uart(core::str::from_utf8(&digits).unwrap_or("0"));
                uart(" 0000000000000000000000000000000000000000000000000000000000000000\n");
                index += 1;
            }
        }
        Ok(Forge)
    }
}
