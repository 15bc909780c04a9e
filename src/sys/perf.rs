//! perf_event_open(2) and the perf ioctls: the events kprobes, uprobes, tracepoints and
//! sampling programs attach to, the BPF-output events of perf buffers, and the PMU facts
//! under /sys/bus/event_source.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};

pub const PERF_TYPE_HARDWARE: u32 = 0;
pub const PERF_TYPE_SOFTWARE: u32 = 1;
pub const PERF_TYPE_TRACEPOINT: u32 = 2;
pub const PERF_COUNT_SW_CPU_CLOCK: u64 = 0;
pub const PERF_COUNT_SW_BPF_OUTPUT: u64 = 10;
pub const PERF_SAMPLE_RAW: u64 = 1 << 10;

/// `attr.flags` bits (the bitfield after read_format).
pub const FLAG_DISABLED: u64 = 1 << 0;
pub const FLAG_FREQ: u64 = 1 << 10;

const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;

/// `struct perf_event_attr` up to PERF_ATTR_SIZE_VER5 (112 bytes), which every kernel
/// bpfbind runs on accepts; later fields stay zero.
#[repr(C)]
#[derive(Default, Clone)]
pub struct PerfEventAttr {
    pub type_: u32,
    pub size: u32,
    pub config: u64,
    /// sample_period, or sample_freq with FLAG_FREQ.
    pub sample: u64,
    pub sample_type: u64,
    pub read_format: u64,
    pub flags: u64,
    pub wakeup_events: u32,
    pub bp_type: u32,
    /// kprobe_func / uprobe_path (a pointer to a C string), or config1.
    pub config1: u64,
    /// probe_offset, or config2.
    pub config2: u64,
    pub branch_sample_type: u64,
    pub sample_regs_user: u64,
    pub sample_stack_user: u32,
    pub clockid: i32,
    pub sample_regs_intr: u64,
    pub aux_watermark: u32,
    pub sample_max_stack: u16,
    pub _reserved2: u16,
}

// _IO('$', 0), _IO('$', 1), _IOW('$', 8, __u32)
pub const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;
pub const PERF_EVENT_IOC_DISABLE: libc::c_ulong = 0x2401;
const PERF_EVENT_IOC_SET_BPF: libc::c_ulong = 0x4004_2408;

/// perf_event_open(2); `what` names the event in errors ("kprobe on do_sys_open").
pub fn perf_event_open(
    attr: &mut PerfEventAttr,
    pid: i32,
    cpu: i32,
    what: &str,
) -> Result<OwnedFd> {
    attr.size = std::mem::size_of::<PerfEventAttr>() as u32;
    loop {
        // SAFETY: attr is a perf_event_attr of `size` bytes; any pointer it holds (a
        // probe's function or path) is owned by the caller and outlives the call.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                attr as *mut PerfEventAttr,
                pid as libc::c_int,
                cpu as libc::c_int,
                -1 as libc::c_int,
                PERF_FLAG_FD_CLOEXEC,
            )
        };
        if fd >= 0 {
            // SAFETY: the kernel returned a new fd that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        let errno = last_errno();
        if errno != libc::EINTR {
            return Err(Error::sys("perf_event_open", errno, what.to_string()));
        }
    }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

fn ioctl(fd: BorrowedFd<'_>, req: libc::c_ulong, arg: libc::c_ulong, what: &str) -> Result<()> {
    // SAFETY: the perf ioctls used here take an integer argument, no pointer.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), req, arg) };
    if r < 0 {
        return Err(Error::sys("ioctl", last_errno(), what.to_string()));
    }
    Ok(())
}

/// A perf event ioctl without an argument (PERF_EVENT_IOC_ENABLE, ..._DISABLE).
pub fn perf_ioctl(fd: BorrowedFd<'_>, request: libc::c_ulong, what: &str) -> Result<()> {
    ioctl(fd, request, 0, what)
}

