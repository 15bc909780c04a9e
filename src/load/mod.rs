//! ObjectSpec + kernel -> a loaded object: BTF, maps (written, frozen, pinned), relocated
//! programs, and metadata maps bound to every program (fd_array at load, else PROG_BIND_MAP).

pub mod core;
pub mod externs;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::btf::{Btf, Value};
use crate::elf::{ExternKind, Insn, MapSpec, ObjectSpec, ProgramSpec, RelocKind, SlotTarget};
use crate::error::{Error, Result};
use crate::sys::{self, info};

pub use crate::sys::features::{features, Features};

/// How metadata maps got bound to the programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// `fd_array` + `fd_array_cnt` at BPF_PROG_LOAD: no window without metadata.
    FdArray,
    /// BPF_PROG_BIND_MAP right after each load.
    BindMap,
    /// The kernel offers neither: the load succeeded, metadata is not held by the programs.
    Unbound,
    /// The object has no metadata maps.
    NoMetadata,
}

impl Binding {
    pub fn as_str(self) -> &'static str {
        match self {
            Binding::FdArray => "fd_array",
            Binding::BindMap => "bind_map",
            Binding::Unbound => "unbound",
            Binding::NoMetadata => "none",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Pin maps declared `pinning = LIBBPF_PIN_BY_NAME` here (reusing a compatible pin);
    /// /sys/fs/bpf when None, as libbpf's default pin root.
    pub pin_maps: Option<PathBuf>,
    /// Pin every program here as DIR/<program name> (created if missing), like
    /// `bpftool prog loadall`. Undone if the load fails.
    pub pin_programs: Option<PathBuf>,
    /// Forbid the fd_array path (tests force BPF_PROG_BIND_MAP with it).
    pub no_fd_array: bool,
    /// Forbid both binding paths (tests force the unbound fallback with it).
    pub no_bind_map: bool,
    /// CO-RE target BTF in place of /sys/kernel/btf/vmlinux (libbpf's btf_custom_path).
    pub btf_path: Option<PathBuf>,
}

/// Where libbpf pins LIBBPF_PIN_BY_NAME maps when no pin root is given.
pub const DEFAULT_PIN_ROOT: &str = "/sys/fs/bpf";

pub struct LoadedMap {
    pub spec: MapSpec,
    pub fd: OwnedFd,
    pub id: u32,
    /// Where it is pinned, when this load pinned it or reused a pin.
    pub pinned: Option<PathBuf>,
}

pub struct LoadedProgram {
    pub name: String,
    pub section: String,
    pub prog_type: u32,
    pub expected_attach_type: u32,
    pub fd: OwnedFd,
    pub id: u32,
    pub tag: [u8; 8],
    pub map_ids: Vec<u32>,
    pub pinned: Option<PathBuf>,
}

pub struct LoadedObject {
    pub name: String,
    pub license: String,
    pub programs: Vec<LoadedProgram>,
    pub maps: Vec<LoadedMap>,
    pub btf_fd: Option<OwnedFd>,
    pub btf: Option<Btf>,
    pub binding: Binding,
    /// Decoded metadata of both conventions, prefix stripped, in map then variable order.
    pub metadata: Vec<(String, Value)>,
    pub warnings: Vec<String>,
}

/// Pins and directories created during a load, removed again if the load fails halfway.
struct PinGuard(Vec<PathBuf>, Vec<PathBuf>);

impl Drop for PinGuard {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
        for d in self.1.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| Error::Invalid(format!("path {} is not valid UTF-8", p.display())))
}

/// Map types the kernel refuses BTF key/value ids for (ENOTSUPP): libbpf creates them
/// without (its bpf_object__create_map list).
fn takes_btf_ids(map_type: u32) -> bool {
    use crate::elf::map_type as mt;
    !matches!(
        map_type,
        mt::PERF_EVENT_ARRAY
            | mt::CGROUP_ARRAY
            | mt::STACK_TRACE
            | mt::ARRAY_OF_MAPS
            | mt::HASH_OF_MAPS
            | mt::DEVMAP
            | mt::DEVMAP_HASH
            | mt::CPUMAP
            | mt::XSKMAP
            | mt::SOCKMAP
            | mt::SOCKHASH
            | mt::QUEUE
            | mt::STACK
            | mt::ARENA
    )
}

