// SPDX-License-Identifier: GPL-2.0

//! Lab 04: I/O views over the generic I/O back-ends.
//!
//! Linux 7.3 describes every place a driver can read and write — a PCI BAR, PCI
//! configuration space, DMA-coherent memory — with the same traits:
//!
//! - a *view* is a cheap, `Copy` handle to a typed region: [`Mmio<'a, T>`] for
//!   memory-mapped I/O, `CoherentView<'a, T>` for DMA-coherent memory. Both
//!   implement [`Io`], whose associated `Backend` type says *how* an access is
//!   done (`readb`/`writel` for MMIO, a volatile load/store for memory);
//! - [`io_project!`] turns a view of a struct into a view of one of its fields
//!   (`.offset`), and a view of an array or slice into a view of one element
//!   (`[try: i]`) or of a sub-slice (`[try: 2..5]`). The projection is checked
//!   against the *view's* type, so a view can never reach outside what it
//!   describes; `try` turns an out-of-range index into `Err(ERANGE)`;
//! - [`io_read!`] / [`io_write!`] project and access in one step.
//!
//! Code written against `Io` runs unchanged on every back-end. This driver
//! binds to QEMU's `pci-testdev`, views the test header at the start of its
//! BAR 0 as a `TestHeader`, copies the header of each of the device's three
//! tests into an array of `TestHeader`s in DMA-coherent memory, and checksums
//! every header twice — through the BAR view and through the memory view —
//! with one generic function. Results are in `/sys/kernel/debug/io_views/`.

use kernel::{
    debugfs::Scope,
    device::Core,
    dma::Coherent,
    fmt,
    io::{
        io_project,
        io_read,
        io_write,
        Io,
        IoCapable,
        Mmio, //
    },
    pci,
    prelude::*, //
};

/// Bytes the view reserves for the test's NUL-terminated name at 0x10. The
/// longest name, `mmio-datamatch-eventfd`, takes 23 with its NUL.
const NAME_LEN: usize = 24;

/// Size of the header view: 16 bytes of fields, then the name.
const HEADER_SIZE: usize = 0x10 + NAME_LEN;

/// How many tests pci-testdev offers on its MMIO BAR (numbers 0, 1, 2).
const TESTS: usize = 3;

/// FNV-1a, 32 bit: `hash = (hash ^ byte) * FNV_PRIME` for each byte, starting
/// from `FNV_OFFSET_BASIS`.
const FNV_OFFSET_BASIS: u32 = 0x811c_9dc5;
/// See [`FNV_OFFSET_BASIS`].
const FNV_PRIME: u32 = 0x0100_0193;

/// The header pci-testdev shows at the start of BAR 0 for the selected test.
///
/// The same type describes the device's registers (through an `Mmio` view of
/// the BAR) and our copies of them (through views of DMA-coherent memory):
/// `#[repr(C)]` fixes the field offsets, and the explicit padding keeps the
/// type free of hidden holes, which `IntoBytes` checks.
#[repr(C)]
#[derive(FromBytes, IntoBytes)]
struct TestHeader {
    /// 0x00. Write: select a test (an unknown number deselects). Read: the selected test.
    test: u8,
    /// 0x01. Access width, in bytes, that the test's doorbell expects.
    width: u8,
    _pad0: [u8; 2],
    /// 0x04. Offset of the test's doorbell in this BAR.
    offset: u32,
    /// 0x08. The value to write to the doorbell.
    data: u8,
    _pad1: [u8; 3],
    /// 0x0c. How many matching doorbell writes the device counted since the test was selected.
    count: u32,
    /// 0x10. The test's name, NUL-terminated; zeros after it.
    name: [u8; NAME_LEN],
}

const _: () = assert!(size_of::<TestHeader>() == HEADER_SIZE);

// SAFETY: `TestHeader` is `#[repr(C)]` and made of integers and byte arrays with
// explicit padding fields, so it has no uninitialized bytes.
unsafe impl kernel::transmute::AsBytes for TestHeader {}
// SAFETY: every field is an integer or a byte array, so any bit pattern is valid.
unsafe impl kernel::transmute::FromBytes for TestHeader {}

