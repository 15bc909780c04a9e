//! `bpf_prog_info`, `bpf_map_info` and `bpf_btf_info` as OBJ_GET_INFO_BY_FD fills them,
//! plus the calls that need a second pass for variable-length parts (map ids, BTF blobs).

use std::os::fd::{AsRawFd, BorrowedFd};

use super::obj_info;
use crate::error::Result;

#[repr(C)]
#[derive(Default, Clone)]
pub struct ProgInfo {
    pub prog_type: u32,
    pub id: u32,
    pub tag: [u8; 8],
    pub jited_prog_len: u32,
    pub xlated_prog_len: u32,
    pub jited_prog_insns: u64,
    pub xlated_prog_insns: u64,
    pub load_time: u64,
    pub created_by_uid: u32,
    pub nr_map_ids: u32,
    pub map_ids: u64,
    pub name: [u8; 16],
    pub ifindex: u32,
    pub gpl_compatible: u32,
    pub netns_dev: u64,
    pub netns_ino: u64,
    pub nr_jited_ksyms: u32,
    pub nr_jited_func_lens: u32,
    pub jited_ksyms: u64,
    pub jited_func_lens: u64,
    pub btf_id: u32,
    pub func_info_rec_size: u32,
    pub func_info: u64,
    pub nr_func_info: u32,
    pub nr_line_info: u32,
    pub line_info: u64,
    pub jited_line_info: u64,
    pub nr_jited_line_info: u32,
    pub line_info_rec_size: u32,
    pub jited_line_info_rec_size: u32,
    pub nr_prog_tags: u32,
    pub prog_tags: u64,
    pub run_time_ns: u64,
    pub run_cnt: u64,
    pub recursion_misses: u64,
    pub verified_insns: u32,
    pub attach_btf_obj_id: u32,
    pub attach_btf_id: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Default, Clone)]
pub struct MapInfo {
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub name: [u8; 16],
    pub ifindex: u32,
    pub btf_vmlinux_value_type_id: u32,
    pub netns_dev: u64,
    pub netns_ino: u64,
    pub btf_id: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub btf_vmlinux_id: u32,
    pub map_extra: u64,
}

#[repr(C)]
#[derive(Default, Clone)]
pub struct BtfInfo {
    pub btf: u64,
    pub btf_size: u32,
    pub id: u32,
    pub name: u64,
    pub name_len: u32,
    pub kernel_btf: u32,
}

/// A kernel object name as text (NUL-terminated, at most 16 bytes).
pub fn name_str(name: &[u8; 16]) -> &str {
    let end = name.iter().position(|&b| b == 0).unwrap_or(16);
    std::str::from_utf8(&name[..end]).unwrap_or("")
}

/// The program's info and its map ids. `map_ids` is reused as the buffer; a program with
/// more maps than it holds is asked again with room for all of them.
pub fn prog_info(fd: BorrowedFd<'_>, map_ids: &mut Vec<u32>) -> Result<ProgInfo> {
    if map_ids.capacity() < 16 {
        map_ids.reserve(16);
    }
    loop {
        let cap = map_ids.capacity();
        map_ids.clear();
        let mut info = ProgInfo {
            nr_map_ids: cap as u32,
            map_ids: map_ids.as_mut_ptr() as u64,
            ..Default::default()
        };
        obj_info(fd, &mut info)?;
        let n = info.nr_map_ids as usize;
        if n <= cap {
            // SAFETY: the kernel wrote `n` u32 ids into the buffer of `cap` >= n elements.
            unsafe { map_ids.set_len(n) };
            info.map_ids = 0;
            return Ok(info);
        }
        map_ids.reserve(n);
    }
}

/// The program's info with its func_info records (type ids of each function), for the
/// full name of a program whose kernel name was truncated.
pub fn prog_func_info(fd: BorrowedFd<'_>, nr: u32) -> Result<(ProgInfo, Vec<[u32; 2]>)> {
    let mut recs = vec![[0u32; 2]; nr as usize];
    let mut info = ProgInfo {
        nr_func_info: nr,
        func_info_rec_size: 8,
        func_info: recs.as_mut_ptr() as u64,
        ..Default::default()
    };
    obj_info(fd, &mut info)?;
    recs.truncate(info.nr_func_info.min(nr) as usize);
    Ok((info, recs))
}

pub fn map_info(fd: BorrowedFd<'_>) -> Result<MapInfo> {
    let mut info = MapInfo::default();
    obj_info(fd, &mut info)?;
    Ok(info)
}

/// The raw BTF blob of a loaded BTF object.
pub fn btf_data(fd: BorrowedFd<'_>) -> Result<Vec<u8>> {
    let mut size = 4096usize;
    loop {
        let mut buf = vec![0u8; size];
        let mut info = BtfInfo {
            btf: buf.as_mut_ptr() as u64,
            btf_size: size as u32,
            ..Default::default()
        };
        obj_info(fd, &mut info)?;
        let need = info.btf_size as usize;
        if need <= size {
            buf.truncate(need);
            return Ok(buf);
        }
        size = need;
    }
}

/// A loaded BTF object's id, name ("vmlinux", a module's name, or "") and whether it is
/// the kernel's own (vmlinux or a module).
pub fn btf_identity(fd: BorrowedFd<'_>) -> Result<(u32, String, bool)> {
    let mut name = [0u8; 64];
    let mut info = BtfInfo {
        name: name.as_mut_ptr() as u64,
        name_len: name.len() as u32,
        ..Default::default()
    };
    obj_info(fd, &mut info)?;
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Ok((
        info.id,
        String::from_utf8_lossy(&name[..end]).into_owned(),
        info.kernel_btf != 0,
    ))
}

/// The `memlock:` figure the kernel reports in /proc/self/fdinfo (what bpftool prints).
pub fn fdinfo_memlock(fd: BorrowedFd<'_>) -> Option<u64> {
    fdinfo_field(fd, "memlock:")
}

/// Runs `f` on the text of /proc/self/fdinfo/<fd>: one open, one read, one close into a
/// stack buffer (bpf fdinfo is a few hundred bytes), as scans do this per program.
pub fn with_fdinfo<R>(fd: BorrowedFd<'_>, f: impl FnOnce(&str) -> R) -> Option<R> {
    use std::io::Read;
    let mut path = [0u8; 40];
    let mut w = &mut path[..];
    std::io::Write::write_fmt(&mut w, format_args!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    let len = 40 - w.len();
    let path = std::str::from_utf8(&path[..len]).ok()?;
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = [0u8; 1024];
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    Some(f(std::str::from_utf8(&buf[..n]).unwrap_or("")))
}

/// A numeric field of /proc/self/fdinfo/<fd> (`frozen:`, `memlock:`, ...).
pub fn fdinfo_field(fd: BorrowedFd<'_>, key: &str) -> Option<u64> {
    with_fdinfo(fd, |text| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn layouts_match_uapi() {
        assert_eq!(offset_of!(ProgInfo, load_time), 40);
        assert_eq!(offset_of!(ProgInfo, name), 64);
        assert_eq!(offset_of!(ProgInfo, gpl_compatible), 84);
        assert_eq!(offset_of!(ProgInfo, btf_id), 128);
        assert_eq!(offset_of!(ProgInfo, run_time_ns), 192);
        assert_eq!(offset_of!(ProgInfo, attach_btf_id), 224);
        assert_eq!(offset_of!(MapInfo, btf_id), 64);
        assert_eq!(size_of::<MapInfo>(), 88);
        assert_eq!(size_of::<BtfInfo>(), 32);
    }
}
