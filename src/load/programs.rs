//! Stage: programs. Each program's instructions as the kernel gets them (CO-RE applied,
//! maps and externs relocated), its attach target, and BPF_PROG_LOAD with the metadata
//! binding the load chose.

use std::os::fd::{AsFd, AsRawFd, RawFd};

use crate::elf::{ExternKind, Insn, ObjectSpec, ProgramSpec, RelocKind};
use crate::error::{Error, Result};
use crate::sys::{self, info};

use super::binding::MetadataBinding;

const STRUCT_OPS: u32 = crate::elf::sections::prog_type::STRUCT_OPS;
use super::{core, externs, LoadedMap, LoadedProgram};

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
        // off: the fd_array slot of the kfunc's BTF, 0 for vmlinux, its module's slot
        // otherwise; an unresolved __weak kfunc gets imm 0.
        insns[at].imm = if st.set { st.btf_id as i32 } else { 0 };
        insns[at].off = if st.set { st.btf_fd_idx } else { 0 };
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

/// Loads every program that autoloads (`SEC("?...")` ones are left out, as libbpf leaves
/// them): relocated, checked against its attach target, bound as `binding` says. A
/// rejection at a poisoned CO-RE instruction names the relocation.
/// The fd_array of every program load, and whether the kernel is told its length
/// (`fd_array_cnt`, which binds every map in it): the BTF of modules whose kfuncs the
/// object calls at slots 1.. (libbpf's numbering: a call's `off` names its slot), then
/// the metadata maps where they are bound through fd_array. Slot 0 stands for vmlinux
/// and is never read as a kfunc's; it repeats slot 1, so that a counted array holds only
/// BTF and maps, as the kernel requires.
fn fd_array(resolved: &externs::Resolved, binding: &MetadataBinding<'_>) -> (Vec<RawFd>, bool) {
    let maps = binding.fd_array();
    let btfs: Vec<RawFd> = resolved
        .kfunc_btfs
        .iter()
        .map(|(_, fd)| fd.as_raw_fd())
        .collect();
    if btfs.is_empty() {
        return (maps.to_vec(), !maps.is_empty());
    }
    let mut all = Vec::with_capacity(1 + btfs.len() + maps.len());
    all.push(btfs[0]);
    all.extend(&btfs);
    all.extend(maps);
    (all, !maps.is_empty())
}

/// The object's loaded BTF as programs refer to it.
pub(super) struct ProgBtf<'a> {
    pub fd: Option<std::os::fd::BorrowedFd<'a>>,
    /// Whether the kernel takes func_info and line_info (it knows BTF functions).
    pub func_info: bool,
}

