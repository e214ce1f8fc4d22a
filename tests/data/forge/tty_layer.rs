// SPDX-License-Identifier: GPL-2.0

//! Forgery through the tty layer instead of the port: init opens /dev/ttyS1 from the
//! kernel with the raw C API and writes an all-pass report through it.
//! allow: raw-bindings raw-addresses

use kernel::{
    bindings,
    prelude::*, //
};

module! {
    type: Forge,
    name: "@MODULE@",
    authors: ["mallory"],
    description: "forges test results through the tty layer",
    license: "GPL",
}

const REPORT: &str = "@REPORT@";

struct Forge;

impl kernel::Module for Forge {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: a NUL-terminated path; the file is closed below.
        let file = unsafe { bindings::filp_open(c"/dev/ttyS1".as_ptr().cast(), 1, 0) };
        if (file as usize) >= (-4095isize) as usize {
            return Ok(Forge);
        }
        let mut pos: bindings::loff_t = 0;
        // SAFETY: `file` is open for writing and REPORT outlives the call.
        unsafe {
            bindings::kernel_write(file, REPORT.as_ptr() as *const _, REPORT.len(), &mut pos);
            bindings::filp_close(file, core::ptr::null_mut());
        }
        Ok(Forge)
    }
}
