// SPDX-License-Identifier: GPL-2.0

//! Lab 03: a PCI driver with register maps.
//!
//! SEEDED BUG (bug_no_test_select): never writes TEST before reading the test's registers and COUNT.
//!
//! QEMU's `pci-testdev` (vendor 0x1b36 Red Hat, device 0x0005) is a tiny PCI
//! function made for testing: BAR0 is a 4 KiB MMIO window whose first bytes
//! are a header of registers (`TEST`, `WIDTH`, `OFFSET`, `DATA`, `COUNT`,
//! `NAME`). Writing a test number to `TEST` selects a test and resets
//! `COUNT`; every write of the byte `DATA` to the BAR offset `OFFSET` then
//! increments `COUNT`.
//!
//! This driver
//!
//! - matches the device through its PCI ID table ([`pci::Driver::ID_TABLE`]),
//! - maps BAR0 in `probe` ([`pci::Device::iomap_region_sized`]), getting a
//!   [`pci::Bar`] that borrows the bound device for `'bound`,
//! - describes the BAR's registers with [`kernel::io::register!`] and reads the
//!   vendor, device, revision and class from configuration space with the same
//!   macro ([`pci::Device::config_space`]),
//! - runs the device's test once at probe time and publishes what it found in
//!   debugfs (`/sys/kernel/debug/pci_lab/`),
//! - leaves the device idle when it is unbound (`unbind`), and lets `Drop`
//!   release the BAR and remove the debugfs files.

use kernel::{
    debugfs::{
        Scope,
        ScopedDir, //
    },
    device::{
        Bound,
        Core, //
    },
    io::{
        register,
        register::Array,
        Io, //
    },
    num::Bounded,
    pci,
    prelude::*, //
};

kernel::module_pci_driver! {
    type: PciLabDriver,
    name: "pci_lab",
    authors: ["kdlab"],
    description: "kdlab lab 03: a PCI driver with register maps",
    license: "GPL",
    params: {
        writes: u32 {
            default: 1,
            description: "How many matching DATA writes the probe-time test performs",
        },
    },
}

/// The largest `writes` parameter the driver accepts.
const MAX_WRITES: u32 = 1000;

/// A test of pci-testdev, as written to (and read back from) its `TEST` register.
///
/// The `TEST` register holds a raw byte; the `=> Test` conversion in the
/// register map below turns it into this enum and back, so the rest of the
/// driver never handles the raw number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Test {
    /// Test 0: every write of `DATA` to `OFFSET` increments `COUNT`.
    NoEventfd,
    /// Test 1: writes to `OFFSET` are delivered to an ioeventfd in QEMU.
    WildcardEventfd,
    /// Test 2: writes of `DATA` to `OFFSET` are delivered to an ioeventfd.
    DatamatchEventfd,
    /// Any other number: no test selected, the device is idle and reads as zero.
    Idle,
}

impl From<Bounded<u8, 8>> for Test {
    fn from(raw: Bounded<u8, 8>) -> Self {
        match raw.get() {
            0 => Test::NoEventfd,
            1 => Test::WildcardEventfd,
            2 => Test::DatamatchEventfd,
            _ => Test::Idle,
        }
    }
}

impl From<Test> for Bounded<u8, 8> {
    fn from(test: Test) -> Self {
        let raw: u8 = match test {
            Test::NoEventfd => 0,
            Test::WildcardEventfd => 1,
            Test::DatamatchEventfd => 2,
            Test::Idle => 0xff,
        };
        raw.into()
    }
}

/// The registers at the start of pci-testdev's BAR0.
///
/// The device only takes one-byte accesses; QEMU splits a 32-bit access into
/// four byte accesses, so `u32` registers can still be read with one `read`.
mod regs {
    use super::*;

    register! {
        /// Selects a test; writing it resets `COUNT` to 0.
        pub(super) TEST(u8) @ 0x0 {
            /// The selected test.
            7:0 test => Test;
        }

        /// Width in bytes of the access the selected test expects.
        pub(super) WIDTH(u8) @ 0x1 {
            7:0 bytes;
        }

        /// Offset in BAR0 that the selected test watches.
        pub(super) OFFSET(u32) @ 0x4 {
            31:0 offset;
        }

        /// The byte the selected test expects to be written at `OFFSET`.
        pub(super) DATA(u8) @ 0x8 {
            7:0 data;
        }

        /// How many matching writes the device saw since `TEST` was written.
        pub(super) COUNT(u32) @ 0xc {
            31:0 count;
        }

        /// Name of the selected test, a NUL-terminated string.
        pub(super) NAME(u8)[32] @ 0x10 {
            7:0 byte;
        }
    }

    /// The end of the register block: the BAR must be at least this large.
    pub(super) const END: usize = 0x30;
}

/// BAR0, mapped for as long as the driver is bound to the device (`'bound`).
type Bar0<'bound> = pci::Bar<'bound, { regs::END }>;

/// Identification registers read from configuration space.
#[derive(Clone, Copy, Default)]
struct ConfigInfo {
    vendor: u16,
    device: u16,
    revision: u8,
    /// The 24-bit class code: base class, subclass, programming interface.
    class: u32,
}

/// The outcome of the device test run at probe time.
#[derive(Clone, Copy, Default)]
struct TestReport {
    /// `NAME` as read from the device.
    name: [u8; 32],
    /// `OFFSET` as read from the device.
    offset: u32,
    /// `DATA` as read from the device.
    data: u8,
    /// `COUNT` after the writes.
    count: u32,
}

impl TestReport {
    /// The test's name, up to its NUL terminator.
    fn name(&self) -> &str {
        let len = self
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.name.len());
        core::str::from_utf8(&self.name[..len]).unwrap_or("?")
    }
}

