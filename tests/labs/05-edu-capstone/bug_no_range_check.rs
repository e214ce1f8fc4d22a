// SPDX-License-Identifier: GPL-2.0

//! Lab 05 (capstone): a complete PCI driver for QEMU's `edu` device.
//!
//! SEEDED BUG (bug_no_range_check.rs): DMA requests are not checked against the device's 4 KiB buffer.
//!
//! `edu` (vendor 0x1234, device 0x11e8) is QEMU's educational PCI device. Its BAR0 holds a
//! handful of 32-bit registers (identification, a liveness check, a factorial unit, interrupt
//! status/raise/acknowledge) and a DMA engine that copies between guest RAM and a 4 KiB buffer
//! inside the device. This driver puts together everything of the previous labs:
//!
//! - a register map written with `kernel::io::register!`;
//! - an interrupt handler (MSI) that acknowledges exactly the bits it saw and counts them;
//! - bounded waits: process context sleeps on a [`CondVar`] until the handler reports the
//!   event, or until a timeout, so a silent device cannot hang the caller;
//! - a DMA-coherent bounce buffer ([`Coherent`]) and a 28-bit DMA mask;
//! - a misc device, `/dev/edu`, whose ioctls (see `README.md`) expose all of it to user space.
//!
//! Lifetimes: the PCI driver data lives exactly as long as the device is bound (`'bound`),
//! but an open file may outlive the binding. Everything a file can reach is therefore kept in
//! [`Edu`], behind an [`Arc`], and the BAR is a device-managed [`pci::DevresBar`] whose access
//! is revoked when the device is unbound: a late ioctl gets `ENODEV`, never a dangling mapping.

