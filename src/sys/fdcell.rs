//! An fd owner shared between threads: calls borrow the fd under a read lock, `close` takes
//! the write lock, so closing waits for calls in flight and no call sees a closed number.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::RwLock;

use crate::error::{Error, Result};

#[derive(Debug)]
pub struct FdCell {
    fd: RwLock<Option<OwnedFd>>,
    what: &'static str,
}

impl FdCell {
    pub fn new(fd: OwnedFd, what: &'static str) -> Self {
        FdCell {
            fd: RwLock::new(Some(fd)),
            what,
        }
    }

    /// Runs `f` with the fd borrowed; the fd cannot be closed until `f` returns.
    pub fn with<R>(&self, f: impl FnOnce(BorrowedFd<'_>) -> Result<R>) -> Result<R> {
        let guard = self.fd.read().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(fd) => f(fd.as_fd()),
            None => Err(Error::Invalid(format!("the {} is closed", self.what))),
        }
    }

    /// Closes the fd exactly once: marked closed first (under the write lock), dropped after.
    /// Returns whether this call closed it.
    pub fn close(&self) -> bool {
        let taken = self.fd.write().unwrap_or_else(|p| p.into_inner()).take();
        taken.is_some()
    }

    /// Closes the fd unless a call is using it right now (then returns false and leaves
    /// it open): lets an event loop close inline and fall back to a thread only if busy.
    pub fn try_close(&self) -> bool {
        match self.fd.try_write() {
            Ok(mut guard) => {
                guard.take();
                true
            }
            Err(std::sync::TryLockError::Poisoned(p)) => {
                p.into_inner().take();
                true
            }
            Err(std::sync::TryLockError::WouldBlock) => false,
        }
    }

    pub fn is_closed(&self) -> bool {
        self.fd.read().unwrap_or_else(|p| p.into_inner()).is_none()
    }

    /// The raw number, for users who pass it to other tools; valid only while open.
    pub fn raw(&self) -> Result<i32> {
        use std::os::fd::AsRawFd;
        self.with(|fd| Ok(fd.as_raw_fd()))
    }
}
