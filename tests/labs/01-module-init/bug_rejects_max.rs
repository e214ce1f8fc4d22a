// SPDX-License-Identifier: GPL-2.0

//! Lab 01: module parameters, init that can fail, and exit.
//!
//! Seeded bug: an off-by-one range check rejects count=64, the largest valid value.
//!
//! The module generates `count` samples of an arithmetic sequence
//! (`start`, `start + step`, `start + 2 * step`, ...) into a kernel vector when
//! it is loaded, and releases them when it is unloaded.
//!
//! - `module!` declares the metadata that `modinfo` shows (author, description,
//!   license) and the typed parameters that `insmod` sets.
//! - `init` checks the parameters first. An `Err` from `init` makes `insmod`
//!   fail with that error code, and the kernel forgets the module: whatever
//!   `init` had allocated so far is dropped on the way out of the function.
//! - `Drop` is the module's exit: it runs at `rmmod`, and the kernel vector is
//!   freed right after it, when the fields of the module's state are dropped.

use kernel::prelude::*;

module! {
    type: ModInit,
    name: "modinit",
    authors: ["kdlab"],
    description: "kdlab lab 01: typed parameters, an init that can fail, and exit",
    license: "GPL",
    params: {
        count: u32 {
            default: 4,
            description: "Number of samples to generate (1 to 64)",
        },
        start: i64 {
            default: 0,
            description: "Value of the first sample",
        },
        step: i64 {
            default: 1,
            description: "Difference between two consecutive samples",
        },
        verbose: bool {
            default: false,
            description: "Print every sample at load time",
        },
    },
}

/// The largest accepted value of the `count` parameter.
const MAX_COUNT: u32 = 64;

/// The module's state, alive from a successful `init` until `rmmod`.
struct ModInit {
    /// The generated samples; the vector's memory is the resource this module holds.
    samples: KVec<i64>,
}

impl kernel::Module for ModInit {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // 1. Print "parameters: count=C start=S step=T verbose=V".
        // 2. Refuse a count outside 1..=MAX_COUNT with EINVAL.
        // 3. Generate the samples into a KVec; a sample that does not fit in an
        //    i64 makes init fail with EINVAL too (no panic!).
        // 4. With verbose, print "sample I = VALUE" for each sample.
        // 5. Print "ready with N samples".
        let count = module_parameters::count.value();
        let start = module_parameters::start.value();
        let step = module_parameters::step.value();
        let verbose = module_parameters::verbose.value();
        pr_info!(
            "parameters: count={} start={} step={} verbose={}\n",
            count,
            start,
            step,
            verbose
        );

        if count == 0 || count >= MAX_COUNT {
            pr_err!("count must be between 1 and {}, got {}\n", MAX_COUNT, count);
            return Err(EINVAL);
        }

        let mut samples = KVec::with_capacity(count as usize, GFP_KERNEL)?;
        for i in 0..count {
            // `start + step * i` with overflow checks: on failure, `samples`
            // is dropped (freed) as `init` returns.
            let Some(value) = step
                .checked_mul(i64::from(i))
                .and_then(|offset| start.checked_add(offset))
            else {
                pr_err!("sample {} does not fit in an i64\n", i);
                return Err(EINVAL);
            };
            samples.push(value, GFP_KERNEL)?;
            if verbose {
                pr_info!("sample {} = {}\n", i, value);
            }
        }

        pr_info!("ready with {} samples\n", samples.len());
        Ok(ModInit { samples })
    }
}

impl Drop for ModInit {
    fn drop(&mut self) {
        // Print "releasing N samples (last = X)". The vector itself is freed
        // after this function returns, when the fields are dropped.
        if let Some(last) = self.samples.last() {
            pr_info!(
                "releasing {} samples (last = {})\n",
                self.samples.len(),
                last
            );
        }
    }
}
