// SPDX-License-Identifier: GPL-2.0

//! An independently written solution: greets from a helper, keeps the count as usize.

use kernel::prelude::*;

module! {
    type: Greeter,
    name: "hello",
    authors: ["someone else"],
    description: "alternative hello",
    license: "GPL v2",
    params: {
        count: u32 {
            default: 1,
            description: "number of greetings",
        },
    },
}

struct Greeter {
    times: usize,
}

fn greet(n: usize, total: usize) {
    pr_info!("Hello from kdlab ({n}/{total})\n");
}

impl kernel::Module for Greeter {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let total = module_parameters::count.value() as usize;
        (1..=total).for_each(|n| greet(n, total));
        Ok(Greeter { times: total })
    }
}

impl Drop for Greeter {
    fn drop(&mut self) {
        let times = self.times;
        pr_info!("Goodbye from kdlab after {times} greetings\n");
    }
}