use kernel::{
    device::Core,
    dma::{
        Coherent,
        Device,
        DmaMask, //
    },
    driver,
    fs::File,
    io::{
        io_project,
        register,
        Io, //
    },
    ioctl::{
        _IOC_SIZE,
        _IOR,
        _IOW,
        _IOWR, //
    },
    irq::{
        self,
        IrqReturn, //
    },
    miscdevice::{
        MiscDevice,
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    pci,
    prelude::*,
    sync::{
        new_condvar,
        new_mutex,
        new_spinlock_irq,
        Arc,
        CondVar,
        CondVarTimeoutResult,
        Mutex,
        SpinLockIrq, //
    },
    time::msecs_to_jiffies,
    uaccess::{
        UserSlice,
        UserSliceReader,
        UserSliceWriter, //
    },
};

/// QEMU's PCI vendor ID (`PCI_VENDOR_ID_QEMU`); `pci::Vendor` has no constant for it.
const EDU_VENDOR: u16 = 0x1234;
/// The `edu` device ID.
const EDU_DEVICE: u16 = 0x11e8;
/// `edu`'s class code: `PCI_CLASS_OTHERS` (0xff) as a 24-bit class, programming interface 0.
const EDU_CLASS: u32 = 0x00ff00;

/// Where the device's internal DMA buffer starts, in the device's DMA address space.
const EDU_DMA_BASE: u32 = 0x40000;
/// Size of the device's internal DMA buffer (and of our coherent bounce buffer).
const EDU_DMA_SIZE: usize = 4096;
/// The device's DMA engine drives 28 address bits.
const EDU_DMA_BITS: u32 = 28;

/// How long to wait for a factorial or a raised interrupt (the device answers in microseconds).
const IRQ_TIMEOUT_MS: u32 = 500;
/// How long to wait for a DMA transfer (the device takes 100 ms of virtual time for each one).
const DMA_TIMEOUT_MS: u32 = 1000;

/// The register map of BAR0.
///
/// `register!` turns each entry into a type with one getter and `with_*` setters per field, and
/// a location constant (the register's name) for `Io::read`; `Io::write_reg` writes a value at
/// the location its type carries. All accesses are 32 bits wide: registers below 0x80 take
/// nothing else, and 7.3's compile-time checked accessors refuse 64-bit accesses to a BAR
/// (its `Region` is only known to be 4-byte aligned).
mod regs {
    use super::*;

    register! {
        /// Identification: `0xRRrr00ed`, major and minor revision and the magic byte 0xed.
        pub(super) ID(u32) @ 0x00 {
            /// Major revision.
            31:24 major;
            /// Minor revision.
            23:16 minor;
            /// Always 0xed.
            7:0 magic;
        }
    }

    register! {
        /// Liveness check: reading returns the bitwise inverse of the last value written.
        pub(super) LIVENESS(u32) @ 0x04 {
            31:0 value;
        }

        /// Factorial unit: write n to start computing n!, read the result once
        /// `STATUS.computing` is clear. Writes are ignored while the unit is computing.
        pub(super) FACTORIAL(u32) @ 0x08 {
            31:0 value;
        }

        /// Status of the factorial unit.
        pub(super) STATUS(u32) @ 0x20 {
            /// Raise an interrupt (IRQ status bit 0x1) when a factorial is done.
            7:7 irq_on_done => bool;
            /// Set while the device computes a factorial (read only).
            0:0 computing => bool;
        }

        /// Pending interrupt causes; the interrupt line stays asserted while non-zero.
        pub(super) IRQ_STATUS(u32) @ 0x24 {
            /// A DMA transfer finished (`DMA_CMD.irq_on_done` was set).
            8:8 dma => bool;
            /// A factorial finished (`STATUS.irq_on_done` was set).
            0:0 factorial => bool;
        }

        /// Raise an interrupt: the value written is ORed into `IRQ_STATUS`.
        pub(super) IRQ_RAISE(u32) @ 0x60 {
            31:0 bits;
        }

        /// Acknowledge: the bits written are cleared from `IRQ_STATUS`.
        pub(super) IRQ_ACK(u32) @ 0x64 {
            31:0 bits;
        }

        /// DMA source address. The device keeps a 64-bit address; a 32-bit write sets the
        /// low half and clears the high half, which is enough for a 28-bit DMA engine.
        pub(super) DMA_SRC(u32) @ 0x80 {
            31:0 addr;
        }

        /// DMA destination address (written like `DMA_SRC`).
        pub(super) DMA_DST(u32) @ 0x88 {
            31:0 addr;
        }

        /// DMA transfer length in bytes.
        pub(super) DMA_COUNT(u32) @ 0x90 {
            31:0 bytes;
        }

        /// DMA command; writing it with `start` set starts the transfer.
        pub(super) DMA_CMD(u32) @ 0x98 {
            /// Raise an interrupt (IRQ status bit 0x100) when the transfer is done.
            2:2 irq_on_done => bool;
            /// Direction: set = device buffer to RAM, clear = RAM to device buffer.
            1:1 to_ram => bool;
            /// Start the transfer; the device clears it when done.
            0:0 start => bool;
        }
    }

    /// The part of BAR0 the driver uses (the BAR itself is 1 MiB).
    pub(super) const END: usize = 0x100;
}

/// BAR0, mapped with compile-time bounds checks up to [`regs::END`].
type Bar0<'a> = pci::Bar<'a, { regs::END }>;

/// What the interrupt handler has seen so far; updated in IRQ context, read in process context.
#[derive(Clone, Copy, Default)]
struct Events {
    /// Interrupts handled (IRQ status was non-zero).
    irqs: u32,
    /// Interrupts whose status had the factorial bit (0x1).
    fact: u32,
    /// Interrupts whose status had the DMA bit (0x100).
    dma: u32,
    /// Interrupts whose status had any other bit (raised through `IRQ_RAISE`).
    raised: u32,
    /// The IRQ status the last interrupt saw (and acknowledged).
    last_status: u32,
}

/// The interrupt status bits the device sets by itself.
const IRQ_FACT: u32 = 0x1;
const IRQ_DMA: u32 = 0x100;

/// Everything a bound `edu` needs that an open file may also reach.
///
/// Kept in an [`Arc`]: the driver data, the interrupt handler and each open file hold a
/// reference, so it lives until the last of them is gone.
#[pin_data]
struct Edu {
    /// BAR0; access is revoked when the device is unbound.
    bar: pci::DevresBar<{ regs::END }>,
    /// The DMA bounce buffer, in memory the device can reach with 28 address bits.
    buf: Coherent<[u8]>,
    /// One device operation at a time: the device has one factorial unit and one DMA engine.
    #[pin]
    ops: Mutex<()>,
    /// Counters updated by the interrupt handler; a spinlock that disables interrupts, since
    /// the handler takes it too.
    #[pin]
    events: SpinLockIrq<Events>,
    /// Notified by the interrupt handler after it updated `events`.
    #[pin]
    wake: CondVar,
}

impl Edu {
    /// Takes over the mapped BAR and allocates the DMA buffer.
    fn new(pdev: &pci::Device<Core<'_>>, bar: Bar0<'_>) -> Result<Arc<Self>> {
        let edu = Arc::pin_init(
            try_pin_init!(Edu {
                bar: bar.into_devres()?,
                buf: Coherent::zeroed_slice(pdev.as_ref(), EDU_DMA_SIZE, GFP_KERNEL)?,
                ops <- new_mutex!(()),
                events <- new_spinlock_irq!(Events::default()),
                wake <- new_condvar!(),
            }),
            GFP_KERNEL,
        )?;
        dev_info!(
            pdev,
            "DMA buffer at bus address {:#x}\n",
            edu.buf.dma_address()
        );
        Ok(edu)
    }

    /// Runs `f` on BAR0 if the device is still bound (`ENODEV` otherwise).
    ///
    /// `f` runs under an RCU read lock and must not sleep: keep it to register accesses.
    fn with_bar<R>(&self, f: impl FnOnce(&Bar0<'_>) -> R) -> Result<R> {
        self.bar.try_access_with(|bar| f(bar)).ok_or(ENODEV)
    }

    /// A snapshot of the interrupt counters.
    fn events(&self) -> Events {
        *self.events.lock()
    }

    /// The identification register.
    fn id(&self) -> Result<u32> {
        self.with_bar(|bar| bar.read(regs::ID).into_raw())
    }

    /// The IRQ status register: interrupt causes not acknowledged yet.
    fn irq_status(&self) -> Result<u32> {
        self.with_bar(|bar| bar.read(regs::IRQ_STATUS).into_raw())
    }

    /// Writes `value` to the liveness register and returns what the device reads back.
    fn liveness(&self, value: u32) -> Result<u32> {
        let _op = self.ops.lock();
        self.with_bar(|bar| {
            bar.write_reg(regs::LIVENESS::zeroed().with_value(value));
            bar.read(regs::LIVENESS).value().get()
        })
    }

    /// Sleeps until `done(events)` holds, for at most `timeout_ms` milliseconds.
    ///
    /// Returns `ETIMEDOUT` when the time is up and `EINTR` when a signal arrives. The condition
    /// is checked with the `events` lock held, and `CondVar::wait_interruptible_timeout` only
    /// drops the lock once the task is on the wait queue, so a notification cannot slip in
    /// between the check and the sleep.
    fn wait_for(&self, done: impl Fn(&Events) -> bool, timeout_ms: u32) -> Result {
        let mut left = msecs_to_jiffies(timeout_ms);
        let mut events = self.events.lock();
        while !done(&events) {
            match self.wake.wait_interruptible_timeout(&mut events, left) {
                CondVarTimeoutResult::Woken { jiffies } => left = jiffies,
                CondVarTimeoutResult::Timeout => return Err(ETIMEDOUT),
                CondVarTimeoutResult::Signal { .. } => return Err(EINTR),
            }
        }
        Ok(())
    }

    /// Computes `n!` on the device (modulo 2^32, as the device does).
    ///
    /// Enables the factorial interrupt, starts the computation and sleeps until the interrupt
    /// handler reports it, then reads the result.
    fn factorial(&self, n: u32) -> Result<u32> {
        let _op = self.ops.lock();
        let before = self.events().fact;
        self.with_bar(|bar| {
            bar.write_reg(regs::STATUS::zeroed().with_irq_on_done(true));
            bar.write_reg(regs::FACTORIAL::zeroed().with_value(n));
        })?;
        self.wait_for(|ev| ev.fact != before, IRQ_TIMEOUT_MS)?;
        self.with_bar(|bar| {
            // The interrupt comes after the device cleared `computing`; check it anyway.
            if bar.read(regs::STATUS).computing() {
                return Err(EIO);
            }
            Ok(bar.read(regs::FACTORIAL).value().get())
        })?
    }

    /// Raises an interrupt with the given status `bits` and waits until the handler saw it.
    fn raise(&self, bits: u32) -> Result {
        if bits == 0 || bits & (IRQ_FACT | IRQ_DMA) != 0 {
            return Err(EINVAL);
        }
        let _op = self.ops.lock();
        let before = self.events().raised;
        self.with_bar(|bar| bar.write_reg(regs::IRQ_RAISE::zeroed().with_bits(bits)))?;
        self.wait_for(|ev| ev.raised != before, IRQ_TIMEOUT_MS)
    }

    /// Checks that `len` bytes at `offset` lie inside the device's 4 KiB buffer.
    ///
    /// The device trusts the addresses it is given: an unchecked request from user space would
    /// make it copy outside its own buffer.
    fn check_range(offset: usize, len: usize) -> Result {
        // The device checks its own range.
        let _ = (offset, len);
        Ok(())
    }

    /// Runs one DMA transfer of `len` bytes and waits for its completion interrupt.
    ///
    /// `to_ram` selects the direction: `false` copies from RAM at `src` into the device buffer
    /// at `dst`, `true` from the device buffer at `src` to RAM at `dst`. The caller holds `ops`.
    fn run_dma(&self, src: u32, dst: u32, len: usize, to_ram: bool) -> Result {
        let before = self.events().dma;
        self.with_bar(|bar| {
            bar.write_reg(regs::DMA_SRC::zeroed().with_addr(src));
            bar.write_reg(regs::DMA_DST::zeroed().with_addr(dst));
            bar.write_reg(regs::DMA_COUNT::zeroed().with_bytes(len as u32));
            bar.write_reg(
                regs::DMA_CMD::zeroed()
                    .with_start(true)
                    .with_to_ram(to_ram)
                    .with_irq_on_done(true),
            );
        })?;
        self.wait_for(|ev| ev.dma != before, DMA_TIMEOUT_MS)
    }

    /// Copies the user buffer `data` into the device buffer at `offset`, by DMA.
    fn dma_to_device(&self, offset: usize, data: UserSliceReader) -> Result {
        let len = data.len();
        Self::check_range(offset, len)?;
        let mut bounce = KVec::with_capacity(len, GFP_KERNEL)?;
        data.read_all(&mut bounce, GFP_KERNEL)?;

        let _op = self.ops.lock();
        io_project!(&self.buf, [try: 0..len]).copy_from_slice(&bounce);
        // The 28-bit DMA mask keeps the buffer's bus address below 2^28.
        let ram = u32::try_from(self.buf.dma_address())?;
        self.run_dma(ram, EDU_DMA_BASE + offset as u32, len, false)
    }

    /// Copies `out.len()` bytes of the device buffer at `offset` to the user buffer `out`, by
    /// DMA.
    fn dma_from_device(&self, offset: usize, mut out: UserSliceWriter) -> Result {
        let len = out.len();
        Self::check_range(offset, len)?;

        let _op = self.ops.lock();
        let ram = u32::try_from(self.buf.dma_address())?;
        self.run_dma(EDU_DMA_BASE + offset as u32, ram, len, true)?;
        out.write_dma(&self.buf, 0, len)
    }
}

/// The interrupt handler; `irq::Registration` calls [`irq::Handler::handle`] in IRQ context.
struct EduIrq {
    edu: Arc<Edu>,
}

impl irq::Handler for EduIrq {
    /// Reads the IRQ status, acknowledges exactly those bits, counts them and wakes waiters.
    ///
    /// Returns `IrqReturn::None` when the status is zero (not our interrupt).
    fn handle(&self) -> IrqReturn {
        let status = self.edu.with_bar(|bar| {
            let status = bar.read(regs::IRQ_STATUS);
            if status.into_raw() != 0 {
                bar.write_reg(regs::IRQ_ACK::zeroed().with_bits(status.into_raw()));
            }
            status
        });
        let status = match status {
            Ok(status) if status.into_raw() != 0 => status,
            _ => return IrqReturn::None,
        };

        let mut events = self.edu.events.lock();
        events.irqs += 1;
        if status.factorial() {
            events.fact += 1;
        }
        if status.dma() {
            events.dma += 1;
        }
        if status.into_raw() & !(IRQ_FACT | IRQ_DMA) != 0 {
            events.raised += 1;
        }
        events.last_status = status.into_raw();
        drop(events);

        self.edu.wake.notify_all();
        IrqReturn::Handled
    }
}

kernel::sync::global_lock! {
    // SAFETY: Initialized in module initializer before first use.
    unsafe(uninit) static EDU: Mutex<Option<Arc<Edu>>> = None;
}

/// The driver data: what the PCI driver keeps while it is bound to the device.
///
/// Fields are dropped in declaration order: first the interrupt handler (`free_irq`), then the
/// interrupt vectors it uses, last the driver's reference to [`Edu`].
#[pin_data]
struct EduBinding<'bound> {
    #[pin]
    irq: irq::Registration<'bound, EduIrq>,
    vectors: pci::IrqVectorRegistration<'bound>,
    edu: Arc<Edu>,
}

struct EduDriver;

kernel::pci_device_table!(
    PCI_TABLE,
    <EduDriver as pci::Driver>::IdInfo,
    [(pci::DeviceId::from_class(EDU_CLASS, 0xffffff), ())]
);

impl EduDriver {
    /// Checks that `pdev` is an edu, enables it as a DMA-capable bus master with a 28-bit DMA
    /// mask, maps BAR0 and creates the shared [`Edu`].
    ///
    /// The ID table matches the whole class 0x00ff00 ("other"), so this is where the vendor
    /// and device IDs are checked: anything else gets `ENODEV`.
    fn setup(pdev: &pci::Device<Core<'_>>) -> Result<Arc<Edu>> {
        if pdev.vendor_id().as_raw() != EDU_VENDOR || pdev.device_id() != EDU_DEVICE {
            return Err(ENODEV);
        }

        pdev.enable_device_mem()?;
        pdev.set_master();
        // SAFETY: Called in probe, before any DMA allocation or mapping for this device.
        unsafe { pdev.dma_set_mask_and_coherent(DmaMask::new::<EDU_DMA_BITS>())? };

        let bar = pdev.iomap_region_sized::<{ regs::END }>(0, c"edu")?;
        let id = bar.read(regs::ID);
        dev_info!(
            pdev,
            "edu {}.{} (ID {:#010x})\n",
            id.major().get(),
            id.minor().get(),
            id.into_raw()
        );
        Edu::new(pdev, bar)
    }
}

impl pci::Driver for EduDriver {
    type IdInfo = ();
    type Data<'bound> = EduBinding<'bound>;
    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        pin_init::pin_init_scope(move || {
            if EDU.lock().is_some() {
                dev_err!(pdev, "only one edu device is supported\n");
                return Err(EBUSY);
            }
            let edu = Self::setup(pdev)?;
            let handler = EduIrq { edu: edu.clone() };

            // Interrupt vectors: MSI (this VM has no ACPI, so INTx is not routed).
            let vectors = pdev.alloc_irq_vectors(1, 1, pci::IrqTypes::all())?;
            dev_info!(pdev, "interrupt type {:?}\n", vectors.irq_type());

            Ok(try_pin_init!(EduBinding {
                edu,
                vectors,
                irq <- {
                    // The handler registration borrows `vectors`, a sibling field: pin-init has
                    // no safe syntax for that yet (nova-core does the same with its BAR).
                    //
                    // SAFETY: `vectors` is initialised above (fields are initialised in the
                    // order written here), lives at a pinned address in the driver data and is
                    // dropped after `irq` (fields are dropped in declaration order).
                    let vectors: &'bound pci::IrqVectorRegistration<'bound> =
                        unsafe { &*core::ptr::from_ref(vectors) };
                    // Register `handler` for the first (only) vector.
                    let vector = vectors.index(0)?;
                    // SAFETY: The registration is a field of the driver data, which the driver
                    // core drops after unbind; it is never leaked.
                    unsafe {
                        irq::Registration::new(
                            vector.into(),
                            irq::Flags::SHARED,
                            c"edu",
                            Ok::<_, Error>(handler),
                        )
                    }
                },
                _: {
                    // Everything is ready: let `/dev/edu` hand the device out.
                    *EDU.lock() = Some(edu.clone());
                },
            }))
        })
    }

    fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        // New opens of /dev/edu fail from now on; files already open get ENODEV from the
        // revoked BAR once the unbind completes.
        EDU.lock().take();
        // Quiesce the device: no more factorial interrupts.
        let _ = this
            .edu
            .with_bar(|bar| bar.write_reg(regs::STATUS::zeroed()));
    }
}

