//! Perf buffers: one BPF-output perf event per online CPU, each with its ring mapped,
//! stored in a BPF_MAP_TYPE_PERF_EVENT_ARRAY at its CPU's index; samples and lost-sample
//! counts read in batches. Closing removes the entries and closes every event.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use super::perf::{self, PerfEventAttr};
use super::ringbuf::{page_size, Epoll, Mapping};
use crate::error::{Error, Result};

pub const BPF_MAP_TYPE_PERF_EVENT_ARRAY: u32 = 4;
const PERF_RECORD_LOST: u32 = 2;
const PERF_RECORD_SAMPLE: u32 = 9;
/// Offsets of data_head and data_tail in `struct perf_event_mmap_page`.
const DATA_HEAD: usize = 1024;
const DATA_TAIL: usize = 1032;

/// The CPUs of a list such as /sys/devices/system/cpu/online ("0-3,8").
pub fn cpu_indices(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.trim().split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?),
            None => {
                let v = part.trim().parse::<u32>().ok()?;
                (v, v)
            }
        };
        if b < a || b - a > 1 << 16 {
            return None;
        }
        out.extend(a..=b);
    }
    Some(out)
}

pub fn online_cpus() -> Result<Vec<u32>> {
    const PATH: &str = "/sys/devices/system/cpu/online";
    let text = std::fs::read_to_string(PATH)
        .map_err(|e| Error::sys("open", e.raw_os_error().unwrap_or(libc::EIO), PATH))?;
    cpu_indices(&text).ok_or_else(|| Error::Refused {
        errno: libc::EINVAL,
        msg: format!("cannot read the CPU list {text:?} of {PATH}"),
    })
}

struct CpuRing {
    cpu: u32,
    event: OwnedFd,
    map: Mapping,
    /// Bytes of data (a power of two of pages).
    size: usize,
}

impl CpuRing {
    fn head(&self) -> &AtomicU64 {
        // SAFETY: data_head is an 8-aligned u64 of the mapped perf_event_mmap_page.
        unsafe { &*(self.map.ptr.add(DATA_HEAD) as *const AtomicU64) }
    }
    fn tail(&self) -> &AtomicU64 {
        // SAFETY: as above, data_tail.
        unsafe { &*(self.map.ptr.add(DATA_TAIL) as *const AtomicU64) }
    }
}

/// One perf buffer over a perf event array.
pub struct PerfBuf {
    map: OwnedFd,
    rings: Vec<CpuRing>,
    page: usize,
    /// Scratch for records that wrap around a ring's end.
    scratch: Vec<u8>,
}

/// What one read found.
pub enum PerfRecord<'a> {
    Sample { cpu: u32, data: &'a [u8] },
    Lost { cpu: u32, count: u64 },
}

impl PerfBuf {
    /// Opens a BPF-output event on every online CPU with `pages` (a power of two) data
    /// pages each, and stores each at its CPU's index of the perf event array `map`.
    /// On any failure what was set up is undone.
    pub fn new(map: BorrowedFd<'_>, max_entries: u32, pages: usize, name: &str) -> Result<PerfBuf> {
        if pages == 0 || !pages.is_power_of_two() {
            return Err(Error::Invalid(format!(
                "a perf buffer needs a power of two of pages, not {pages}"
            )));
        }
        let map = super::dup(map, name)?;
        let page = page_size();
        let mut buf = PerfBuf {
            map,
            rings: Vec::new(),
            page,
            scratch: Vec::new(),
        };
        let mut attr = PerfEventAttr {
            type_: perf::PERF_TYPE_SOFTWARE,
            config: perf::PERF_COUNT_SW_BPF_OUTPUT,
            sample: 1,
            sample_type: perf::PERF_SAMPLE_RAW,
            wakeup_events: 1,
            ..Default::default()
        };
        for cpu in online_cpus()? {
            if cpu >= max_entries {
                // libbpf skips them too: the program cannot write there.
                continue;
            }
            let what = format!("perf buffer '{name}', CPU {cpu}");
            let event = perf::perf_event_open(&mut attr, -1, cpu as i32, &what)?;
            let mapping = Mapping::new(
                event.as_fd(),
                page * (pages + 1),
                libc::PROT_READ | libc::PROT_WRITE,
                0,
                &what,
            )?;
            let key = cpu.to_le_bytes();
            let value = (event.as_raw_fd() as u32).to_le_bytes();
            super::mapops::update(buf.map.as_fd(), &key, &value, 0)?;
            buf.rings.push(CpuRing {
                cpu,
                event,
                map: mapping,
                size: page * pages,
            });
            let r = buf.rings.last().map(|r| r.event.as_fd());
            if let Some(fd) = r {
                perf::perf_ioctl(fd, perf::PERF_EVENT_IOC_ENABLE, &what)?;
            }
        }
        Ok(buf)
    }

