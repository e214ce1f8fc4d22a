// SPDX-License-Identifier: GPL-2.0

//! Alternative solution to lab 02: the buffer is a fixed array in a global
//! lock (`global_lock!`) instead of a `KVec` in an `Arc`, the registration is
//! boxed by a plain `kernel::Module`, open files carry no data (`Ptr = ()`),
//! and read handles the file position by hand.

use kernel::{
    fs::{
        File,
        Kiocb, //
    },
    ioctl::{
        _IO,
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
    prelude::*,
    sync::global_lock,
    uaccess::UserSlice,
};

const SIZE: usize = 4096;

module! {
    type: AltScratch,
    name: "scratch",
    authors: ["kdlab"],
    description: "lab 02 alternative solution",
    license: "GPL",
}

struct Store {
    bytes: [u8; SIZE],
    used: usize,
}

global_lock! {
    // SAFETY: `STORE.init()` is called in `AltScratch::init`, before the device is registered.
    unsafe(uninit) static STORE: Mutex<Store> = Store {
        bytes: [0; SIZE],
        used: 0,
    };
}

struct AltScratch {
    _device: Pin<KBox<MiscDeviceRegistration<Node>>>,
}

impl kernel::Module for AltScratch {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: Called once per load, before anything can use the lock.
        unsafe { STORE.init() };
        let options = MiscDeviceOptions {
            name: c"kdlab-scratch",
        };
        Ok(AltScratch {
            _device: KBox::pin_init(MiscDeviceRegistration::register(options), GFP_KERNEL)?,
        })
    }
}

struct Node;

#[vtable]
impl MiscDevice for Node {
    type Ptr = ();

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result {
        Ok(())
    }

    fn read_iter(mut kiocb: Kiocb<'_, ()>, iov: &mut IovIterDest<'_>) -> Result<usize> {
        let pos = kiocb.ki_pos();
        if pos < 0 {
            return Err(EINVAL);
        }
        let store = STORE.lock();
        let from = usize::try_from(pos).unwrap_or(usize::MAX);
        if from >= store.used {
            return Ok(0);
        }
        let done = iov.copy_to_iter(&store.bytes[from..store.used]);
        *kiocb.ki_pos_mut() = pos + done as i64;
        Ok(done)
    }

    fn write_iter(_kiocb: Kiocb<'_, ()>, iov: &mut IovIterSource<'_>) -> Result<usize> {
        let count = iov.len();
        let mut store = STORE.lock();
        let at = store.used;
        let end = at.checked_add(count).filter(|&e| e <= SIZE).ok_or(ENOSPC)?;
        if iov.copy_from_iter(&mut store.bytes[at..end]) != count {
            return Err(EFAULT);
        }
        store.used = end;
        Ok(count)
    }

    fn ioctl(_me: (), _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        const GET_LEN: u32 = _IOR::<u32>(b'k' as u32, 1);
        const CLEAR: u32 = _IO(b'k' as u32, 2);
        if cmd == GET_LEN {
            let used = STORE.lock().used as u32;
            UserSlice::new(UserPtr::from_addr(arg), core::mem::size_of::<u32>())
                .writer()
                .write(&used)?;
        } else if cmd == CLEAR {
            STORE.lock().used = 0;
        } else {
            return Err(ENOTTY);
        }
        Ok(0)
    }
}