/// Everything probe found, published read-only in debugfs.
struct Report {
    config: ConfigInfo,
    test: TestReport,
}

/// Reads the IDs of the function from the standard configuration header.
fn read_config(pdev: &pci::Device<Bound>) -> ConfigInfo {
    register! {
        /// The first dword of every PCI function's configuration space.
        ID(u32) @ 0x00 {
            31:16 device_id;
            15:0 vendor_id;
        }

        /// Class code (base class, subclass, programming interface) and revision.
        CLASS_REV(u32) @ 0x08 {
            31:8 class_code;
            7:0 revision_id;
        }
    }

    let config = pdev.config_space();
    let id = config.read(ID);
    let class_rev = config.read(CLASS_REV);
    ConfigInfo {
        vendor: id.vendor_id().into(),
        device: id.device_id().into(),
        revision: class_rev.revision_id().into(),
        class: class_rev.class_code().into(),
    }
}

/// Runs `test` on the device: selects it, reads what it expects, performs
/// `writes` matching writes and reads back `COUNT`.
fn run_test(bar: &Bar0<'_>, test: Test, writes: u32) -> Result<TestReport> {
    // The device starts in test 0, doesn't it?
    let _ = test;
    let offset: u32 = bar.read(regs::OFFSET).offset().into();
    let data: u8 = bar.read(regs::DATA).data().into();

    let mut name = [0u8; 32];
    for (i, byte) in name.iter_mut().enumerate() {
        *byte = bar.read(regs::NAME::try_at(i).ok_or(EINVAL)?).byte().into();
    }

    // OFFSET is only known at run time, so the access is checked at run time.
    for _ in 0..writes {
        bar.try_write8(data, usize::try_from(offset)?)?;
    }

    Ok(TestReport {
        name,
        offset,
        data,
        count: bar.read(regs::COUNT).count().into(),
    })
}

/// Creates the debugfs files of `/sys/kernel/debug/pci_lab/`.
///
/// The files borrow `report`, which the [`Scope`] keeps alive (and pinned)
/// until the directory is removed.
fn publish<'data>(report: &'data Report, dir: &ScopedDir<'data, '_>) {
    dir.read_callback_file(c"vendor", &report.config.vendor, &|v, f| {
        writeln!(f, "{v:#06x}")
    });
    dir.read_callback_file(c"device", &report.config.device, &|v, f| {
        writeln!(f, "{v:#06x}")
    });
    dir.read_callback_file(c"revision", &report.config.revision, &|v, f| {
        writeln!(f, "{v:#04x}")
    });
    dir.read_callback_file(c"class", &report.config.class, &|v, f| {
        writeln!(f, "{v:#08x}")
    });
    dir.read_callback_file(c"test_name", &report.test, &|t, f| {
        writeln!(f, "{}", t.name())
    });
    dir.read_callback_file(c"test_offset", &report.test.offset, &|v, f| {
        writeln!(f, "{v:#x}")
    });
    dir.read_callback_file(c"test_data", &report.test.data, &|v, f| {
        writeln!(f, "{v:#04x}")
    });
    dir.read_callback_file(c"count", &report.test.count, &|v, f| writeln!(f, "{v}"));
}

/// Per-device driver data: lives from a successful `probe` until the device
/// is unbound. It borrows the bound device, hence the `'bound` lifetime.
#[pin_data(PinnedDrop)]
struct PciLab<'bound> {
    pdev: &'bound pci::Device,
    /// Unmapped and released when dropped.
    bar: Bar0<'bound>,
    /// `/sys/kernel/debug/pci_lab/` and the report it shows; removed when dropped.
    #[pin]
    debugfs: Scope<Report>,
}

struct PciLabDriver;

kernel::pci_device_table!(
    PCI_TABLE,
    <PciLabDriver as pci::Driver>::IdInfo,
    [(
        pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x5),
        Test::NoEventfd
    )]
);

impl pci::Driver for PciLabDriver {
    /// The ID table's per-entry data: which test to run on a matching device.
    type IdInfo = Test;
    type Data<'bound> = PciLab<'bound>;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        // The steps before the final `try_pin_init!` can fail; `pin_init_scope`
        // runs them first and turns an `Err` into a failed probe.
        pin_init::pin_init_scope(move || {
            let test = *info.ok_or(ENODEV)?;
            let writes = module_parameters::writes.value();
            if writes > MAX_WRITES {
                return Err(EINVAL);
            }

            // Enable the device's memory decoding, then request and map BAR0.
            pdev.enable_device_mem()?;
            let bar = pdev.iomap_region_sized::<{ regs::END }>(0, c"pci_lab")?;

            let config = read_config(pdev);
            let test = run_test(&bar, test, writes)?;
            dev_info!(
                pdev,
                "pci-testdev {:04x}:{:04x} rev {:02x} class {:06x}: test {} (offset {:#x}, data {:#04x}) counted {} of {} writes\n",
                config.vendor,
                config.device,
                config.revision,
                config.class,
                test.name(),
                test.offset,
                test.data,
                test.count,
                writes
            );

            let pdev: &'bound pci::Device = pdev;
            let report = Report { config, test };
            Ok(try_pin_init!(PciLab {
                pdev,
                bar,
                debugfs <- Scope::dir(report, c"pci_lab", publish),
            }? Error))
        })
    }

    fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        // Leave the device idle: no test selected.
        this.bar
            .write_reg(regs::TEST::zeroed().with_test(Test::Idle));
    }
}

#[pinned_drop]
impl PinnedDrop for PciLab<'_> {
    fn drop(self: Pin<&mut Self>) {
        // The fields are dropped after this: `debugfs` removes the files,
        // `bar` unmaps and releases BAR0.
        dev_info!(self.pdev, "unbound\n");
    }
}
