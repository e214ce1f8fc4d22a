// SPDX-License-Identifier: GPL-2.0

//! Alternative solution for lab 05 (edu capstone), written independently of the reference.
//!
//! Differences from the reference driver:
//! - the interrupt is handled in a threaded handler (`irq::ThreadedRegistration`), so the
//!   counters sit behind a plain `Mutex` and waiters sleep on a `CondVar` with that mutex;
//! - the misc device belongs to the binding (it appears in probe and goes away on unbind);
//! - DMA uses two coherent buffers, one per direction;
//! - register values are handled as raw `Bounded` fields, the BAR through `DevresGuard`s.

use kernel::{
    device::Core,
    dma::{
        Coherent,
        Device as _,
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
    irq,
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
        Arc,
        CondVar,
        CondVarTimeoutResult,
        Mutex, //
    },
    time,
    uaccess::UserSlice,
};

mod hw {
    use super::*;

    pub(crate) const WINDOW: usize = 0xa0;
    pub(crate) const BUF_ADDR: u32 = 0x4_0000;
    pub(crate) const BUF_LEN: usize = 0x1000;
    pub(crate) const FACT_BIT: u32 = 1 << 0;
    pub(crate) const DMA_BIT: u32 = 1 << 8;

    register! {
        pub(crate) IDENT(u32) @ 0x00 {
            31:0 raw;
        }
        pub(crate) ALIVE(u32) @ 0x04 {
            31:0 raw;
        }
        pub(crate) FACT(u32) @ 0x08 {
            31:0 raw;
        }
        pub(crate) CTRL(u32) @ 0x20 {
            7:7 fact_irq;
            0:0 busy;
        }
        pub(crate) ISR(u32) @ 0x24 {
            31:0 raw;
        }
        pub(crate) ISR_SET(u32) @ 0x60 {
            31:0 raw;
        }
        pub(crate) ISR_CLR(u32) @ 0x64 {
            31:0 raw;
        }
        pub(crate) XFER_SRC(u32) @ 0x80 {
            31:0 raw;
        }
        pub(crate) XFER_DST(u32) @ 0x88 {
            31:0 raw;
        }
        pub(crate) XFER_LEN(u32) @ 0x90 {
            31:0 raw;
        }
        pub(crate) XFER_GO(u32) @ 0x98 {
            2:2 notify;
            1:1 inbound;
            0:0 run;
        }
    }
}

type Regs<'a> = pci::Bar<'a, { hw::WINDOW }>;
type RegsGuard<'a> = kernel::devres::DevresGuard<'a, Regs<'static>>;

#[derive(Default, Clone, Copy)]
struct Counters {
    all: u32,
    fact: u32,
    dma: u32,
    user: u32,
    last: u32,
}

#[pin_data]
struct Shared {
    regs: pci::DevresBar<{ hw::WINDOW }>,
    tx: Coherent<[u8]>,
    rx: Coherent<[u8]>,
    #[pin]
    busy: Mutex<()>,
    #[pin]
    counters: Mutex<Counters>,
    #[pin]
    changed: CondVar,
}