/// The definition as libbpf hands it to the kernel: a perf event array without
/// max_entries gets one entry per possible CPU, a ring buffer's size is rounded up to a
/// power-of-two number of pages, and types that take no BTF ids lose them.
pub fn kernel_definition(spec: &MapSpec) -> Result<MapSpec> {
    use crate::elf::map_type as mt;
    let mut def = spec.clone();
    if def.map_type == mt::PERF_EVENT_ARRAY && def.max_entries == 0 {
        def.max_entries = sys::possible_cpus()?;
    }
    if matches!(def.map_type, mt::RINGBUF | mt::USER_RINGBUF) && def.max_entries != 0 {
        def.max_entries = ringbuf_size(def.max_entries);
    }
    if !takes_btf_ids(def.map_type) {
        def.btf_key_type_id = 0;
        def.btf_value_type_id = 0;
    }
    Ok(def)
}

/// The smallest power-of-two multiple of the page size that holds `size` (libbpf's
/// adjust_ringbuf_sz); sizes beyond u32 stay as given, for the kernel to refuse.
fn ringbuf_size(size: u32) -> u32 {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    let mut mul: u64 = 1;
    while mul * page <= u64::from(u32::MAX) {
        if mul * page >= u64::from(size) {
            return (mul * page) as u32;
        }
        mul <<= 1;
    }
    size
}

fn map_create_attr<'a>(
    spec: &'a MapSpec,
    btf: Option<BorrowedFd<'a>>,
    inner_map: Option<BorrowedFd<'a>>,
) -> sys::MapCreate<'a> {
    let with_btf = btf.filter(|_| spec.btf_value_type_id != 0 || spec.btf_key_type_id != 0);
    sys::MapCreate {
        name: &spec.kernel_name,
        map_type: spec.map_type,
        key_size: spec.key_size,
        value_size: spec.value_size,
        max_entries: spec.max_entries,
        flags: spec.flags,
        btf: with_btf,
        btf_key_type_id: spec.btf_key_type_id,
        btf_value_type_id: spec.btf_value_type_id,
        numa_node: spec.numa_node,
        map_extra: spec.map_extra,
        inner_map,
    }
}

/// Creates `spec` (already its kernel definition). Like libbpf, a creation with BTF ids
/// that fails is retried once without them, with a warning.
fn create_map(
    spec: &MapSpec,
    btf: Option<BorrowedFd<'_>>,
    warnings: &mut Vec<String>,
) -> Result<OwnedFd> {
    // A map of maps is created from its inner template, which lives only until then.
    let inner = match &spec.inner {
        Some(t) => Some(
            create_map(&kernel_definition(t)?, btf, warnings)
                .map_err(|e| with_context(e, format!("inner map template of '{}'", spec.name)))?,
        ),
        None => None,
    };
    let inner_fd = inner.as_ref().map(|f| f.as_fd());
    let attr = map_create_attr(spec, btf, inner_fd);
    let fd = match sys::map_create(&attr) {
        Ok(fd) => fd,
        Err(e) if attr.btf.is_some() => {
            let mut plain = spec.clone();
            plain.btf_key_type_id = 0;
            plain.btf_value_type_id = 0;
            let fd =
                sys::map_create(&map_create_attr(&plain, None, inner_fd)).map_err(|_| e.clone())?;
            warnings.push(format!(
                "map '{}': created without BTF after the kernel refused it with BTF ({e})",
                spec.name
            ));
            fd
        }
        Err(e) => return Err(e),
    };
    if let Some(init) = &spec.initial {
        if init.iter().any(|&b| b != 0) {
            sys::map_update(fd.as_fd(), &0u32.to_ne_bytes(), init, 0).map_err(|e| {
                with_context(
                    e,
                    format!("writing the initial value of map '{}'", spec.name),
                )
            })?;
        }
    }
    if spec.freeze {
        sys::map_freeze(fd.as_fd())
            .map_err(|e| with_context(e, format!("freezing map '{}'", spec.name)))?;
    }
    Ok(fd)
}

fn update_slot(map: &LoadedMap, slot: u32, fd: RawFd, what: &str) -> Result<()> {
    sys::map_update(
        map.fd.as_fd(),
        &slot.to_ne_bytes(),
        &(fd as u32).to_ne_bytes(),
        0,
    )
    .map_err(|e| {
        with_context(
            e,
            format!(
                "initialising slot {slot} of map '{}' with {what}",
                map.spec.name
            ),
        )
    })
}

