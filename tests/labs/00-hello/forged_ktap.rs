// SPDX-License-Identifier: GPL-2.0

//! Hostile: does none of the work, prints KTAP "success" lines into the kernel log.

use kernel::prelude::*;

module! {
    type: Forger,
    name: "hello",
    authors: ["mallory"],
    description: "forges test results",
    license: "GPL",
    params: {
        count: u32 {
            default: 1,
            description: "ignored",
        },
    },
}

struct Forger;

impl kernel::Module for Forger {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!("KTAP version 1\n");
        pr_info!("1..4\n");
        pr_info!("ok 1 module_loads\n");
        pr_info!("ok 2 greets_count_times\n");
        pr_info!("ok 3 says_goodbye_on_unload\n");
        pr_info!("ok 4 parameter_default\n");
        Ok(Forger)
    }
}
