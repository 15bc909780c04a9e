//! Stage: maps. Each map definition as libbpf hands it to the kernel, inner templates
//! first, created (or a compatible pin reused), written, frozen and pinned; then the
//! deferred initialisers of maps of maps and, after the programs, of prog arrays.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use crate::elf::{MapSpec, ObjectSpec, SlotTarget};
use crate::error::{Error, Result};
use crate::sys::{self, info};

use super::pins::{path_str, PinGuard};
use super::{with_context, LoadOptions, LoadedMap, LoadedProgram, DEFAULT_PIN_ROOT};

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
    let with_btf = btf.filter(|_| {
        spec.btf_value_type_id != 0
            || spec.btf_key_type_id != 0
            || spec.btf_vmlinux_value_type_id != 0
    });
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
        btf_vmlinux_value_type_id: spec.btf_vmlinux_value_type_id,
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
    // A `.struct_ops.link` map (BPF_F_LINK) is refused EINVAL before Linux 6.4: say so.
    let link_ops = spec.map_type == crate::sys::uapi::map_type::STRUCT_OPS
        && spec.flags & crate::attach::STRUCT_OPS_LINK_FLAG != 0;
    let fd = match sys::map_create(&attr) {
        Err(e)
            if link_ops
                && e.errno() == Some(libc::EINVAL)
                && !crate::attach::kernel_at_least(6, 4) =>
        {
            return Err(Error::unsupported(
                "struct_ops links (.struct_ops.link, Linux 6.4+)",
                format!(
                    "map '{}': this kernel refuses BPF_F_LINK for struct_ops maps ({e}); \
                     declare it in .struct_ops to register it by its update",
                    spec.name
                ),
            ))
        }
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
pub(super) fn fill_map_slots(maps: &[LoadedMap]) -> Result<()> {
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
pub(super) fn fill_prog_slots(maps: &[LoadedMap], programs: &[LoadedProgram]) -> Result<()> {
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

/// Creates every map of `spec` in order (each inner template just before its outer map):
/// as libbpf defines it for the kernel, the .kconfig map with the externs' values, a
/// compatible pin reused, a new map pinned where its definition asks.
pub(super) fn create_all(
    spec: &ObjectSpec,
    resolved: &super::externs::Resolved,
    struct_ops: &super::struct_ops::Plan,
    btf: Option<BorrowedFd<'_>>,
    opts: &LoadOptions,
    pins: &mut PinGuard,
    warnings: &mut Vec<String>,
) -> Result<Vec<LoadedMap>> {
    let mut maps = Vec::with_capacity(spec.maps.len());
    for (i, m) in spec.maps.iter().enumerate() {
        let mut m = kernel_definition(m)?;
        // A struct_ops map's value is the kernel's wrapper of its ops struct.
        if let Some((value_size, vtype)) = struct_ops.map(i) {
            m.value_size = value_size;
            m.btf_vmlinux_value_type_id = vtype;
        }
        if let (Some(value), true) = (&resolved.kconfig, Some(i) == spec.kconfig_map()) {
            m.initial = Some(value.clone());
        }
        // libbpf pins LIBBPF_PIN_BY_NAME maps under /sys/fs/bpf unless told where.
        let pin_path = (m.pinning == 1).then(|| {
            opts.pin_maps
                .as_deref()
                .unwrap_or(Path::new(DEFAULT_PIN_ROOT))
                .join(&m.name)
        });
        let reused = match &pin_path {
            Some(p) => reuse_pinned(&m, p)?,
            None => None,
        };
        let fd = match reused {
            Some(fd) => fd,
            None => {
                let fd = create_map(&m, btf, warnings)?;
                if let Some(p) = &pin_path {
                    sys::obj_pin(fd.as_fd(), path_str(p)?)?;
                    pins.0.push(p.clone());
                }
                fd
            }
        };
        let id = info::map_info(fd.as_fd())?.id;
        maps.push(LoadedMap {
            spec: m,
            fd,
            id,
            pinned: pin_path,
            struct_ops_value: None,
        });
    }
    Ok(maps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::map_type as mt;

    fn def(map_type: u32, max_entries: u32) -> MapSpec {
        MapSpec {
            key_size: 4,
            value_size: 4,
            max_entries,
            btf_key_type_id: 3,
            btf_value_type_id: 4,
            ..MapSpec::new("m", "m".into(), crate::elf::MapOrigin::Btf, map_type)
        }
    }

    #[test]
    fn definitions_as_libbpf_hands_them_to_the_kernel() {
        let cpus = sys::possible_cpus().unwrap();
        let perf = kernel_definition(&def(mt::PERF_EVENT_ARRAY, 0)).unwrap();
        assert_eq!(perf.max_entries, cpus);
        assert_eq!((perf.btf_key_type_id, perf.btf_value_type_id), (0, 0));
        // A size the program chose stays.
        assert_eq!(
            kernel_definition(&def(mt::PERF_EVENT_ARRAY, 3))
                .unwrap()
                .max_entries,
            3
        );
        let hash = kernel_definition(&def(mt::HASH, 8)).unwrap();
        assert_eq!((hash.btf_key_type_id, hash.btf_value_type_id), (3, 4));
        for t in [mt::STACK_TRACE, mt::ARRAY_OF_MAPS, mt::QUEUE, mt::SOCKMAP] {
            assert_eq!(kernel_definition(&def(t, 8)).unwrap().btf_value_type_id, 0);
        }
    }

    #[test]
    fn ring_buffers_round_up_to_pages() {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u32;
        assert_eq!(ringbuf_size(1), page);
        assert_eq!(ringbuf_size(page), page);
        assert_eq!(ringbuf_size(page + 1), 2 * page);
        assert_eq!(ringbuf_size(3 * page), 4 * page);
        assert_eq!(ringbuf_size(u32::MAX), u32::MAX);
    }
}
