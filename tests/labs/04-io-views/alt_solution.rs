// SPDX-License-Identifier: GPL-2.0

//! Lab 04, alternative solution.
//!
//! Written independently of the reference: the BAR stays in the driver data
//! (and the device is deselected on unbind), the header is copied as one
//! value with `copy_read`/`copy_write`, the checksum runs over a byte-slice
//! view (`Io<Target = [u8]>`), and the over-long name slice is projected from
//! a byte view of the whole header.

use kernel::{
    debugfs::Scope,
    device::Core,
    dma::Coherent,
    fmt,
    io::{
        io_project,
        Io,
        IoBackend,
        IoCapable,
        IoCopyable,
        Mmio, //
    },
    pci,
    prelude::*, //
};

const NAME_AT: usize = 0x10;
const NAME_BYTES: usize = 24;
const HDR_BYTES: usize = NAME_AT + NAME_BYTES;
const NUM_TESTS: usize = 3;
const DESELECT: u8 = 0xff;

#[repr(C)]
#[derive(FromBytes, IntoBytes)]
struct Hdr {
    test: u8,
    width: u8,
    _r0: [u8; 2],
    offset: u32,
    data: u8,
    _r1: [u8; 3],
    count: u32,
    name: [u8; NAME_BYTES],
}

// SAFETY: `#[repr(C)]`, integer fields and explicit padding: no uninitialized bytes.
unsafe impl kernel::transmute::AsBytes for Hdr {}
// SAFETY: integers and byte arrays only: every bit pattern is a valid `Hdr`.
unsafe impl kernel::transmute::FromBytes for Hdr {}

/// Views the header behind any view as a slice of its bytes.
fn header_bytes<'a, V>(hdr: V) -> Result<<V::Backend as IoBackend>::View<'a, [u8]>>
where
    V: Io<'a, Target = Hdr>,
{
    let array = hdr.try_cast::<[u8; HDR_BYTES]>()?;
    Ok(io_project!(array, [try: ..]))
}

/// FNV-1a over every byte of a byte-slice view.
fn fnv1a<'a, V>(bytes: V) -> Result<u32>
where
    V: Io<'a, Target = [u8]>,
    V::Backend: IoCapable<u8>,
{
    let mut h: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < bytes.len() {
        let b: u8 = io_project!(bytes, [try: i]).read_val();
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        i += 1;
    }
    Ok(h)
}

/// Copies one header to another, whatever memory either lives in.
fn snapshot<'s, 'd, S, D>(from: S, to: D)
where
    S: Io<'s, Target = Hdr>,
    S::Backend: IoCopyable,
    D: Io<'d, Target = Hdr>,
    D::Backend: IoCopyable,
{
    to.copy_write(from.copy_read());
}

fn checksum_header<'a, V>(hdr: V) -> Result<u32>
where
    V: Io<'a, Target = Hdr>,
    V::Backend: IoCapable<u8>,
{
    fnv1a(header_bytes(hdr)?)
}

fn code_of<T>(r: Result<T>) -> i32 {
    r.map_or_else(|e| e.to_errno(), |_| 0)
}

struct Findings {
    copies: Coherent<[Hdr]>,
    via_bar: [u32; NUM_TESTS],
    via_ram: [u32; NUM_TESTS],
    name_overrun: i32,
}

fn fmt_checksums(x: &Findings, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (i, (b, r)) in x.via_bar.iter().zip(x.via_ram.iter()).enumerate() {
        writeln!(f, "{i} {b:#010x} {r:#010x}")?;
    }
    Ok(())
}

fn fmt_refused(x: &Findings, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let past = (|| -> Result<u32> {
        let h = io_project!(&x.copies, [try: NUM_TESTS]);
        Ok(io_project!(h, .count).read_val())
    })();
    writeln!(f, "bar.name[0..{}] {}", NAME_BYTES + 1, x.name_overrun)?;
    writeln!(f, "snapshots[{}] {}", NUM_TESTS, code_of(past))
}

#[pin_data]
struct Bound<'bound> {
    bar: pci::Bar<'bound, HDR_BYTES>,
    #[pin]
    findings: Scope<Findings>,
}

struct AltDriver;

kernel::pci_device_table!(
    IDS,
    <AltDriver as pci::Driver>::IdInfo,
    [(pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x0005), ())]
);

impl pci::Driver for AltDriver {
    type IdInfo = ();
    type Data<'bound> = Bound<'bound>;
    const ID_TABLE: pci::IdTable<Self::IdInfo> = &IDS;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound ()>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        pin_init::pin_init_scope(move || {
            pdev.enable_device_mem()?;
            let bar = pdev.iomap_region_sized::<HDR_BYTES>(0, c"io_views_alt")?;
            let copies = Coherent::<Hdr>::zeroed_slice(pdev.as_ref(), NUM_TESTS, GFP_KERNEL)?;
            let mut via_bar = [0u32; NUM_TESTS];
            let mut via_ram = [0u32; NUM_TESTS];
            let rings = module_parameters::rings.value();
            let name_overrun;
            {
                let live: Mmio<'_, Hdr> = (&bar).try_cast()?;
                for (t, (vb, vr)) in via_bar.iter_mut().zip(via_ram.iter_mut()).enumerate() {
                    io_project!(live, .test).write_val(t as u8);
                    if t == 0 {
                        let at = io_project!(live, .offset).read_val() as usize;
                        let val = io_project!(live, .data).read_val();
                        for _ in 0..rings {
                            (&bar).try_write(at, val)?;
                        }
                    }
                    let copy = io_project!(&copies, [try: t]);
                    snapshot(live, copy);
                    *vb = checksum_header(live)?;
                    *vr = checksum_header(copy)?;
                }
                let all = live.try_cast::<[u8; HDR_BYTES]>()?;
                name_overrun = code_of((|| -> Result<usize> {
                    Ok(io_project!(all, [try: NAME_AT..NAME_AT + NAME_BYTES + 1]).len())
                })());
            }
            let findings = Findings {
                copies,
                via_bar,
                via_ram,
                name_overrun,
            };
            Ok(try_pin_init!(Bound {
                bar,
                findings <- Scope::dir(findings, c"io_views", |x, d| {
                    d.read_binary_file(c"snapshots", &x.copies);
                    d.read_callback_file(c"checksums", x, &fmt_checksums);
                    d.read_callback_file(c"refused", x, &fmt_refused);
                }),
            }))
        })
    }

    fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Bound<'bound>>) {
        // Leave the device with no test selected.
        let _ = this.bar.try_write8(DESELECT, 0);
    }
}

kernel::module_pci_driver! {
    type: AltDriver,
    name: "io_views",
    authors: ["kdlab"],
    description: "kdlab lab 04, alternative solution",
    license: "GPL",
    params: {
        rings: u32 {
            default: 3,
            description: "Doorbell writes for test 0",
        },
    },
}