/// Maps of maps get their initialisers once every map exists.
fn fill_map_slots(maps: &[LoadedMap]) -> Result<()> {
    for m in maps {
        for (slot, target) in &m.spec.init_slots {
            if let SlotTarget::Map(t) = target {
                let t = maps.get(*t).ok_or_else(|| {
                    Error::Invalid(format!("map '{}' initialiser names map #{t}", m.spec.name))
                })?;
                update_slot(
                    m,
                    *slot,
                    t.fd.as_raw_fd(),
                    &format!("map '{}'", t.spec.name),
                )?;
            }
        }
    }
    Ok(())
}

/// Prog arrays get their initialisers once every program is loaded (libbpf's order).
fn fill_prog_slots(maps: &[LoadedMap], programs: &[LoadedProgram]) -> Result<()> {
    for m in maps {
        for (slot, target) in &m.spec.init_slots {
            if let SlotTarget::Program(name) = target {
                let p = programs.iter().find(|p| &p.name == name).ok_or_else(|| {
                    Error::Invalid(format!(
                        "prog array '{}' initialiser names program '{name}', which was not loaded",
                        m.spec.name
                    ))
                })?;
                update_slot(m, *slot, p.fd.as_raw_fd(), &format!("program '{name}'"))?;
            }
        }
    }
    Ok(())
}

fn with_context(e: Error, ctx: String) -> Error {
    match e {
        Error::Sys { cmd, errno, .. } => Error::Sys {
            cmd,
            errno,
            context: ctx,
        },
        other => other,
    }
}

/// A pinned map is reused only when it has the shape the object declares: type, key and
/// value size, max_entries, flags and map_extra, the fields libbpf compares.
fn reuse_pinned(spec: &MapSpec, path: &Path) -> Result<Option<OwnedFd>> {
    if !path.exists() {
        return Ok(None);
    }
    let fd = sys::obj_get(path_str(path)?)?;
    let mi = info::map_info(fd.as_fd())?;
    let fields: [(&str, u64, u64); 6] = [
        ("type", mi.map_type.into(), spec.map_type.into()),
        ("key_size", mi.key_size.into(), spec.key_size.into()),
        ("value_size", mi.value_size.into(), spec.value_size.into()),
        (
            "max_entries",
            mi.max_entries.into(),
            spec.max_entries.into(),
        ),
        ("map_flags", mi.map_flags.into(), spec.flags.into()),
        ("map_extra", mi.map_extra, spec.map_extra),
    ];
    let diffs: Vec<String> = fields
        .iter()
        .filter(|(_, pinned, ours)| pinned != ours)
        .map(|(what, pinned, ours)| format!("{what} {pinned} != {ours}"))
        .collect();
    if !diffs.is_empty() {
        return Err(Error::Refused {
            errno: libc::EINVAL,
            msg: format!(
                "cannot reuse the map pinned at {} for map '{}': it differs from the object's \
                 definition (pinned vs object: {})",
                path.display(),
                spec.name,
                diffs.join(", ")
            ),
        });
    }
    Ok(Some(fd))
}

/// Points an extern's instruction at what it resolved to, as libbpf's
/// bpf_object__relocate_data does (RELO_EXTERN_VAR / RELO_EXTERN_FUNC); the `.kconfig`
/// case, a map value, is left to the caller.
fn relocate_ksym(
    spec: &ObjectSpec,
    prog: &ProgramSpec,
    insns: &mut [Insn],
    at: usize,
    kind: RelocKind,
    ext: &externs::Resolved,
) -> Result<()> {
    let (RelocKind::Extern { ext: i } | RelocKind::ExternCall { ext: i }) = kind else {
        return Ok(());
    };
    let (e, st) = spec.externs.get(i).zip(ext.states.get(i)).ok_or_else(|| {
        Error::Invalid(format!("relocation in '{}' names extern #{i}", prog.name))
    })?;
    let ExternKind::Ksym { type_id, .. } = e.kind else {
        return Ok(());
    };
    if let RelocKind::ExternCall { .. } = kind {
        insns[at].set_src(sys::BPF_PSEUDO_KFUNC_CALL);
        // off: the fd_array index of the kfunc's BTF, 0 for vmlinux (the only one bpfbind
        // resolves against); an unresolved __weak kfunc gets imm 0.
        insns[at].imm = if st.set { st.btf_id as i32 } else { 0 };
        insns[at].off = 0;
        return Ok(());
    }
    if at + 1 >= insns.len() {
        return Err(Error::Invalid(format!(
            "relocation in '{}' at instruction {at} is past the end",
            prog.name
        )));
    }
    if type_id != 0 && st.set {
        // A typed ksym: the kernel's VAR (or FUNC) by BTF id, in vmlinux (BTF fd 0).
        insns[at].set_src(sys::BPF_PSEUDO_BTF_ID);
        insns[at].imm = st.btf_id as i32;
        insns[at + 1].imm = 0;
    } else {
        // Untyped, or an unresolved __weak typed one: the address (0 when unresolved).
        insns[at].imm = st.addr as u32 as i32;
        insns[at + 1].imm = (st.addr >> 32) as u32 as i32;
    }
    Ok(())
}

