// SPDX-License-Identifier: GPL-2.0

//! Lab 02: a misc device with a shared, locked buffer.
//!
//! Seeded bug: like the kernel sample, open creates a new buffer for each open file.
//!
//! `/dev/kdlab-scratch` is a scratchpad of at most [`CAPACITY`] bytes, shared
//! by everyone who opens it:
//!
//! - `write` appends the whole write to the end of the buffer, or refuses it
//!   with `ENOSPC` (storing nothing) when it does not fit in the free space:
//!   a write is a record that is never split.
//! - `read` returns the bytes from the file position on; at or beyond the end
//!   of the data it returns 0 (end of file), so `cat` stops.
//! - `ioctl(SCRATCH_GET_LEN, &u32)` stores the number of bytes held;
//!   `ioctl(SCRATCH_CLEAR)` empties the buffer; other commands fail with `ENOTTY`.
//!
//! Several processes may write at the same time: a [`Mutex`] around the
//! buffer makes each write happen as a whole, one after the other.

use kernel::{
    fs::{
        File,
        Kiocb, //
    },
    ioctl::{
        _IO,
        _IOC_SIZE,
        _IOR, //
    },
    iov::{
        IovIterDest,
        IovIterSource, //
    },
    miscdevice::{
        MiscDevice,
        MiscDeviceOptions,
        MiscDeviceRegistration, //
    },
    new_mutex,
    prelude::*,
    sync::{
        Arc,
        ArcBorrow,
        Mutex, //
    },
    uaccess::UserSlice,
};

/// How many bytes the scratchpad holds at most.
const CAPACITY: usize = 4096;

/// `ioctl(fd, SCRATCH_GET_LEN, &len)`: store the number of bytes held into a `u32`.
const SCRATCH_GET_LEN: u32 = _IOR::<u32>('k' as u32, 1);
/// `ioctl(fd, SCRATCH_CLEAR)`: empty the scratchpad.
const SCRATCH_CLEAR: u32 = _IO('k' as u32, 2);

module! {
    type: ScratchModule,
    name: "scratch",
    authors: ["kdlab"],
    description: "kdlab lab 02: a misc device with a shared, locked buffer",
    license: "GPL",
}

/// The module's state: the device registration and the scratchpad it serves.
///
/// The module is initialised in place (`InPlaceModule`) because a
/// `MiscDeviceRegistration` must never move once registered: the kernel keeps
/// a pointer to it. Fields are dropped in declaration order, so at `rmmod` the
/// device is deregistered first and the scratchpad is released after.
#[pin_data]
struct ScratchModule {
    #[pin]
    miscdev: MiscDeviceRegistration<Scratchpad>,
    state: Arc<Scratchpad>,
}

impl kernel::InPlaceModule for ScratchModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        // Fields are initialised in the order written here: the scratchpad
        // exists before the device appears in /dev and can be opened.
        try_pin_init!(Self {
            state: Arc::pin_init(Scratchpad::new(), GFP_KERNEL)?,
            miscdev <- MiscDeviceRegistration::register(MiscDeviceOptions {
                name: c"kdlab-scratch",
            }),
        })
    }
}

impl ScratchModule {
    /// The scratchpad served by the registration `misc` (C: `container_of`).
    fn state_of(misc: &MiscDeviceRegistration<Scratchpad>) -> &Arc<Scratchpad> {
        let misc = core::ptr::from_ref(misc).cast_mut();
        // SAFETY: The only `MiscDeviceRegistration<Scratchpad>` is the `miscdev` field of this
        // module's `ScratchModule`, so `misc` points into one. Its `state` field is initialised
        // before `miscdev` is registered and dropped after `miscdev` is deregistered, so it is
        // valid for as long as the reference `misc` is.
        unsafe { &(*kernel::container_of!(misc, ScratchModule, miscdev)).state }
    }
}

/// The device's data, shared by every open file through an [`Arc`].
#[pin_data]
struct Scratchpad {
    /// The bytes written so far; never longer than [`CAPACITY`].
    #[pin]
    buffer: Mutex<KVec<u8>>,
}

impl Scratchpad {
    /// An empty scratchpad. A kernel `Mutex` must not move once initialised,
    /// so it is built in place (pin-init) with `new_mutex!`; the vector gets
    /// its whole capacity now, so that a write never has to allocate.
    fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            buffer <- new_mutex!(KVec::with_capacity(CAPACITY, GFP_KERNEL)?),
        })
    }
}

#[vtable]
impl MiscDevice for Scratchpad {
    /// Each open file holds a reference to the one shared scratchpad.
    type Ptr = Arc<Scratchpad>;

    fn open(_file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Arc<Scratchpad>> {
        // Return (a new reference to) the scratchpad every opener shares.
        let _ = misc;
        Arc::pin_init(Scratchpad::new(), GFP_KERNEL)
    }

    fn read_iter(mut kiocb: Kiocb<'_, Self::Ptr>, iov: &mut IovIterDest<'_>) -> Result<usize> {
        // Copy the bytes from the file position on to user space, advance the
        // position, and return how many were copied (0 at or after the end).
        let me = kiocb.file();
        let buffer = me.buffer.lock();
        iov.simple_read_from_buffer(kiocb.ki_pos_mut(), &buffer)
    }

    fn write_iter(kiocb: Kiocb<'_, Self::Ptr>, iov: &mut IovIterSource<'_>) -> Result<usize> {
        // Append the whole write under the lock, or fail with ENOSPC and
        // store nothing if it does not fit in the free space.
        let me = kiocb.file();
        let wanted = iov.len();
        let mut buffer = me.buffer.lock();
        if wanted > CAPACITY - buffer.len() {
            return Err(ENOSPC);
        }
        let copied = iov.copy_from_iter_vec(&mut buffer, GFP_KERNEL)?;
        if copied < wanted {
            // A bad user address part-way: keep the record whole or not at all.
            let len = buffer.len() - copied;
            buffer.truncate(len);
            return Err(EFAULT);
        }
        Ok(copied)
    }

    fn ioctl(me: ArcBorrow<'_, Scratchpad>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        // SCRATCH_GET_LEN: write the length as a u32 to the user pointer `arg`.
        // SCRATCH_CLEAR: empty the buffer. Anything else: ENOTTY.
        match cmd {
            SCRATCH_GET_LEN => {
                let len = u32::try_from(me.buffer.lock().len())?;
                let mut writer = UserSlice::new(UserPtr::from_addr(arg), _IOC_SIZE(cmd)).writer();
                writer.write(&len)?;
                Ok(0)
            }
            SCRATCH_CLEAR => {
                me.buffer.lock().clear();
                Ok(0)
            }
            _ => Err(ENOTTY),
        }
    }
}