impl Shared {
    fn regs_or_gone(&self) -> Result<RegsGuard<'_>> {
        self.regs.try_access().ok_or(ENODEV)
    }

    fn snapshot(&self) -> Counters {
        *self.counters.lock()
    }

    fn sleep_until(&self, ms: u32, cond: impl Fn(&Counters) -> bool) -> Result {
        let mut budget = time::msecs_to_jiffies(ms);
        let mut guard = self.counters.lock();
        loop {
            if cond(&guard) {
                return Ok(());
            }
            budget = match self.changed.wait_interruptible_timeout(&mut guard, budget) {
                CondVarTimeoutResult::Woken { jiffies } => jiffies,
                CondVarTimeoutResult::Timeout => return Err(ETIMEDOUT),
                CondVarTimeoutResult::Signal { .. } => return Err(ERESTARTSYS),
            };
        }
    }

    fn ident(&self) -> Result<u32> {
        let regs = self.regs_or_gone()?;
        Ok(regs.read(hw::IDENT).raw().get())
    }

    fn invert(&self, v: u32) -> Result<u32> {
        let _busy = self.busy.lock();
        let regs = self.regs_or_gone()?;
        regs.write_reg(hw::ALIVE::from_raw(v));
        Ok(regs.read(hw::ALIVE).into_raw())
    }

    fn fact(&self, n: u32) -> Result<u32> {
        let _busy = self.busy.lock();
        let seen = self.snapshot().fact;
        {
            let regs = self.regs_or_gone()?;
            regs.write_reg(hw::CTRL::zeroed().with_const_fact_irq::<1>());
            regs.write_reg(hw::FACT::from_raw(n));
        }
        self.sleep_until(1000, |c| c.fact > seen)?;
        let regs = self.regs_or_gone()?;
        if regs.read(hw::CTRL).busy().get() != 0 {
            return Err(EBUSY);
        }
        Ok(regs.read(hw::FACT).raw().get())
    }

    fn fire(&self, bits: u32) -> Result {
        if bits == 0 || bits & (hw::FACT_BIT | hw::DMA_BIT) != 0 {
            return Err(EINVAL);
        }
        let _busy = self.busy.lock();
        let seen = self.snapshot().user;
        self.regs_or_gone()?.write_reg(hw::ISR_SET::from_raw(bits));
        self.sleep_until(1000, |c| c.user > seen)
    }

    fn transfer(&self, src: u32, dst: u32, len: usize, inbound: bool) -> Result {
        let seen = self.snapshot().dma;
        {
            let regs = self.regs_or_gone()?;
            regs.write_reg(hw::XFER_SRC::from_raw(src));
            regs.write_reg(hw::XFER_DST::from_raw(dst));
            regs.write_reg(hw::XFER_LEN::from_raw(len as u32));
            regs.write_reg(
                hw::XFER_GO::zeroed()
                    .with_const_run::<1>()
                    .with_inbound(inbound)
                    .with_const_notify::<1>(),
            );
        }
        self.sleep_until(2000, |c| c.dma > seen)
    }

    fn window(off: u32, len: usize) -> Result<u32> {
        let end = (off as usize).checked_add(len).ok_or(EINVAL)?;
        if len == 0 || end > hw::BUF_LEN {
            return Err(EINVAL);
        }
        Ok(hw::BUF_ADDR + off)
    }

    fn push(&self, off: u32, user: UserSlice, len: usize) -> Result {
        let dev_addr = Self::window(off, len)?;
        let mut data = KVec::new();
        user.read_all(&mut data, GFP_KERNEL)?;
        let _busy = self.busy.lock();
        io_project!(&self.tx, [try: 0..len]).copy_from_slice(&data);
        let bus = u32::try_from(self.tx.dma_address()).map_err(|_| EIO)?;
        self.transfer(bus, dev_addr, len, false)
    }

    fn pull(&self, off: u32, user: UserSlice, len: usize) -> Result {
        let dev_addr = Self::window(off, len)?;
        let _busy = self.busy.lock();
        let bus = u32::try_from(self.rx.dma_address()).map_err(|_| EIO)?;
        self.transfer(dev_addr, bus, len, true)?;
        user.writer().write_dma(&self.rx, 0, len)
    }
}

struct Isr {
    shared: Arc<Shared>,
}

impl irq::ThreadedHandler for Isr {
    fn handle_threaded(&self) -> irq::IrqReturn {
        let bits = match self.shared.regs.try_access() {
            Some(regs) => {
                let bits = regs.read(hw::ISR).raw().get();
                if bits != 0 {
                    regs.write_reg(hw::ISR_CLR::from_raw(bits));
                }
                bits
            }
            None => 0,
        };
        if bits == 0 {
            return irq::IrqReturn::None;
        }
        {
            let mut c = self.shared.counters.lock();
            c.all += 1;
            c.last = bits;
            if bits & hw::FACT_BIT != 0 {
                c.fact += 1;
            }
            if bits & hw::DMA_BIT != 0 {
                c.dma += 1;
            }
            if bits & !(hw::FACT_BIT | hw::DMA_BIT) != 0 {
                c.user += 1;
            }
        }
        self.shared.changed.notify_all();
        irq::IrqReturn::Handled
    }
}

kernel::sync::global_lock! {
    // SAFETY: Initialized in module initializer before first use.
    unsafe(uninit) static CURRENT: Mutex<Option<Arc<Shared>>> = None;
}

#[pin_data(PinnedDrop)]
struct Bound<'bound> {
    #[pin]
    node: MiscDeviceRegistration<Client>,
    #[pin]
    isr: irq::ThreadedRegistration<'bound, Isr>,
    vecs: pci::IrqVectorRegistration<'bound>,
    shared: Arc<Shared>,
}

#[pinned_drop]
impl PinnedDrop for Bound<'_> {
    fn drop(self: Pin<&mut Self>) {
        let mut cur = CURRENT.lock();
        if cur.as_ref().is_some_and(|s| Arc::ptr_eq(s, &self.shared)) {
            *cur = None;
        }
    }
}

struct EduPci;

kernel::pci_device_table!(
    IDS,
    <EduPci as pci::Driver>::IdInfo,
    [(pci::DeviceId::from_class(0xff00, 0xffff00), ())]
);

