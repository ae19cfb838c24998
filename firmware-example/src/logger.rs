//! The defmt global logger: frames over semihosting to the host's stdout (decoded there by
//! `defmt-print`).
//!
//! Written here rather than taken from `defmt-semihosting` for one reason: that logger panics
//! when a frame starts inside another (a HardFault that logs while a line is being written),
//! which leaves a panic path in every image, and the anomaly detector's link check requires
//! none. This one writes the outer frame and drops the inner frame's bytes; a call out of order
//! is ignored. Otherwise it does what that logger does: one critical section per frame, the
//! frame encoded by `defmt::Encoder`, the bytes written to semihosting's stdout — by the
//! `SYS_OPEN` and `SYS_WRITE` calls themselves, since `semihosting::io::Stdout` asserts its
//! descriptor on every write (another panic path).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, Ordering, compiler_fence};

use semihosting::sys::arm_compat::syscall::{OperationNumber, ParamRegR, syscall_readonly};

/// The host's stdout, a semihosting file descriptor.
#[derive(Clone, Copy)]
struct Stdout(isize);

/// `fopen` mode "w" (`SYS_OPEN`'s mode 4).
const MODE_WRITE: usize = 4;
/// Attempts to write the rest of a partly written buffer before giving it up.
const WRITE_ATTEMPTS: u32 = 4;

impl Stdout {
    /// Opens ":tt", the host's console; `None` where the host refuses.
    fn open() -> Option<Self> {
        let name = c":tt";
        let block = [
            ParamRegR::c_str(name),
            ParamRegR::usize(MODE_WRITE),
            ParamRegR::usize(name.to_bytes().len()),
        ];
        // SAFETY: SYS_OPEN reads the three-word block and the name it points to, both live.
        let fd = unsafe { syscall_readonly(OperationNumber::SYS_OPEN, ParamRegR::block(&block)) };
        let fd = fd.usize() as isize;
        (fd != -1).then_some(Self(fd))
    }

    /// Writes `bytes`; SYS_WRITE returns how many were not written.
    fn write_all(self, mut bytes: &[u8]) {
        for _ in 0..WRITE_ATTEMPTS {
            if bytes.is_empty() {
                return;
            }
            let block =
                [ParamRegR::isize(self.0), ParamRegR::buf(bytes), ParamRegR::usize(bytes.len())];
            // SAFETY: SYS_WRITE reads the block and `bytes.len()` bytes of `bytes`, all live.
            let left = unsafe {
                syscall_readonly(OperationNumber::SYS_WRITE, ParamRegR::block(&block)).usize()
            };
            bytes = bytes.get(bytes.len().saturating_sub(left)..).unwrap_or(&[]);
        }
    }
}

#[defmt::global_logger]
struct Logger;

/// Frames open: 0 (idle), 1 (writing a frame), more (frames started inside it, dropped).
static DEPTH: AtomicU8 = AtomicU8::new(0);

/// The encoder's state, touched only by the outermost frame inside its critical section.
struct Frame {
    restore: UnsafeCell<critical_section::RestoreState>,
    encoder: UnsafeCell<defmt::Encoder>,
    stdout: UnsafeCell<Option<Stdout>>,
}

// SAFETY: every access is made by the outermost frame (DEPTH == 1), inside its critical
// section, on a single core; a frame started inside it (an exception) only changes DEPTH.
unsafe impl Sync for Frame {}

static FRAME: Frame = Frame {
    restore: UnsafeCell::new(critical_section::RestoreState::invalid()),
    encoder: UnsafeCell::new(defmt::Encoder::new()),
    stdout: UnsafeCell::new(None),
};

fn emit(stdout: &mut Option<Stdout>, bytes: &[u8]) {
    if let Some(out) = stdout {
        out.write_all(bytes);
    }
}

// SAFETY: defmt calls acquire, write*, release in order for each frame; the state is only
// touched by the outermost frame (see `Frame`).
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        // SAFETY: paired with the release of the outermost frame below.
        let restore = unsafe { critical_section::acquire() };
        let depth = DEPTH.load(Ordering::Relaxed);
        if depth > 0 {
            // A frame inside a frame (an exception that logs): dropped, the outer one goes on.
            DEPTH.store(depth.saturating_add(1), Ordering::Relaxed);
            // SAFETY: the nested acquire above, released at once (the outer frame holds its
            // own critical section).
            unsafe { critical_section::release(restore) };
            return;
        }
        DEPTH.store(1, Ordering::Relaxed);
        // A fault from here on sees DEPTH = 1 and leaves the frame's state alone: the state is
        // not touched before the store.
        compiler_fence(Ordering::SeqCst);
        // SAFETY: DEPTH was 0: this is the only frame, inside its critical section.
        unsafe {
            FRAME.restore.get().write(restore);
            let stdout = &mut *FRAME.stdout.get();
            if stdout.is_none() {
                *stdout = Stdout::open();
            }
            (*FRAME.encoder.get()).start_frame(|b| emit(stdout, b));
        }
    }

    unsafe fn flush() {
        // Semihosting is blocking: once a write returns, the host has the bytes.
    }

    unsafe fn release() {
        match DEPTH.load(Ordering::Relaxed) {
            0 => {}
            1 => {
                // SAFETY: the outermost frame, inside the critical section its acquire took.
                unsafe {
                    let stdout = &mut *FRAME.stdout.get();
                    (*FRAME.encoder.get()).end_frame(|b| emit(stdout, b));
                    let restore = FRAME.restore.get().read();
                    // The frame's state is done with before DEPTH says so.
                    compiler_fence(Ordering::SeqCst);
                    DEPTH.store(0, Ordering::Relaxed);
                    critical_section::release(restore);
                }
            }
            d => DEPTH.store(d - 1, Ordering::Relaxed),
        }
    }

    unsafe fn write(bytes: &[u8]) {
        if DEPTH.load(Ordering::Relaxed) == 1 {
            // SAFETY: the outermost frame, inside its critical section.
            unsafe {
                let stdout = &mut *FRAME.stdout.get();
                (*FRAME.encoder.get()).write(bytes, |b| emit(stdout, b));
            }
        }
    }
}