/// `/dev/edu`'s ioctl numbers; `README.md` documents the C side.
const EDU_IOC_ID: u32 = _IOR::<u32>('E' as u32, 0x01);
const EDU_IOC_LIVENESS: u32 = _IOWR::<u32>('E' as u32, 0x02);
const EDU_IOC_FACTORIAL: u32 = _IOWR::<u32>('E' as u32, 0x03);
const EDU_IOC_RAISE: u32 = _IOW::<u32>('E' as u32, 0x04);
/// `struct edu_stats`: six `u32`.
const EDU_IOC_STATS: u32 = _IOR::<[u32; 6]>('E' as u32, 0x05);
/// `struct edu_dma`: `u64 buf; u32 offset; u32 len;`.
const EDU_IOC_DMA_WRITE: u32 = _IOW::<[u64; 2]>('E' as u32, 0x06);
const EDU_IOC_DMA_READ: u32 = _IOW::<[u64; 2]>('E' as u32, 0x07);

/// An open `/dev/edu`: a reference to the device it was opened on.
struct EduFile {
    edu: Arc<Edu>,
}

/// Reads a `struct edu_dma` request: the user buffer as a [`UserSlice`] and the offset.
fn read_dma_request(arg: UserSlice) -> Result<(UserSlice, usize)> {
    let mut reader = arg.reader();
    let buf = reader.read::<u64>()?;
    let offset = reader.read::<u32>()?;
    let len = reader.read::<u32>()?;
    let buf = UserSlice::new(UserPtr::from_addr(buf as usize), len as usize);
    Ok((buf, offset as usize))
}