/// The program's instructions as the kernel gets them: CO-RE applied (returning what was
/// poisoned), then map references pointed at the created maps and externs at their values.
fn relocate(
    spec: &ObjectSpec,
    prog: &ProgramSpec,
    maps: &[LoadedMap],
    core: Option<&mut core::Core<'_>>,
    ext: &externs::Resolved,
) -> Result<(Vec<u64>, Vec<core::Poisoned>)> {
    let mut insns: Vec<Insn> = prog.insns.clone();
    let poisoned = match core {
        Some(c) if !prog.core_relos.is_empty() => c.apply(prog, &mut insns)?,
        _ => Vec::new(),
    };
    let kconfig = spec.kconfig_map();
    for r in &prog.relocs {
        let (map, offset, src) = match r.kind {
            RelocKind::Map { map } => (map, None, sys::BPF_PSEUDO_MAP_FD),
            RelocKind::MapValue { map, offset } => (map, Some(offset), sys::BPF_PSEUDO_MAP_VALUE),
            RelocKind::Extern { ext: i } => match spec.externs.get(i).map(|e| e.kind) {
                // A kconfig extern is its value in the .kconfig map, at its offset.
                Some(ExternKind::Kconfig(k)) => {
                    let map = kconfig.ok_or_else(|| {
                        Error::Invalid(format!(
                            "'{}' reads a kconfig extern and there is no .kconfig map",
                            prog.name
                        ))
                    })?;
                    (map, Some(k.offset), sys::BPF_PSEUDO_MAP_VALUE)
                }
                _ => {
                    relocate_ksym(spec, prog, &mut insns, r.insn, r.kind, ext)?;
                    continue;
                }
            },
            RelocKind::ExternCall { .. } => {
                relocate_ksym(spec, prog, &mut insns, r.insn, r.kind, ext)?;
                continue;
            }
        };
        let fd = maps
            .get(map)
            .ok_or_else(|| {
                Error::Invalid(format!("relocation in '{}' names map #{map}", prog.name))
            })?
            .fd
            .as_raw_fd();
        if r.insn + 1 >= insns.len() {
            return Err(Error::Invalid(format!(
                "relocation in '{}' at instruction {} is past the end",
                prog.name, r.insn
            )));
        }
        insns[r.insn].set_src(src);
        insns[r.insn].imm = fd;
        if let Some(off) = offset {
            insns[r.insn + 1].imm = off as i32;
        }
    }
    let raw = insns
        .iter()
        .map(|i| sys::insn::insn(i.code, i.dst(), i.src(), i.off, i.imm))
        .collect();
    Ok((raw, poisoned))
}

fn func_info_bytes(prog: &ProgramSpec) -> (Vec<u8>, Vec<u8>) {
    let mut fi = Vec::with_capacity(prog.func_info.len() * 8);
    for f in &prog.func_info {
        fi.extend_from_slice(&f.insn_off.to_ne_bytes());
        fi.extend_from_slice(&f.type_id.to_ne_bytes());
    }
    let mut li = Vec::with_capacity(prog.line_info.len() * 16);
    for l in &prog.line_info {
        for v in [l.insn_off, l.file_name_off, l.line_off, l.line_col] {
            li.extend_from_slice(&v.to_ne_bytes());
        }
    }
    (fi, li)
}

/// The metadata of an object's spec, both conventions, decoded from the initial values.
pub fn spec_metadata(spec: &ObjectSpec) -> Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    let Some(btf) = &spec.btf else {
        return Ok(out);
    };
    for (prefix, init, datasec) in spec.maps.iter().filter_map(MapSpec::metadata_value) {
        out.extend(btf.decode_datasec(datasec, init, prefix)?);
    }
    Ok(out)
}