/// BAR 0 mapped with a compile-time minimum size of one header: accesses
/// inside the header are checked when the driver is built; the BAR's real
/// size (4 KiB) is known at run time and checked by the `try_` accessors.
type Bar0<'bound> = pci::Bar<'bound, HEADER_SIZE>;

/// Selects test `n` on the device: writes `n` to the header's `test` field.
fn select_test(hdr: Mmio<'_, TestHeader>, n: u8) {
    // BEGIN SOLUTION
    //> let _ = (hdr, n);
    io_write!(hdr, .test, n);
    // END SOLUTION
}

/// Rings the selected test's doorbell `times` times: writes the header's
/// `data` byte to the header's `offset` in the BAR.
///
/// The doorbell lies outside the header view (the view is only `HEADER_SIZE`
/// bytes) but inside the BAR, at an offset the device tells at run time: a
/// `try_` access on the BAR, checked against the BAR's real size.
fn ring(bar: &Bar0<'_>, hdr: Mmio<'_, TestHeader>, times: u32) -> Result {
    // BEGIN SOLUTION
    //> let _ = (bar, hdr, times);
    let offset = io_read!(hdr, .offset) as usize;
    let data = io_read!(hdr, .data);
    for _ in 0..times {
        bar.try_write8(data, offset)?;
    }
    // END SOLUTION
    Ok(())
}

/// Copies every field of the header viewed by `src` to the header viewed by
/// `dst` (the padding stays as it is).
///
/// Written once against [`Io`]: `src` and `dst` may be views of any back-end
/// that can do 8- and 32-bit accesses: MMIO, DMA-coherent memory, ...
fn copy_header<'s, 'd, S, D>(src: S, dst: D) -> Result
where
    S: Io<'s, Target = TestHeader>,
    S::Backend: IoCapable<u8> + IoCapable<u32>,
    D: Io<'d, Target = TestHeader>,
    D::Backend: IoCapable<u8> + IoCapable<u32>,
{
    // BEGIN SOLUTION
    //> let _ = (src, dst);
    io_write!(dst, .test, io_read!(src, .test));
    io_write!(dst, .width, io_read!(src, .width));
    io_write!(dst, .offset, io_read!(src, .offset));
    io_write!(dst, .data, io_read!(src, .data));
    io_write!(dst, .count, io_read!(src, .count));
    for i in 0..NAME_LEN {
        io_write!(dst, .name[try: i], io_read!(src, .name[try: i]));
    }
    // END SOLUTION
    Ok(())
}

/// The FNV-1a checksum of the `HEADER_SIZE` bytes of the header viewed by
/// `hdr`, in address order.
///
/// Written once against [`Io`], called on a BAR view and on a memory view.
/// [`Io::try_cast`] turns the header view into a view of its bytes.
fn checksum<'a, IO>(hdr: IO) -> Result<u32>
where
    IO: Io<'a, Target = TestHeader>,
    IO::Backend: IoCapable<u8>,
{
    // BEGIN SOLUTION
    //> let _ = hdr;
    //> Ok(0)
    let bytes = hdr.try_cast::<[u8; HEADER_SIZE]>()?;
    let mut hash = FNV_OFFSET_BASIS;
    for i in 0..HEADER_SIZE {
        hash ^= u32::from(io_read!(bytes, [try: i]));
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    Ok(hash)
    // END SOLUTION
}

/// Tries to project a slice of `len` bytes of the name of the header viewed
/// by `hdr` and returns its length, or the error that refused it.
fn name_slice<'a, IO>(hdr: IO, len: usize) -> Result<usize>
where
    IO: Io<'a, Target = TestHeader>,
{
    // BEGIN SOLUTION
    //> let _ = (hdr, len);
    //> Ok(0)
    let name = io_project!(hdr, .name[try: 0..len]);
    Ok(name.len())
    // END SOLUTION
}

/// Tries to read the `test` byte of snapshot number `index` and returns it, or
/// the error that refused the projection.
fn snapshot_test(snapshots: &Coherent<[TestHeader]>, index: usize) -> Result<u8> {
    // BEGIN SOLUTION
    //> let _ = (snapshots, index);
    //> Ok(0)
    Ok(io_read!(snapshots, [try: index].test))
    // END SOLUTION
}

/// The `errno` of a result: 0 for `Ok`, the negative error code for `Err`.
fn errno<T>(result: Result<T>) -> i32 {
    match result {
        Ok(_) => 0,
        Err(err) => err.to_errno(),
    }
}

/// What the driver found; shown in `/sys/kernel/debug/io_views/`.
struct Report {
    /// A copy of each test's header, in DMA-coherent memory (`snapshots`).
    snapshots: Coherent<[TestHeader]>,
    /// `checksum` of each test's header through the BAR view.
    bar_sums: [u32; TESTS],
    /// `checksum` of each snapshot through the memory view.
    dma_sums: [u32; TESTS],
    /// The errno of projecting one byte more than the name, on the BAR view.
    bar_refused: i32,
}

/// `checksums`: one line per test, `N BAR-CHECKSUM MEMORY-CHECKSUM`.
fn show_checksums(report: &Report, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for n in 0..TESTS {
        writeln!(
            f,
            "{} {:#010x} {:#010x}",
            n, report.bar_sums[n], report.dma_sums[n]
        )?;
    }
    Ok(())
}

/// `refused`: the out-of-range projections and the errno each returned. The
/// second one is tried again on every read of the file.
fn show_refused(report: &Report, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "bar.name[0..{}] {}", NAME_LEN + 1, report.bar_refused)?;
    let past_end = errno(snapshot_test(&report.snapshots, TESTS));
    writeln!(f, "snapshots[{}] {}", TESTS, past_end)
}

