// SPDX-License-Identifier: GPL-2.0

//! Lab 03 variant based on the alternative solution.
//!
//! SEEDED BUG (bug_leak_debugfs): leaks a reference to the debugfs directory,
//! so /sys/kernel/debug/pci_lab stays after unbind and the next probe cannot
//! create it again.

use kernel::{
    debugfs::{
        Dir,
        File, //
    },
    device::{
        Bound,
        Core, //
    },
    io::{
        register,
        Io, //
    },
    num::Bounded,
    pci,
    prelude::*,
    str::CString, //
};

kernel::module_pci_driver! {
    type: TestdevDriver,
    name: "pci_lab",
    authors: ["kdlab"],
    description: "kdlab lab 03 (alternative solution)",
    license: "GPL",
    params: {
        writes: u32 {
            default: 1,
            description: "number of DATA writes",
        },
    },
}

/// Raw test number for the `TEST` register.
#[derive(Clone, Copy, Debug)]
struct TestIndex(u8);

impl TestIndex {
    const NO_EVENTFD: Self = Self(0);
    const NONE: Self = Self(0xff);
}

impl From<Bounded<u8, 8>> for TestIndex {
    fn from(v: Bounded<u8, 8>) -> Self {
        Self(v.into())
    }
}

impl From<TestIndex> for Bounded<u8, 8> {
    fn from(v: TestIndex) -> Self {
        v.0.into()
    }
}

register! {
    TEST(u8) @ 0x0 {
        7:0 index => TestIndex;
    }
    OFFSET(u32) @ 0x4 {
        31:0 offset;
    }
    DATA(u8) @ 0x8 {
        7:0 data;
    }
    COUNT(u32) @ 0xc {
        31:0 count;
    }
}

register! {
    VENDOR_ID(u16) @ 0x00 {
        15:0 id;
    }
    DEVICE_ID(u16) @ 0x02 {
        15:0 id;
    }
    REVISION_ID(u8) @ 0x08 {
        7:0 id;
    }
    CLASS(u32) @ 0x08 {
        31:8 code;
    }
}

const BAR_SIZE: usize = 0x40;
type TestdevBar<'a> = pci::Bar<'a, BAR_SIZE>;

struct Outcome {
    name: CString,
    offset: u32,
    data: u32,
    count: u32,
}

#[pin_data]
struct Testdev<'a> {
    bar: TestdevBar<'a>,
    #[pin]
    vendor: File<u32>,
    #[pin]
    device: File<u32>,
    #[pin]
    revision: File<u32>,
    #[pin]
    class: File<u32>,
    #[pin]
    test_name: File<CString>,
    #[pin]
    test_offset: File<u32>,
    #[pin]
    test_data: File<u32>,
    #[pin]
    count: File<u32>,
    dir: Dir,
}

impl Testdev<'_> {
    fn exercise(bar: &TestdevBar<'_>, writes: u32) -> Result<Outcome> {
        bar.write_reg(TEST::zeroed().with_index(TestIndex::NO_EVENTFD));
        let offset: u32 = bar.read(OFFSET).offset().into();
        let data: u8 = bar.read(DATA).data().into();

        let mut raw = KVec::new();
        for off in 0x10..BAR_SIZE {
            let c = bar.try_read8(off)?;
            if c == 0 {
                break;
            }
            raw.push(c, GFP_KERNEL)?;
        }
        let text = core::str::from_utf8(&raw).map_err(|_| EINVAL)?;
        let name = CString::try_from_fmt(fmt!("{text}"))?;

        let mut left = writes;
        while left > 0 {
            bar.try_write8(data, offset.try_into()?)?;
            left -= 1;
        }
        let count: u32 = bar.read(COUNT).count().into();
        Ok(Outcome {
            name,
            offset,
            data: data.into(),
            count,
        })
    }

    fn ids(pdev: &pci::Device<Bound>) -> (u32, u32, u32, u32) {
        let cs = pdev.config_space();
        let v: u16 = cs.read(VENDOR_ID).id().into();
        let d: u16 = cs.read(DEVICE_ID).id().into();
        let r: u8 = cs.read(REVISION_ID).id().into();
        let c: u32 = cs.read(CLASS).code().into();
        (v.into(), d.into(), r.into(), c)
    }
}

struct TestdevDriver;

kernel::pci_device_table!(
    TABLE,
    <TestdevDriver as pci::Driver>::IdInfo,
    [(pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x0005), ())]
);

impl pci::Driver for TestdevDriver {
    type IdInfo = ();
    type Data<'a> = Testdev<'a>;
    const ID_TABLE: pci::IdTable<()> = &TABLE;

    fn probe<'a>(
        pdev: &'a pci::Device<Core<'_>>,
        _info: Option<&'a ()>,
    ) -> impl PinInit<Testdev<'a>, Error> + 'a {
        pin_init::pin_init_scope(move || {
            pdev.enable_device_mem()?;
            let bar = pdev.iomap_region_sized::<BAR_SIZE>(0, c"pci_lab_bar0")?;
            let (vendor, device, revision, class) = Testdev::ids(pdev);
            let out = Testdev::exercise(&bar, module_parameters::writes.value())?;
            let dir = Dir::new(c"pci_lab");
            // "Make sure the directory outlives its files": an extra reference
            // that is never dropped, so the directory is never removed.
            core::mem::forget(dir.clone());
            Ok(try_pin_init!(Testdev {
                bar,
                vendor <- dir.read_only_file(c"vendor", vendor),
                device <- dir.read_only_file(c"device", device),
                revision <- dir.read_only_file(c"revision", revision),
                class <- dir.read_only_file(c"class", class),
                test_name <- dir.read_only_file(c"test_name", out.name),
                test_offset <- dir.read_only_file(c"test_offset", out.offset),
                test_data <- dir.read_only_file(c"test_data", out.data),
                count <- dir.read_only_file(c"count", out.count),
                dir,
            }? Error))
        })
    }

    fn unbind<'a>(_pdev: &'a pci::Device<Core<'_>>, this: Pin<&Testdev<'a>>) {
        this.bar
            .write_reg(TEST::zeroed().with_index(TestIndex::NONE));
    }
}