impl pci::Driver for EduPci {
    type IdInfo = ();
    type Data<'bound> = Bound<'bound>;
    const ID_TABLE: pci::IdTable<()> = &IDS;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound ()>,
    ) -> impl PinInit<Bound<'bound>, Error> + 'bound {
        pin_init::pin_init_scope(move || {
            if (pdev.vendor_id().as_raw(), pdev.device_id()) != (0x1234, 0x11e8) {
                return Err(ENODEV);
            }
            pdev.enable_device_mem()?;
            pdev.set_master();
            // SAFETY: No DMA allocation or mapping has been made for `pdev` yet.
            unsafe { pdev.dma_set_mask_and_coherent(DmaMask::try_new(28)?)? };

            let regs: Regs<'_> = pdev.iomap_region_sized(0, c"edu-alt")?;
            let shared = Arc::pin_init(
                try_pin_init!(Shared {
                    regs: regs.into_devres()?,
                    tx: Coherent::zeroed_slice(pdev.as_ref(), hw::BUF_LEN, GFP_KERNEL)?,
                    rx: Coherent::zeroed_slice(pdev.as_ref(), hw::BUF_LEN, GFP_KERNEL)?,
                    busy <- new_mutex!(()),
                    counters <- new_mutex!(Counters::default()),
                    changed <- new_condvar!(),
                }),
                GFP_KERNEL,
            )?;
            let isr = Isr {
                shared: shared.clone(),
            };
            let msi_only = pci::IrqTypes::default()
                .with(pci::IrqType::Msi)
                .with(pci::IrqType::MsiX);
            let vecs = pdev.alloc_irq_vectors(1, 1, msi_only)?;

            Ok(try_pin_init!(Bound {
                shared,
                vecs,
                isr <- {
                    // SAFETY: `vecs` was initialised just before and sits at a pinned address
                    // in the driver data; it is declared (hence dropped) after `isr`.
                    let vecs: &'bound pci::IrqVectorRegistration<'bound> =
                        unsafe { &*core::ptr::from_ref(vecs) };
                    let first = vecs.index(0)?;
                    // SAFETY: Part of the driver data, which is always dropped, never forgotten.
                    unsafe {
                        irq::ThreadedRegistration::new(
                            first.into(),
                            irq::Flags::ONESHOT,
                            c"edu-alt",
                            Ok::<_, Error>(isr),
                        )
                    }
                },
                node <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"edu" }),
                _: {
                    *CURRENT.lock() = Some(shared.clone());
                },
            }))
        })
    }

    fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Bound<'bound>>) {
        // Wait for an operation in flight (a DMA still writing into `rx`), then switch the
        // factorial interrupt off: nothing may interrupt once the handler is gone.
        let _busy = this.shared.busy.lock();
        if let Ok(regs) = this.shared.regs_or_gone() {
            regs.write_reg(hw::CTRL::zeroed());
        }
    }
}

const fn io_r<T>(nr: u32) -> u32 {
    _IOR::<T>(b'E' as u32, nr)
}
const fn io_w<T>(nr: u32) -> u32 {
    _IOW::<T>(b'E' as u32, nr)
}
const fn io_wr<T>(nr: u32) -> u32 {
    _IOWR::<T>(b'E' as u32, nr)
}

struct Client {
    shared: Arc<Shared>,
}

#[vtable]
impl MiscDevice for Client {
    type Ptr = Pin<KBox<Client>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Client>) -> Result<Pin<KBox<Client>>> {
        let shared = CURRENT.lock().as_ref().cloned().ok_or(ENXIO)?;
        Ok(KBox::pin(Client { shared }, GFP_KERNEL)?)
    }

    fn ioctl(me: Pin<&Client>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        const ID: u32 = io_r::<u32>(1);
        const LIVE: u32 = io_wr::<u32>(2);
        const FACT: u32 = io_wr::<u32>(3);
        const RAISE: u32 = io_w::<u32>(4);
        const STATS: u32 = io_r::<[u32; 6]>(5);
        const PUSH: u32 = io_w::<[u64; 2]>(6);
        const PULL: u32 = io_w::<[u64; 2]>(7);

        let s = &me.shared;
        let user = UserSlice::new(UserPtr::from_addr(arg), _IOC_SIZE(cmd));
        match cmd {
            ID => user.writer().write(&s.ident()?)?,
            LIVE => {
                let (mut r, mut w) = user.reader_writer();
                let v = s.invert(r.read::<u32>()?)?;
                w.write(&v)?;
            }
            FACT => {
                let (mut r, mut w) = user.reader_writer();
                let v = s.fact(r.read::<u32>()?)?;
                w.write(&v)?;
            }
            RAISE => s.fire(user.reader().read::<u32>()?)?,
            STATS => {
                let c = s.snapshot();
                let isr = s.regs_or_gone()?.read(hw::ISR).raw().get();
                let mut w = user.writer();
                for v in [c.all, c.fact, c.dma, c.user, c.last, isr] {
                    w.write(&v)?;
                }
            }
            PUSH | PULL => {
                let mut r = user.reader();
                let ptr = r.read::<u64>()? as usize;
                let off = r.read::<u32>()?;
                let len = r.read::<u32>()? as usize;
                let data = UserSlice::new(UserPtr::from_addr(ptr), len);
                if cmd == PUSH {
                    s.push(off, data, len)?;
                } else {
                    s.pull(off, data, len)?;
                }
            }
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}

#[pin_data]
struct AltModule {
    #[pin]
    reg: driver::Registration<pci::Adapter<EduPci>>,
}

impl kernel::InPlaceModule for AltModule {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        // SAFETY: The only call, before the driver is registered.
        unsafe { CURRENT.init() };
        try_pin_init!(AltModule {
            reg <- driver::Registration::new(c"edu_alt", module),
        })
    }
}

module! {
    type: AltModule,
    name: "edu",
    authors: ["kdlab"],
    description: "kdlab lab 05 alternative solution",
    license: "GPL",
}