/// The driver's data while bound: the debugfs directory and what it shows.
#[pin_data]
struct IoViews {
    #[pin]
    report: Scope<Report>,
}

kernel::pci_device_table!(
    PCI_TABLE,
    <IoViews as pci::Driver>::IdInfo,
    [(pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x5), ())]
);

impl pci::Driver for IoViews {
    type IdInfo = ();
    type Data<'bound> = Self;
    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self, Error> + 'bound {
        pin_init::pin_init_scope(move || {
            pdev.enable_device_mem()?;
            let bar: Bar0<'_> = pdev.iomap_region_sized(0, c"io_views")?;
            // A typed view of the header: the BAR's `Region` seen as a `TestHeader`.
            let hdr: Mmio<'_, TestHeader> = (&bar).try_cast()?;
            let snapshots = Coherent::<TestHeader>::zeroed_slice(pdev.as_ref(), TESTS, GFP_KERNEL)?;
            let mut report = Report {
                snapshots,
                bar_sums: [0; TESTS],
                dma_sums: [0; TESTS],
                bar_refused: 0,
            };
            let rings = module_parameters::rings.value();

            for n in 0..TESTS {
                select_test(hdr, n as u8);
                if n == 0 {
                    // Test 0 ("mmio-no-eventfd") counts its doorbell writes.
                    ring(&bar, hdr, rings)?;
                }
                // A view of element `n` of the array in coherent memory.
                let slot = io_project!(&report.snapshots, [try: n]);
                copy_header(hdr, slot)?;
                report.bar_sums[n] = checksum(hdr)?;
                report.dma_sums[n] = checksum(slot)?;
            }
            report.bar_refused = errno(name_slice(hdr, NAME_LEN + 1));

            dev_info!(
                pdev,
                "io_views: {} headers copied, checksums {:#010x} {:#010x} {:#010x}\n",
                TESTS,
                report.bar_sums[0],
                report.bar_sums[1],
                report.bar_sums[2]
            );

            Ok(try_pin_init!(IoViews {
                report <- Scope::dir(report, c"io_views", |report, dir| {
                    dir.read_binary_file(c"snapshots", &report.snapshots);
                    dir.read_callback_file(c"checksums", report, &show_checksums);
                    dir.read_callback_file(c"refused", report, &show_refused);
                }),
            }))
        })
    }
}

kernel::module_pci_driver! {
    type: IoViews,
    name: "io_views",
    authors: ["kdlab"],
    description: "kdlab lab 04: I/O views over MMIO and DMA-coherent memory",
    license: "GPL",
    params: {
        rings: u32 {
            default: 3,
            description: "How many times probe rings test 0's doorbell",
        },
    },
}
