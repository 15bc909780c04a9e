//! BPF ring buffer consumers: the map's consumer page mapped read-write, the producer
//! page and the data (mapped twice in a row by the kernel, so a record that wraps is
//! still contiguous) read-only; records read in batches, one release store per batch.
//! An epoll fd over several ring buffers tells an event loop when any has data.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::error::{Error, Result};

/// BPF_RINGBUF_BUSY_BIT / BPF_RINGBUF_DISCARD_BIT of a record header's length word.
const BUSY: u32 = 1 << 31;
const DISCARD: u32 = 1 << 30;
const HDR: usize = 8;

pub const BPF_MAP_TYPE_RINGBUF: u32 = 27;

pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// A shared mapping, unmapped on drop.
pub(crate) struct Mapping {
    pub ptr: *mut u8,
    pub len: usize,
}

// SAFETY: the mapping is owned by this value; what it points at is shared with the
// kernel and read or written only through atomics and copies.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Mapping {
    pub(crate) fn new(
        fd: BorrowedFd<'_>,
        len: usize,
        prot: i32,
        offset: usize,
        what: &str,
    ) -> Result<Mapping> {
        // SAFETY: a fresh shared mapping of `fd`; the result is checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            let errno = std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO);
            return Err(Error::sys("mmap", errno, what.to_string()));
        }
        Ok(Mapping {
            ptr: ptr.cast(),
            len,
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping what mmap returned, once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// One ring buffer map, mapped for reading.
pub struct RingBuf {
    /// The map's own fd (a duplicate), which the mappings and epoll refer to.
    fd: OwnedFd,
    consumer: Mapping,
    producer: Mapping,
    mask: u64,
    page: usize,
}

impl RingBuf {
    /// Maps the ring buffer of `fd` (a BPF_MAP_TYPE_RINGBUF of `size` data bytes, a power
    /// of two); the fd is duplicated.
    pub fn new(fd: BorrowedFd<'_>, size: u32, name: &str) -> Result<RingBuf> {
        let fd = super::dup(fd, name)?;
        let size = size as usize;
        if size == 0 || !size.is_power_of_two() {
            return Err(Error::Invalid(format!(
                "ring buffer '{name}' has {size} bytes, not a power of two"
            )));
        }
        let page = page_size();
        let what = format!("ring buffer '{name}'");
        let consumer = Mapping::new(
            fd.as_fd(),
            page,
            libc::PROT_READ | libc::PROT_WRITE,
            0,
            &what,
        )?;
        let len = size
            .checked_mul(2)
            .and_then(|n| n.checked_add(page))
            .ok_or_else(|| Error::Invalid(format!("{what} is too large to map")))?;
        let producer = Mapping::new(fd.as_fd(), len, libc::PROT_READ, page, &what)?;
        Ok(RingBuf {
            fd,
            consumer,
            producer,
            mask: size as u64 - 1,
            page,
        })
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: the consumer page starts with the kernel's u64 consumer position,
        // 8-aligned (page-aligned), valid while the mapping lives.
        unsafe { &*(self.consumer.ptr as *const AtomicU64) }
    }

    fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: as above, for the producer page.
        unsafe { &*(self.producer.ptr as *const AtomicU64) }
    }

    fn data(&self) -> *const u8 {
        // SAFETY: the data starts one page into the producer mapping.
        unsafe { self.producer.ptr.add(self.page) }
    }

    /// Bytes written and not yet consumed.
    pub fn pending(&self) -> u64 {
        let prod = self.producer_pos().load(Ordering::Acquire);
        let cons = self.consumer_pos().load(Ordering::Relaxed);
        prod.saturating_sub(cons)
    }

    /// Hands up to `max` committed records to `emit` (discarded ones are skipped), then
    /// tells the kernel they are consumed (one release store). Stops at a record still
    /// being written. Returns how many records `emit` got.
    pub fn consume(&self, max: usize, mut emit: impl FnMut(&[u8])) -> usize {
        let data = self.data();
        let size = self.mask + 1;
        let mut cons = self.consumer_pos().load(Ordering::Relaxed);
        let mut n = 0;
        let mut prod = self.producer_pos().load(Ordering::Acquire);
        while n < max {
            if cons >= prod {
                // Pick up what was committed while we read.
                prod = self.producer_pos().load(Ordering::Acquire);
                if cons >= prod {
                    break;
                }
            }
            let off = (cons & self.mask) as usize;
            // SAFETY: `off` < size, so the 4-byte-aligned header lies inside the data.
            let hdr = unsafe { &*(data.add(off) as *const AtomicU32) }.load(Ordering::Acquire);
            if hdr & BUSY != 0 {
                break;
            }
            let len = (hdr & !(BUSY | DISCARD)) as usize;
            let total = ((len + HDR + 7) & !7) as u64;
            if total > size {
                // Cannot happen with a sane kernel; never read outside the mapping.
                break;
            }
            if hdr & DISCARD == 0 {
                // SAFETY: the record (header + len <= size bytes from off < size) lies
                // inside the twice-mapped data area of 2 * size bytes.
                let rec = unsafe { std::slice::from_raw_parts(data.add(off + HDR), len) };
                emit(rec);
                n += 1;
            }
            cons += total;
        }
        self.consumer_pos().store(cons, Ordering::Release);
        n
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// An epoll instance over the fds of several buffers; its fd is readable while any of
/// them has data, which is what an event loop waits on.
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    pub fn new() -> Result<Epoll> {
        // SAFETY: epoll_create1 has no memory preconditions.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(last("epoll_create1", ""));
        }
        // SAFETY: a new fd owned by nobody else.
        Ok(Epoll {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Watches `fd` for input; `token` comes back from `wait`.
    pub fn add(&self, fd: BorrowedFd<'_>, token: u64) -> Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` is valid for the call; both fds are open.
        let r = unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                &mut ev,
            )
        };
        if r != 0 {
            return Err(last("epoll_ctl", "EPOLL_CTL_ADD"));
        }
        Ok(())
    }

    /// The tokens of the fds ready now, waiting at most `timeout_ms` (0: not at all).
    pub fn wait(&self, timeout_ms: i32, out: &mut Vec<u64>) -> Result<()> {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 64];
        // SAFETY: `evs` has room for its length in events.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                evs.as_mut_ptr(),
                evs.len() as i32,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = last("epoll_wait", "");
            return if e.errno() == Some(libc::EINTR) {
                Ok(())
            } else {
                Err(e)
            };
        }
        out.extend(evs[..n as usize].iter().map(|e| e.u64));
        Ok(())
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

pub(crate) fn last(call: &'static str, ctx: &str) -> Error {
    let errno = std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO);
    Error::sys(call, errno, ctx.to_string())
}