/// BTF-attached programs (tp_btf, fentry/fexit/fmod_ret, lsm, iter) are verified against
/// a kernel type, named after their section's target as the kernel spells it.
fn attach_btf_id(p: &ProgramSpec) -> Result<u32> {
    use crate::btf::kind;
    use crate::elf::sections::{attach_type as at, prog_type as pt};
    if p.prog_type != pt::TRACING && p.prog_type != pt::LSM {
        return Ok(0);
    }
    let target = p.attach_target.as_deref().unwrap_or("");
    let (name, k) = match p.expected_attach_type {
        at::TRACE_RAW_TP => (format!("btf_trace_{target}"), kind::TYPEDEF),
        at::LSM_MAC => (format!("bpf_lsm_{target}"), kind::FUNC),
        at::TRACE_ITER => (format!("bpf_iter_{target}"), kind::FUNC),
        _ => (target.to_string(), kind::FUNC),
    };
    if target.is_empty() {
        return Err(Error::Invalid(format!(
            "program '{}' in section '{}' names no attach target",
            p.name, p.section
        )));
    }
    core::kernel_target()?
        .whole()
        .and_then(|b| b.find(&name, k))
        .ok_or_else(|| Error::Refused {
            errno: libc::ENOENT,
            msg: format!(
                "program '{}': the kernel has no BTF type '{name}' to attach to (section '{}')",
                p.name, p.section
            ),
        })
}

fn pin_programs(dir: &Path, programs: &mut [LoadedProgram], pins: &mut PinGuard) -> Result<()> {
    // The directories this call creates, outermost first, for the guard to remove.
    let mut missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.exists())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    for d in &missing {
        std::fs::create_dir(d).map_err(|e| {
            Error::sys(
                "mkdir",
                e.raw_os_error().unwrap_or(libc::EIO),
                d.display().to_string(),
            )
        })?;
        pins.1.push(d.clone());
    }
    for p in programs.iter_mut() {
        let path = dir.join(&p.name);
        sys::obj_pin(p.fd.as_fd(), path_str(&path)?)?;
        pins.0.push(path.clone());
        p.pinned = Some(path);
    }
    Ok(())
}

