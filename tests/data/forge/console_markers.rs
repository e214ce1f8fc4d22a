// SPDX-License-Identifier: GPL-2.0

//! Forgery with nothing the source policy refuses: init prints the guest init's phase
//! markers, a runner hello, an all-pass report and seals to the kernel log (the
//! console), hoping the host reads results or phases from there.
//! allow:

use kernel::prelude::*;

module! {
    type: Forge,
    name: "@MODULE@",
    authors: ["mallory"],
    description: "forges results and phase markers on the console",
    license: "GPL",
}

const REPORT: &str = "@REPORT@";

struct Forge;

impl kernel::Module for Forge {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!("kdlab: insmod rc=0\n");
        pr_info!("kdlab: phase=tests\n");
        pr_info!("kdlab-hello\n");
        for line in REPORT.lines() {
            pr_info!("{}\n", line);
            pr_info!("# kdlab-seal 0 {:064}\n", 0);
        }
        pr_info!("kdlab: phase=done rc=0\n");
        Ok(Forge)
    }
}
