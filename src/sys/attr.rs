//! `union bpf_attr` members, one #[repr(C)] struct per command family, laid out as in
//! include/uapi/linux/bpf.h (offsets checked by the tests below).

#[repr(C)]
#[derive(Default)]
pub struct MapCreateAttr {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub inner_map_fd: u32,
    pub numa_node: u32,
    pub map_name: [u8; 16],
    pub map_ifindex: u32,
    pub btf_fd: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub btf_vmlinux_value_type_id: u32,
    pub map_extra: u64,
}

#[repr(C)]
#[derive(Default)]
pub struct MapElemAttr {
    pub map_fd: u32,
    pub _pad: u32,
    pub key: u64,
    pub value: u64,
    pub flags: u64,
}

#[repr(C)]
#[derive(Default)]
pub struct FdAttr {
    pub fd: u32,
}

#[repr(C)]
#[derive(Default)]
pub struct ProgLoadAttr {
    pub prog_type: u32,
    pub insn_cnt: u32,
    pub insns: u64,
    pub license: u64,
    pub log_level: u32,
    pub log_size: u32,
    pub log_buf: u64,
    pub kern_version: u32,
    pub prog_flags: u32,
    pub prog_name: [u8; 16],
    pub prog_ifindex: u32,
    pub expected_attach_type: u32,
    pub prog_btf_fd: u32,
    pub func_info_rec_size: u32,
    pub func_info: u64,
    pub func_info_cnt: u32,
    pub line_info_rec_size: u32,
    pub line_info: u64,
    pub line_info_cnt: u32,
    pub attach_btf_id: u32,
    pub attach_prog_fd: u32,
    pub core_relo_cnt: u32,
    pub fd_array: u64,
    pub core_relos: u64,
    pub core_relo_rec_size: u32,
    pub log_true_size: u32,
    pub prog_token_fd: i32,
    pub fd_array_cnt: u32,
}

#[repr(C)]
#[derive(Default)]
pub struct ObjPinAttr {
    pub pathname: u64,
    pub bpf_fd: u32,
    pub file_flags: u32,
    pub path_fd: i32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Default)]
pub struct BtfLoadAttr {
    pub btf: u64,
    pub btf_log_buf: u64,
    pub btf_size: u32,
    pub btf_log_size: u32,
    pub btf_log_level: u32,
    pub btf_log_true_size: u32,
    pub btf_flags: u32,
    pub btf_token_fd: i32,
}

#[repr(C)]
#[derive(Default)]
pub struct IdAttr {
    pub id: u32,
    pub next_id: u32,
    pub open_flags: u32,
}

#[repr(C)]
#[derive(Default)]
pub struct InfoAttr {
    pub bpf_fd: u32,
    pub info_len: u32,
    pub info: u64,
}

#[repr(C)]
#[derive(Default)]
pub struct BindMapAttr {
    pub prog_fd: u32,
    pub map_fd: u32,
    pub flags: u32,
}

#[repr(C)]
#[derive(Default)]
pub struct TestRunAttr {
    pub prog_fd: u32,
    pub retval: u32,
    pub data_size_in: u32,
    pub data_size_out: u32,
    pub data_in: u64,
    pub data_out: u64,
    pub repeat: u32,
    pub duration: u32,
    pub ctx_size_in: u32,
    pub ctx_size_out: u32,
    pub ctx_in: u64,
    pub ctx_out: u64,
    pub flags: u32,
    pub cpu: u32,
    pub batch_size: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Default)]
pub struct LinkCreateAttr {
    pub prog_fd: u32,
    /// The target: a cgroup, netns or perf event fd, or an ifindex.
    pub target_fd: u32,
    pub attach_type: u32,
    pub flags: u32,
    /// The union of per-type parts at offset 16 (iter_info, perf_event.bpf_cookie,
    /// kprobe_multi, tcx, ...), written as the words the kernel reads.
    pub data: [u64; 6],
}

#[repr(C)]
#[derive(Default)]
pub struct RawTracepointOpenAttr {
    pub name: u64,
    pub prog_fd: u32,
    pub _pad: u32,
}

/// `struct bpf_link_info`: the common head, then the per-type union as words.
#[repr(C)]
#[derive(Default, Clone, Debug)]
pub struct LinkInfo {
    pub link_type: u32,
    pub id: u32,
    pub prog_id: u32,
    pub _pad: u32,
    pub data: [u64; 8],
}

impl LinkInfo {
    /// The u32 at byte `off` of the union.
    pub fn u32_at(&self, off: usize) -> u32 {
        let w = self.data[off / 8];
        if off % 8 == 0 {
            w as u32
        } else {
            (w >> 32) as u32
        }
    }
    pub fn u64_at(&self, off: usize) -> u64 {
        self.data[off / 8]
    }
    pub fn set_u32(&mut self, off: usize, v: u32) {
        let w = &mut self.data[off / 8];
        if off % 8 == 0 {
            *w = (*w & !0xffff_ffff) | u64::from(v);
        } else {
            *w = (*w & 0xffff_ffff) | (u64::from(v) << 32);
        }
    }
}

#[repr(C)]
#[derive(Default)]
pub struct IterCreateAttr {
    pub link_fd: u32,
    pub flags: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn layouts_match_uapi() {
        assert_eq!(offset_of!(MapCreateAttr, map_name), 28);
        assert_eq!(offset_of!(MapCreateAttr, btf_fd), 48);
        assert_eq!(offset_of!(MapCreateAttr, map_extra), 64);
        assert_eq!(offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(offset_of!(ProgLoadAttr, func_info), 80);
        assert_eq!(offset_of!(ProgLoadAttr, attach_btf_id), 108);
        assert_eq!(offset_of!(ProgLoadAttr, fd_array), 120);
        assert_eq!(offset_of!(ProgLoadAttr, log_true_size), 140);
        assert_eq!(offset_of!(ProgLoadAttr, fd_array_cnt), 148);
        assert_eq!(size_of::<ProgLoadAttr>(), 152);
        assert_eq!(offset_of!(BtfLoadAttr, btf_size), 16);
        assert_eq!(offset_of!(TestRunAttr, ctx_in), 48);
        assert_eq!(size_of::<MapElemAttr>(), 32);
        assert_eq!(offset_of!(LinkCreateAttr, attach_type), 8);
        assert_eq!(offset_of!(LinkCreateAttr, data), 16);
        assert_eq!(size_of::<LinkCreateAttr>(), 64);
        assert_eq!(offset_of!(LinkInfo, data), 16);
        assert_eq!(size_of::<RawTracepointOpenAttr>(), 16);
        assert_eq!(size_of::<IterCreateAttr>(), 8);
    }
}
