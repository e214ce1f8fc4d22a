// SPDX-License-Identifier: GPL-2.0

//! Hostile submission for lab 00: floods the kernel log from init.
//!
//! Init prints without end; every message goes to the serial console (the guest
//! init sets the console log level to 8). The grader must stop the guest, keep a
//! bounded log and give 0 with the reason.

use kernel::prelude::*;

module! {
    type: Hello,
    name: "hello",
    authors: ["kdlab"],
    description: "kdlab lab 00: printk flood",
    license: "GPL",
    params: {
        count: u32 {
            default: 1,
            description: "How many times to greet",
        },
    },
}

struct Hello;

impl kernel::Module for Hello {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut i: u64 = 0;
        loop {
            pr_info!("flood {} ........................................................\n", i);
            i = i.wrapping_add(1);
        }
    }
}
