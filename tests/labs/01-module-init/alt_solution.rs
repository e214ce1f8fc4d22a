// SPDX-License-Identifier: GPL-2.0

//! Alternative solution to lab 01: validation in a separate function, the
//! sequence built by repeated checked addition, and the count kept apart.

use kernel::prelude::*;

module! {
    type: Sequence,
    name: "modinit",
    authors: ["A. Student", "kdlab"],
    description: "Arithmetic sequence generator (alternative lab 01 solution)",
    license: "GPL",
    params: {
        count: u32 {
            default: 4,
            description: "how many values (1..64)",
        },
        start: i64 {
            default: 0,
            description: "first value",
        },
        step: i64 {
            default: 1,
            description: "increment",
        },
        verbose: bool {
            default: false,
            description: "log each value",
        },
    },
}

struct Sequence {
    values: KVec<i64>,
    count: usize,
}

fn check_count(count: u32) -> Result<usize> {
    match count {
        1..=64 => Ok(count as usize),
        _ => {
            pr_warn!("invalid count {}\n", count);
            Err(EINVAL)
        }
    }
}

fn build(count: usize, start: i64, step: i64, verbose: bool) -> Result<KVec<i64>> {
    let mut values = KVec::new();
    let mut next = start;
    for index in 0..count {
        if index > 0 {
            next = next.checked_add(step).ok_or(EINVAL)?;
        }
        values.push(next, GFP_KERNEL)?;
        if verbose {
            pr_info!("sample {} = {}\n", index, next);
        }
    }
    Ok(values)
}

impl kernel::Module for Sequence {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let (count, start, step, verbose) = (
            module_parameters::count.value(),
            module_parameters::start.value(),
            module_parameters::step.value(),
            module_parameters::verbose.value(),
        );
        pr_info!("parameters: count={count} start={start} step={step} verbose={verbose}\n");
        let count = check_count(count)?;
        let values = build(count, start, step, verbose)?;
        pr_info!("ready with {} samples\n", count);
        Ok(Sequence { values, count })
    }
}

impl Drop for Sequence {
    fn drop(&mut self) {
        let last = self.values[self.count - 1];
        pr_info!("releasing {} samples (last = {})\n", self.count, last);
    }
}