pub fn load(spec: &ObjectSpec, opts: &LoadOptions) -> Result<LoadedObject> {
    if let Some(p) = spec
        .programs
        .iter()
        .find(|p| p.autoload && p.prog_type == 0)
    {
        return Err(Error::unsupported(
            format!("program section '{}'", p.section),
            format!(
                "program '{}': the section name gives no program type libbpf or \
                 cilium/ebpf know",
                p.name
            ),
        ));
    }
    // Externs first, as libbpf resolves them before creating maps: the .kconfig map is
    // created with its value.
    let resolved = externs::resolve(spec)?;
    let mut warnings = resolved.warnings.clone();
    let btf_fd = match &spec.btf {
        Some(btf) => Some(sys::btf_load(&btf.encode())?),
        None => None,
    };
    let btf_borrow = btf_fd.as_ref().map(|f| f.as_fd());

    let mut pins = PinGuard(Vec::new(), Vec::new());
    let mut maps = Vec::with_capacity(spec.maps.len());
    for (i, m) in spec.maps.iter().enumerate() {
        let mut m = kernel_definition(m)?;
        // The .kconfig map is created with the value its externs resolved to.
        if let (Some(value), true) = (&resolved.kconfig, Some(i) == spec.kconfig_map()) {
            m.initial = Some(value.clone());
        }
        let m = &m;
        // libbpf pins LIBBPF_PIN_BY_NAME maps under /sys/fs/bpf unless told where.
        let pin_path = (m.pinning == 1).then(|| {
            opts.pin_maps
                .as_deref()
                .unwrap_or(Path::new(DEFAULT_PIN_ROOT))
                .join(&m.name)
        });
        let reused = match &pin_path {
            Some(p) => reuse_pinned(m, p)?,
            None => None,
        };
        let fd = match reused {
            Some(fd) => fd,
            None => {
                let fd = create_map(m, btf_borrow, &mut warnings)?;
                if let Some(p) = &pin_path {
                    sys::obj_pin(fd.as_fd(), path_str(p)?)?;
                    pins.0.push(p.clone());
                }
                fd
            }
        };
        let id = info::map_info(fd.as_fd())?.id;
        maps.push(LoadedMap {
            spec: m.clone(),
            fd,
            id,
            pinned: pin_path,
        });
    }

    fill_map_slots(&maps)?;

    let meta_fds: Vec<RawFd> = maps
        .iter()
        .filter(|m| m.spec.is_metadata())
        .map(|m| m.fd.as_raw_fd())
        .collect();
    let binding = if meta_fds.is_empty() {
        Binding::NoMetadata
    } else {
        let f = features()?;
        if f.fd_array_cnt && !opts.no_fd_array && !opts.no_bind_map {
            Binding::FdArray
        } else if f.prog_bind_map && !opts.no_bind_map {
            Binding::BindMap
        } else {
            warnings.push(if opts.no_bind_map {
                "binding was turned off: metadata maps are not bound to the programs".to_string()
            } else {
                "the kernel supports neither fd_array_cnt nor BPF_PROG_BIND_MAP: metadata maps \
                 are not bound to the programs"
                    .to_string()
            });
            Binding::Unbound
        }
    };

    // CO-RE targets: the caller's BTF file, else the running kernel's.
    let needs_core = spec
        .programs
        .iter()
        .any(|p| p.autoload && !p.core_relos.is_empty());
    let custom = match (&opts.btf_path, needs_core) {
        (Some(path), true) => Some(core::custom_target(path)?),
        _ => None,
    };
    let mut core = match (&spec.btf, needs_core) {
        (Some(local), true) => {
            let target = match &custom {
                Some(t) => t,
                None => core::kernel_target()?,
            };
            Some(core::Core::new(local, target, custom.is_none()))
        }
        _ => None,
    };

    let mut programs = Vec::with_capacity(spec.programs.len());
    // `SEC("?...")` programs (autoload off) are not loaded, as libbpf leaves them.
    for p in spec.programs.iter().filter(|p| p.autoload) {
        let (insns, poisoned) = relocate(spec, p, &maps, core.as_mut(), &resolved)?;
        let (fi, li) = func_info_bytes(p);
        let fd_array: &[RawFd] = if binding == Binding::FdArray {
            &meta_fds
        } else {
            &[]
        };
        let fd = sys::prog_load(&sys::ProgLoad {
            name: &p.name,
            prog_type: p.prog_type,
            expected_attach_type: p.expected_attach_type,
            insns: &insns,
            license: &spec.license,
            kern_version: spec.kern_version,
            btf: btf_borrow,
            func_info: &fi,
            line_info: &li,
            attach_btf_id: attach_btf_id(p)?,
            prog_flags: p.prog_flags,
            fd_array,
        })
        .map_err(|e| match e {
            Error::Verifier {
                program,
                errno,
                log,
                hint,
            } => Error::Verifier {
                hint: core::explain_rejection(&log, &poisoned).unwrap_or(hint),
                program,
                errno,
                log,
            },
            other => other,
        })?;
        if binding == Binding::BindMap {
            for m in maps.iter().filter(|m| m.spec.is_metadata()) {
                sys::prog_bind_map(fd.as_fd(), m.fd.as_fd(), 0).map_err(|e| {
                    with_context(
                        e,
                        format!("binding map '{}' to program '{}'", m.spec.name, p.name),
                    )
                })?;
            }
        }
        let mut ids = Vec::new();
        let pi = info::prog_info(fd.as_fd(), &mut ids)?;
        programs.push(LoadedProgram {
            name: p.name.clone(),
            section: p.section.clone(),
            prog_type: p.prog_type,
            expected_attach_type: p.expected_attach_type,
            fd,
            id: pi.id,
            tag: pi.tag,
            map_ids: ids,
            pinned: None,
        });
    }
    fill_prog_slots(&maps, &programs)?;
    // Pinned only once every program loaded, as bpftool does: a rejected program
    // leaves no directory and no pin behind.
    if let Some(dir) = &opts.pin_programs {
        pin_programs(dir, &mut programs, &mut pins)?;
    }

    let metadata = spec_metadata(spec)?;
    pins.0.clear();
    pins.1.clear();
    Ok(LoadedObject {
        name: spec.name.clone(),
        license: spec.license.clone(),
        programs,
        maps,
        btf_fd,
        btf: spec.btf.clone(),
        binding,
        metadata,
        warnings,
    })
}
