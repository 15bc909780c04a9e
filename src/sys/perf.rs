//! perf_event_open(2) and the perf event ioctls, with the attr layout as
//! include/uapi/linux/perf_event.h has it (PERF_ATTR_SIZE_VER5, 112 bytes).

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::error::{Error, Result};

pub const PERF_TYPE_SOFTWARE: u32 = 1;
pub const PERF_COUNT_SW_BPF_OUTPUT: u64 = 10;
pub const PERF_SAMPLE_RAW: u64 = 1 << 10;
pub const PERF_FLAG_FD_CLOEXEC: u64 = 1 << 3;
/// `_IO('$', 0)` and `_IO('$', 1)`.
pub const PERF_EVENT_IOC_ENABLE: u64 = 0x2400;
pub const PERF_EVENT_IOC_DISABLE: u64 = 0x2401;

/// `struct perf_event_attr` up to `sample_max_stack`; `flags` holds the bitfield word
/// (bit 0 disabled, ..., bit 14 watermark).
#[repr(C)]
#[derive(Default, Clone)]
pub struct PerfEventAttr {
    pub type_: u32,
    pub size: u32,
    pub config: u64,
    pub sample_period: u64,
    pub sample_type: u64,
    pub read_format: u64,
    pub flags: u64,
    pub wakeup_events: u32,
    pub bp_type: u32,
    pub config1: u64,
    pub config2: u64,
    pub branch_sample_type: u64,
    pub sample_regs_user: u64,
    pub sample_stack_user: u32,
    pub clockid: i32,
    pub sample_regs_intr: u64,
    pub aux_watermark: u32,
    pub sample_max_stack: u16,
    pub _reserved: u16,
}

/// perf_event_open(attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC); `what` names it in errors.
pub fn perf_event_open(attr: &PerfEventAttr, pid: i32, cpu: i32, what: &str) -> Result<OwnedFd> {
    let mut attr = attr.clone();
    attr.size = std::mem::size_of::<PerfEventAttr>() as u32;
    // SAFETY: `attr` is a valid perf_event_attr of the size it states.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const PerfEventAttr,
            pid as libc::c_long,
            cpu as libc::c_long,
            -1 as libc::c_long,
            PERF_FLAG_FD_CLOEXEC as libc::c_long,
        )
    };
    if fd < 0 {
        let errno = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        return Err(Error::sys("perf_event_open", errno, what.to_string()));
    }
    // SAFETY: a new fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// A perf event ioctl without an argument (PERF_EVENT_IOC_ENABLE, ...).
pub fn perf_ioctl(fd: BorrowedFd<'_>, request: u64, what: &str) -> Result<()> {
    // SAFETY: these requests take no pointer argument.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, 0) };
    if r < 0 {
        let errno = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        return Err(Error::sys("ioctl", errno, what.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn layout_matches_uapi() {
        assert_eq!(offset_of!(PerfEventAttr, flags), 40);
        assert_eq!(offset_of!(PerfEventAttr, wakeup_events), 48);
        assert_eq!(offset_of!(PerfEventAttr, config1), 56);
        assert_eq!(offset_of!(PerfEventAttr, sample_regs_intr), 96);
        assert_eq!(size_of::<PerfEventAttr>(), 112);
    }
}
