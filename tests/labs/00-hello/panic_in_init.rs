// SPDX-License-Identifier: GPL-2.0

//! Lab 00: hello, kernel.
//!
//! The smallest useful Rust kernel module: the `module!` macro declares the
//! module's metadata and its typed parameters, `init` runs when the module is
//! loaded and `Drop` when it is unloaded.

use kernel::prelude::*;

module! {
    type: Hello,
    name: "hello",
    authors: ["kdlab"],
    description: "kdlab lab 00: hello, kernel",
    license: "GPL",
    params: {
        count: u32 {
            default: 1,
            description: "How many times to greet",
        },
    },
}

/// The module's state, alive from a successful `init` until unload.
struct Hello {
    /// How many greetings `init` printed, so that `drop` can say goodbye as often.
    greeted: u32,
}

impl kernel::Module for Hello {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // Print "Hello from kdlab (i/count)" once for each i in 1..=count,
        // then keep `count` in the module's state.
        let count = module_parameters::count.value();
        if count == 3 {
            panic!("kdlab test: deliberate panic in init");
        }
        for i in 1..=count {
            pr_info!("Hello from kdlab ({}/{})\n", i, count);
        }
        Ok(Hello { greeted: count })
    }
}

impl Drop for Hello {
    fn drop(&mut self) {
        // Say "Goodbye from kdlab after N greetings" on unload.
        pr_info!("Goodbye from kdlab after {} greetings\n", self.greeted);
    }
}
