//! What the running kernel supports that loading relies on, probed once per process with
//! throwaway objects and cached.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::sys::insn::{insn, LD_IMM64, RET0};
use crate::sys::{self, info};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    /// PROG_LOAD binds every map of `fd_array[0..fd_array_cnt)` (Linux 6.14+).
    pub fd_array_cnt: bool,
    /// BPF_PROG_BIND_MAP exists (Linux 5.10+).
    pub prog_bind_map: bool,
    /// Programs may point into map values (BPF_PSEUDO_MAP_VALUE: `.data`, `.rodata`).
    pub global_data: bool,
    /// ARRAY maps with BPF_F_MMAPABLE.
    pub mmapable: bool,
    /// BTF_LOAD accepts a BTF blob.
    pub btf: bool,
}

/// A BTF blob of one type, `int`: header (24 bytes), one INT (16 bytes), "\0int\0".
const TINY_BTF: [u8; 45] = [
    0x9f, 0xeb, 1, 0, 24, 0, 0, 0, // magic, version, flags, hdr_len
    0, 0, 0, 0, 16, 0, 0, 0, // type_off, type_len
    16, 0, 0, 0, 5, 0, 0, 0, // str_off, str_len
    1, 0, 0, 0, 0, 0, 0, 1, // name_off 1, info: kind INT
    4, 0, 0, 0, 32, 0, 0, 1, // size 4, 32 bits, signed
    0, b'i', b'n', b't', 0,
];

static FEATURES: OnceLock<Features> = OnceLock::new();

fn probe_map() -> Result<OwnedFd> {
    sys::map_create(&sys::MapCreate {
        name: "bpfbind_probe",
        map_type: sys::BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        flags: 0,
        btf: None,
        btf_key_type_id: 0,
        btf_value_type_id: 0,
        ..Default::default()
    })
}

fn probe_prog(fd_array: &[i32]) -> Result<OwnedFd> {
    probe_insns(&RET0, fd_array)
}

fn probe_insns(insns: &[u64], fd_array: &[i32]) -> Result<OwnedFd> {
    sys::prog_load(&sys::ProgLoad {
        fd_array,
        count_fd_array: !fd_array.is_empty(),
        ..sys::ProgLoad::gpl("bpfbind_probe", sys::BPF_PROG_TYPE_SOCKET_FILTER, insns)
    })
}

fn map_id(fd: &OwnedFd) -> Result<u32> {
    Ok(info::map_info(fd.as_fd())?.id)
}

/// The answers of a kernel that lacks an attr field or command.
fn refused(e: &Error) -> bool {
    matches!(e.errno(), Some(libc::EINVAL) | Some(libc::E2BIG))
        || matches!(e, Error::Verifier { .. })
}

fn probing(e: Error) -> Error {
    match e {
        Error::Sys { cmd, errno, .. } => Error::sys(cmd, errno, "probing what the kernel supports"),
        other => other,
    }
}

/// Probes the kernel. Errors (EPERM above all) propagate: without map and program loads
/// there is nothing to probe, and the caller's own load would fail the same way.
pub fn probe() -> Result<Features> {
    let map = probe_map().map_err(probing)?;
    let id = map_id(&map)?;
    // An older kernel refuses the unknown tail of bpf_attr (E2BIG) or the field (EINVAL);
    // one that ignored it would not list the map, so check the map ids rather than success.
    let fd_array_cnt = match probe_prog(&[map.as_raw_fd()]) {
        Ok(prog) => {
            let mut ids = Vec::new();
            info::prog_info(prog.as_fd(), &mut ids)?;
            ids.contains(&id)
        }
        Err(e) if refused(&e) => false,
        Err(e) => return Err(probing(e)),
    };
    let prog = probe_prog(&[]).map_err(probing)?;
    // Only EINVAL says the command does not exist; ENOMEM and the like are this call's
    // failure, and say nothing about the kernel.
    let prog_bind_map = match sys::prog_bind_map(prog.as_fd(), map.as_fd(), 0) {
        Ok(()) => true,
        Err(e) if refused(&e) => false,
        Err(e) => return Err(probing(e)),
    };
    // r1 = &map[0] (ld_imm64, src BPF_PSEUDO_MAP_VALUE); r0 = 0; exit
    let global = [
        insn(LD_IMM64, 1, sys::BPF_PSEUDO_MAP_VALUE, 0, map.as_raw_fd()),
        0,
        RET0[0],
        RET0[1],
    ];
    let global_data = probe_insns(&global, &[]).is_ok();
    let mmapable = sys::map_create(&sys::MapCreate {
        name: "bpfbind_probe",
        map_type: sys::BPF_MAP_TYPE_ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        flags: sys::BPF_F_MMAPABLE,
        btf: None,
        btf_key_type_id: 0,
        btf_value_type_id: 0,
        ..Default::default()
    })
    .is_ok();
    let btf = sys::btf_load(&TINY_BTF).is_ok();
    Ok(Features {
        fd_array_cnt,
        prog_bind_map,
        global_data,
        mmapable,
        btf,
    })
}