/// PERF_EVENT_IOC_SET_BPF then PERF_EVENT_IOC_ENABLE: the old way to run a program on an
/// event, for kernels whose BPF_LINK_CREATE does not take perf events (before 5.15).
pub fn perf_set_bpf(event: BorrowedFd<'_>, prog: BorrowedFd<'_>, what: &str) -> Result<()> {
    ioctl(
        event,
        PERF_EVENT_IOC_SET_BPF,
        prog.as_raw_fd() as libc::c_ulong,
        &format!("PERF_EVENT_IOC_SET_BPF, {what}"),
    )?;
    ioctl(
        event,
        PERF_EVENT_IOC_ENABLE,
        0,
        &format!("PERF_EVENT_IOC_ENABLE, {what}"),
    )
}

/// The dynamic PMU `name` ("kprobe", "uprobe"): its type number and the config bit that
/// makes a probe a return probe; None where the kernel has no such PMU.
pub fn probe_pmu(name: &str) -> Option<(u32, u32)> {
    let base = format!("/sys/bus/event_source/devices/{name}");
    let ty = std::fs::read_to_string(format!("{base}/type")).ok()?;
    let ty = ty.trim().parse::<u32>().ok()?;
    let bit = std::fs::read_to_string(format!("{base}/format/retprobe"))
        .ok()
        .and_then(|s| parse_format_bit(&s))
        .unwrap_or(0);
    Some((ty, bit))
}

/// "config:0\n" -> 0: the bit a PMU format file names.
pub fn parse_format_bit(s: &str) -> Option<u32> {
    let bit = s.trim().strip_prefix("config:")?;
    let bit = bit.split('-').next()?;
    bit.parse::<u32>().ok().filter(|b| *b < 64)
}

/// A kprobe (kernel function + offset) or uprobe (file + file offset) event through
/// the probe PMU `pmu`; `pid`/`cpu` as perf_event_open takes them.
pub struct ProbeEvent<'a> {
    pub pmu: (u32, u32),
    pub retprobe: bool,
    /// The kernel function (kprobe) or the binary's path (uprobe).
    pub target: &'a str,
    /// The offset into the function (kprobe) or the file offset (uprobe).
    pub offset: u64,
    pub pid: i32,
    pub cpu: i32,
}

pub fn probe_open(p: &ProbeEvent<'_>, what: &str) -> Result<OwnedFd> {
    let target = CString::new(p.target)
        .map_err(|_| Error::Invalid(format!("probe target {:?} contains a NUL", p.target)))?;
    let mut attr = PerfEventAttr {
        type_: p.pmu.0,
        config: if p.retprobe { 1u64 << p.pmu.1 } else { 0 },
        config1: target.as_ptr() as u64,
        config2: p.offset,
        ..Default::default()
    };
    perf_event_open(&mut attr, p.pid, p.cpu, what)
}

/// A kprobe on `func` through the kprobe PMU of type `pmu`, counting this process on any
/// CPU (libbpf's probe for the syscall wrapper): the fd says the kprobe can exist.
pub fn perf_kprobe_open(pmu: u32, func: &str) -> Result<OwnedFd> {
    let probe = ProbeEvent {
        pmu: (pmu, 0),
        retprobe: false,
        target: func,
        offset: 0,
        // SAFETY: getpid has no preconditions.
        pid: unsafe { libc::getpid() },
        cpu: -1,
    };
    probe_open(&probe, &format!("kprobe on {func}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn attr_layout_is_ver5() {
        assert_eq!(size_of::<PerfEventAttr>(), 112);
        assert_eq!(offset_of!(PerfEventAttr, flags), 40);
        assert_eq!(offset_of!(PerfEventAttr, config1), 56);
        assert_eq!(offset_of!(PerfEventAttr, config2), 64);
        assert_eq!(offset_of!(PerfEventAttr, sample_max_stack), 108);
    }

    #[test]
    fn format_bits() {
        assert_eq!(parse_format_bit("config:0\n"), Some(0));
        assert_eq!(parse_format_bit("config:63"), Some(63));
        assert_eq!(parse_format_bit("config:64"), None);
        assert_eq!(parse_format_bit("config1:0-63"), None);
        assert_eq!(parse_format_bit("bogus"), None);
    }
}