    /// Watches every CPU's event in `epoll`, with tokens `base`, `base + 1`, ...
    pub fn register(&self, epoll: &Epoll, base: u64) -> Result<()> {
        for (i, r) in self.rings.iter().enumerate() {
            epoll.add(r.event.as_fd(), base + i as u64)?;
        }
        Ok(())
    }

    pub fn ncpus(&self) -> usize {
        self.rings.len()
    }

    /// Hands up to `max` records (samples and lost counts) to `emit`, ring after ring,
    /// then moves each ring's tail past what was read. Returns how many records.
    pub fn consume(&mut self, max: usize, mut emit: impl FnMut(PerfRecord<'_>)) -> usize {
        let mut n = 0;
        for ring in &self.rings {
            if n >= max {
                break;
            }
            // SAFETY: the data area starts one page into the mapping.
            let data = unsafe { ring.map.ptr.add(self.page) };
            let size = ring.size as u64;
            let head = ring.head().load(Ordering::Acquire);
            let mut tail = ring.tail().load(Ordering::Relaxed);
            while tail < head && n < max {
                let off = (tail % size) as usize;
                // The 8-byte header never wraps: records are 8-aligned.
                // SAFETY: off + 8 <= size, inside the data area.
                let hdr = unsafe { std::slice::from_raw_parts(data.add(off), 8) };
                let typ = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
                let len = usize::from(u16::from_le_bytes([hdr[6], hdr[7]]));
                if len < 8 || len as u64 > head - tail {
                    // A torn record: stop rather than read garbage.
                    break;
                }
                let rec: &[u8] = if off + len <= ring.size {
                    // SAFETY: the record lies inside the data area.
                    unsafe { std::slice::from_raw_parts(data.add(off), len) }
                } else {
                    let first = ring.size - off;
                    self.scratch.clear();
                    // SAFETY: the two parts are inside the data area.
                    unsafe {
                        self.scratch
                            .extend_from_slice(std::slice::from_raw_parts(data.add(off), first));
                        self.scratch
                            .extend_from_slice(std::slice::from_raw_parts(data, len - first));
                    }
                    &self.scratch
                };
                match typ {
                    PERF_RECORD_SAMPLE if rec.len() >= 12 => {
                        let raw = u32::from_le_bytes([rec[8], rec[9], rec[10], rec[11]]) as usize;
                        let end = (12 + raw).min(rec.len());
                        emit(PerfRecord::Sample {
                            cpu: ring.cpu,
                            data: &rec[12..end],
                        });
                        n += 1;
                    }
                    PERF_RECORD_LOST if rec.len() >= 24 => {
                        let mut c = [0u8; 8];
                        c.copy_from_slice(&rec[16..24]);
                        emit(PerfRecord::Lost {
                            cpu: ring.cpu,
                            count: u64::from_le_bytes(c),
                        });
                        n += 1;
                    }
                    _ => {}
                }
                tail += len as u64;
            }
            ring.tail().store(tail, Ordering::Release);
        }
        n
    }
}

impl Drop for PerfBuf {
    fn drop(&mut self) {
        // The array holds each event's file: remove the entries, or the events would
        // outlive this buffer for as long as the map lives.
        for r in &self.rings {
            let _ = perf::perf_ioctl(r.event.as_fd(), perf::PERF_EVENT_IOC_DISABLE, "");
            let _ = super::mapops::delete(self.map.as_fd(), &r.cpu.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_indices("0-3,8\n"), Some(vec![0, 1, 2, 3, 8]));
        assert_eq!(cpu_indices("0"), Some(vec![0]));
        assert_eq!(cpu_indices("3-1"), None);
        assert_eq!(cpu_indices("x"), None);
        assert_eq!(cpu_indices("0-4294967295"), None);
    }
}