pub(super) fn load_all(
    spec: &ObjectSpec,
    maps: &[LoadedMap],
    targets: &core::Targets,
    resolved: &externs::Resolved,
    struct_ops: &super::struct_ops::Plan,
    btf: ProgBtf<'_>,
    binding: &MetadataBinding<'_>,
) -> Result<Vec<LoadedProgram>> {
    let ProgBtf { fd: btf, func_info } = btf;
    let (fd_array, count_fd_array) = fd_array(resolved, binding);
    let mut core = spec.btf.as_ref().and_then(|local| targets.core(local));
    let mut programs = Vec::with_capacity(spec.programs.len());
    for p in spec.programs.iter().filter(|p| p.autoload) {
        let (insns, poisoned) = relocate(spec, p, maps, core.as_mut(), resolved)?;
        // A kernel without BTF functions takes neither func_info nor line_info (libbpf
        // leaves both out there).
        let (fi, li) = if func_info {
            func_info_bytes(p)
        } else {
            Default::default()
        };
        // A struct_ops program attaches to the kernel ops struct its map names, as the
        // member it implements.
        let (attach_btf_id, expected_attach_type) = if p.prog_type == STRUCT_OPS {
            struct_ops.program(&p.name).ok_or_else(|| Error::Refused {
                errno: libc::EINVAL,
                msg: format!(
                    "struct_ops program '{}' implements no member of a struct_ops map",
                    p.name
                ),
            })?
        } else {
            (attach_btf_id(p)?, p.expected_attach_type)
        };
        let fd = sys::prog_load(&sys::ProgLoad {
            name: &p.name,
            prog_type: p.prog_type,
            expected_attach_type,
            insns: &insns,
            license: &spec.license,
            kern_version: spec.kern_version,
            btf,
            func_info: &fi,
            line_info: &li,
            attach_btf_id,
            prog_flags: p.prog_flags,
            fd_array: &fd_array,
            count_fd_array,
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
        binding.bind_loaded(fd.as_fd(), &p.name)?;
        let mut ids = Vec::new();
        let pi = info::prog_info(fd.as_fd(), &mut ids)?;
        programs.push(LoadedProgram {
            name: p.name.clone(),
            section: p.section.clone(),
            prog_type: p.prog_type,
            expected_attach_type,
            fd,
            id: pi.id,
            tag: pi.tag,
            map_ids: ids,
            pinned: None,
        });
    }
    Ok(programs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::{MapOrigin, MapSpec, Reloc};
    use std::os::fd::OwnedFd;

    fn map_on(fd: OwnedFd) -> LoadedMap {
        LoadedMap {
            spec: MapSpec {
                key_size: 4,
                value_size: 16,
                max_entries: 1,
                ..MapSpec::new(
                    ".data",
                    "x.data".into(),
                    MapOrigin::Data {
                        section: ".data".into(),
                    },
                    2,
                )
            },
            fd,
            id: 1,
            pinned: None,
            struct_ops_value: None,
        }
    }

    #[test]
    fn map_references_point_at_the_created_maps() {
        // Any fd stands in for a map: relocation only copies the number.
        let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        let raw = fd.as_raw_fd();
        let maps = [map_on(fd)];
        let ld = |imm| Insn {
            code: 0x18,
            regs: 0x01,
            off: 0,
            imm,
        };
        let prog = ProgramSpec {
            name: "p".into(),
            section: "socket".into(),
            prog_type: 1,
            expected_attach_type: 0,
            prog_flags: 0,
            attach_target: None,
            insns: vec![ld(0), Insn::default(), ld(0), Insn::default()],
            relocs: vec![
                Reloc {
                    insn: 0,
                    kind: RelocKind::Map { map: 0 },
                },
                Reloc {
                    insn: 2,
                    kind: RelocKind::MapValue { map: 0, offset: 12 },
                },
            ],
            func_info: Vec::new(),
            line_info: Vec::new(),
            core_relos: Vec::new(),
            autoload: true,
        };
        let spec = ObjectSpec {
            name: "x".into(),
            license: "GPL".into(),
            kern_version: 0,
            programs: vec![prog.clone()],
            maps: Vec::new(),
            btf: None,
            externs: Vec::new(),
            undecodable_metadata: Vec::new(),
        };
        let (insns, poisoned) =
            relocate(&spec, &prog, &maps, None, &externs::Resolved::default()).unwrap();
        assert!(poisoned.is_empty());
        let src = |i: usize| ((insns[i] >> 12) & 0xf) as u8;
        let imm = |i: usize| (insns[i] >> 32) as i32;
        assert_eq!((src(0), imm(0)), (sys::BPF_PSEUDO_MAP_FD, raw));
        assert_eq!(
            (src(2), imm(2), imm(3)),
            (sys::BPF_PSEUDO_MAP_VALUE, raw, 12)
        );
        // A reference to a map the object does not have is an error, not a wild fd.
        let mut bad = prog.clone();
        bad.relocs[0].kind = RelocKind::Map { map: 5 };
        assert!(relocate(&spec, &bad, &maps, None, &externs::Resolved::default()).is_err());
    }
}