/// The cached probe; a failed probe is not cached, so a later call (with privileges) retries.
pub fn features() -> Result<Features> {
    if let Some(f) = FEATURES.get() {
        return Ok(*f);
    }
    let f = probe()?;
    Ok(*FEATURES.get_or_init(|| f))
}

/// libbpf's FEAT_BPF_COOKIE (LINUX_HAS_BPF_COOKIE): a kprobe program calling
/// bpf_get_attach_cookie loads. Probed on first use only: few objects ask.
pub fn bpf_cookie() -> bool {
    static COOKIE: OnceLock<bool> = OnceLock::new();
    *COOKIE.get_or_init(|| {
        const BPF_FUNC_GET_ATTACH_COOKIE: i32 = 174;
        let insns = [
            insn(sys::insn::CALL, 0, 0, 0, BPF_FUNC_GET_ATTACH_COOKIE),
            insn(sys::insn::EXIT, 0, 0, 0, 0),
        ];
        sys::prog_load(&sys::ProgLoad::gpl("", sys::BPF_PROG_TYPE_KPROBE, &insns)).is_ok()
    })
}

/// The syscall prefix of libbpf's arch_specific_syscall_pfx.
pub fn syscall_prefix() -> Option<&'static str> {
    if cfg!(target_arch = "x86_64") {
        Some("x64")
    } else if cfg!(target_arch = "x86") {
        Some("ia32")
    } else if cfg!(target_arch = "s390x") {
        Some("s390x")
    } else if cfg!(target_arch = "arm") {
        Some("arm")
    } else if cfg!(target_arch = "aarch64") {
        Some("arm64")
    } else if cfg!(any(target_arch = "mips", target_arch = "mips64")) {
        Some("mips")
    } else if cfg!(any(target_arch = "riscv64", target_arch = "riscv32")) {
        Some("riscv")
    } else if cfg!(any(target_arch = "powerpc", target_arch = "powerpc64")) {
        Some("powerpc")
    } else {
        None
    }
}

/// libbpf's FEAT_SYSCALL_WRAPPER (LINUX_HAS_SYSCALL_WRAPPER): whether a kprobe on
/// `__<arch>_sys_bpf` can be created, through the kprobe PMU (perf_event_open), or where
/// the kernel has none, by adding and removing a legacy tracefs kprobe event.
pub fn syscall_wrapper() -> bool {
    static WRAPPER: OnceLock<bool> = OnceLock::new();
    *WRAPPER.get_or_init(|| {
        let Some(pfx) = syscall_prefix() else {
            return false;
        };
        let func = format!("__{pfx}_sys_bpf");
        match std::fs::read_to_string("/sys/bus/event_source/devices/kprobe/type")
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        {
            Some(pmu) => sys::perf::perf_kprobe_open(pmu, &func).is_ok(),
            None => legacy_kprobe_event(&func),
        }
    })
}

/// libbpf's legacy probe: the event could be added to tracefs' kprobe_events (and is
/// removed right away).
fn legacy_kprobe_event(func: &str) -> bool {
    use std::io::Write;
    let tracefs = if std::path::Path::new("/sys/kernel/debug/tracing").exists() {
        "/sys/kernel/debug/tracing"
    } else {
        "/sys/kernel/tracing"
    };
    let events = format!("{tracefs}/kprobe_events");
    let name = format!("libbpf_{}_{func}_0x0_0", std::process::id());
    let append = |line: String| {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&events)
            .and_then(|mut f| f.write_all(line.as_bytes()))
    };
    if append(format!("p:kprobes/{name} {func}+0x0")).is_err() {
        return false;
    }
    let _ = append(format!("-:kprobes/{name}"));
    true
}