#[vtable]
impl MiscDevice for EduFile {
    type Ptr = KBox<Self>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
        let edu = EDU.lock().clone().ok_or(ENODEV)?;
        Ok(KBox::new(EduFile { edu }, GFP_KERNEL)?)
    }

    fn ioctl(me: &EduFile, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let edu = &me.edu;
        let arg = UserSlice::new(UserPtr::from_addr(arg), _IOC_SIZE(cmd));
        match cmd {
            EDU_IOC_ID => arg.writer().write(&edu.id()?)?,
            EDU_IOC_LIVENESS | EDU_IOC_FACTORIAL => {
                let (mut reader, mut writer) = arg.reader_writer();
                let value = reader.read::<u32>()?;
                let result = if cmd == EDU_IOC_LIVENESS {
                    edu.liveness(value)?
                } else {
                    edu.factorial(value)?
                };
                writer.write(&result)?;
            }
            EDU_IOC_RAISE => edu.raise(arg.reader().read::<u32>()?)?,
            EDU_IOC_STATS => {
                let events = edu.events();
                let status = edu.irq_status()?;
                let mut writer = arg.writer();
                for value in [
                    events.irqs,
                    events.fact,
                    events.dma,
                    events.raised,
                    events.last_status,
                    status,
                ] {
                    writer.write(&value)?;
                }
            }
            EDU_IOC_DMA_WRITE => {
                let (buf, offset) = read_dma_request(arg)?;
                edu.dma_to_device(offset, buf.reader())?;
            }
            EDU_IOC_DMA_READ => {
                let (buf, offset) = read_dma_request(arg)?;
                edu.dma_from_device(offset, buf.writer())?;
            }
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}

/// The module: the PCI driver and the misc device `/dev/edu`.
#[pin_data]
struct EduModule {
    #[pin]
    _misc: MiscDeviceRegistration<EduFile>,
    #[pin]
    _driver: driver::Registration<pci::Adapter<EduDriver>>,
}

impl kernel::InPlaceModule for EduModule {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        // SAFETY: Called exactly once, before the driver or the misc device can use `EDU`.
        unsafe { EDU.init() };
        try_pin_init!(Self {
            _driver <- driver::Registration::new(c"edu", module),
            _misc <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"edu" }),
        })
    }
}

module! {
    type: EduModule,
    name: "edu",
    authors: ["kdlab"],
    description: "kdlab lab 05: a driver for QEMU's edu device",
    license: "GPL",
}
