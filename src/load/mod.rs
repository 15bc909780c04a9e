//! ObjectSpec + kernel -> a loaded object, as a pipeline of stages (`load` lists them):
//! externs, CO-RE targets, BTF, maps (inner templates first, written, frozen, pinned),
//! deferred map-in-map slots, the metadata binding, programs, prog-array slots, pins.

mod binding;
pub mod btf;
pub mod core;
pub mod externs;
mod maps;
mod pins;
mod programs;
mod struct_ops;

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use crate::btf::{Btf, Value};
use crate::elf::{MapSpec, ObjectSpec, SpecEdits};
use crate::error::{Error, Result};

pub use maps::kernel_definition;

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
    /// Pin programs over what `pin_programs` holds already (atomically, by rename).
    pub replace_pins: bool,
    /// Forbid the fd_array path (tests force BPF_PROG_BIND_MAP with it).
    pub no_fd_array: bool,
    /// Forbid both binding paths (tests force the unbound fallback with it).
    pub no_bind_map: bool,
    /// CO-RE target BTF in place of /sys/kernel/btf/vmlinux (libbpf's btf_custom_path).
    pub btf_path: Option<PathBuf>,
    /// What changes in the object before it reaches the kernel (map sizes, autoload,
    /// attach targets, data sections' initial values): applied by `load`.
    pub edits: SpecEdits,
}

impl LoadOptions {
    /// Sets the binding paths from their name: "auto" (fd_array where the kernel has it,
    /// else BPF_PROG_BIND_MAP), "bind_map" (never fd_array) or "none" (metadata unbound).
    pub fn set_bind(&mut self, bind: &str) -> Result<()> {
        (self.no_fd_array, self.no_bind_map) = match bind {
            "auto" => (false, false),
            "bind_map" => (true, false),
            "none" => (true, true),
            other => {
                return Err(Error::Invalid(format!(
                    "bind must be 'auto', 'bind_map' or 'none', not '{other}'"
                )))
            }
        };
        Ok(())
    }
}

/// An object to load: its ELF bytes, or a file read when the load runs.
#[derive(Debug, Clone)]
pub enum ObjectSource {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// The whole of a load, from the file or bytes to the kernel objects: read, parse as
/// `name`, apply `opts.edits`, load.
pub fn load_object(source: &ObjectSource, name: &str, opts: &LoadOptions) -> Result<LoadedObject> {
    let read;
    let data = match source {
        ObjectSource::Bytes(d) => d.as_slice(),
        ObjectSource::File(p) => {
            read = std::fs::read(p).map_err(|e| {
                Error::sys(
                    "open",
                    e.raw_os_error().unwrap_or(libc::EIO),
                    p.display().to_string(),
                )
            })?;
            read.as_slice()
        }
    };
    load(&ObjectSpec::parse(data, name)?, opts)
}

/// Where libbpf pins LIBBPF_PIN_BY_NAME maps when no pin root is given.
pub const DEFAULT_PIN_ROOT: &str = "/sys/fs/bpf";

pub struct LoadedMap {
    pub spec: MapSpec,
    pub fd: OwnedFd,
    pub id: u32,
    /// Where it is pinned, when this load pinned it or reused a pin.
    pub pinned: Option<PathBuf>,
    /// A struct_ops map's value, which registers it (BPF_MAP_UPDATE_ELEM, then a link
    /// for `.struct_ops.link` maps): data members and the fds of its programs.
    pub struct_ops_value: Option<Vec<u8>>,
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

/// Adds what was being done to a failed syscall's error.
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

/// The metadata of an object's spec, both conventions, decoded from the initial values.
pub fn spec_metadata(spec: &ObjectSpec) -> Result<Vec<(String, Value)>> {
    Ok(spec_metadata_vars(spec, false)?
        .into_iter()
        .map(|v| (v.name, v.value))
        .collect())
}

/// A metadata variable of a spec: its name (prefix stripped), value, convention and, when
/// asked for, bpftool's `-j` and plain text of the value.
pub struct SpecVar {
    pub name: String,
    pub value: Value,
    /// A `bpf_metadata_*` variable of `.rodata` (else of a `.metadata` section).
    pub rodata: bool,
    pub texts: Option<(String, String)>,
}

/// Every metadata variable of a spec, `.rodata` maps' and `.metadata` sections' in map
/// order; `texts` adds bpftool's text of each value (`bpfbind metadata` prints it).
pub fn spec_metadata_vars(spec: &ObjectSpec, texts: bool) -> Result<Vec<SpecVar>> {
    let mut out = Vec::new();
    let Some(btf) = &spec.btf else {
        return Ok(out);
    };
    for (prefix, init, datasec) in spec.maps.iter().filter_map(MapSpec::metadata_value) {
        let vals = btf.decode_datasec(datasec, init, prefix)?;
        let mut dumped = if texts {
            let dump = |plain| {
                let opts = crate::btf::DumpOptions {
                    plain,
                    bpftool: crate::btf::BpftoolVersion::LATEST,
                };
                btf.dump_datasec(datasec, init, prefix, opts)
            };
            Some(dump(false)?.into_iter().zip(dump(true)?))
        } else {
            None
        };
        for (name, value) in vals {
            let texts = dumped
                .as_mut()
                .and_then(Iterator::next)
                .map(|((_, j), (_, p))| (j, p));
            out.push(SpecVar {
                name,
                value,
                rodata: prefix.is_some(),
                texts,
            });
        }
    }
    Ok(out)
}

/// Refuses, before anything reaches the kernel, a program that would load without a type.
fn check_program_types(spec: &ObjectSpec) -> Result<()> {
    match spec
        .programs
        .iter()
        .find(|p| p.autoload && p.prog_type == 0)
    {
        Some(p) => Err(Error::unsupported(
            format!("program section '{}'", p.section),
            format!(
                "program '{}': the section name gives no program type libbpf or \
                 cilium/ebpf know",
                p.name
            ),
        )),
        None => Ok(()),
    }
}

/// Loads `spec` with `opts.edits` applied (refused before anything reaches the kernel
/// when one names nothing in the object).
pub fn load(spec: &ObjectSpec, opts: &LoadOptions) -> Result<LoadedObject> {
    if opts.edits != SpecEdits::default() {
        let mut edited = spec.clone();
        edited.apply(&opts.edits)?;
        return load_spec(&edited, opts);
    }
    load_spec(spec, opts)
}

/// Loads `spec` stage by stage, in libbpf's order (bpf_object__load). Every stage's kernel
/// objects are owned values: a failure anywhere closes them and removes its pins.
fn load_spec(spec: &ObjectSpec, opts: &LoadOptions) -> Result<LoadedObject> {
    check_program_types(spec)?;
    // Externs before maps: the .kconfig map is created with their values.
    let resolved = externs::resolve(spec)?;
    let mut warnings = resolved.warnings.clone();
    warnings.extend(spec.metadata_warning());
    let targets = core::Targets::for_load(spec, opts.btf_path.as_deref())?;
    let struct_ops = struct_ops::Plan::for_load(spec)?;
    let (btf_fd, btf_kinds) = btf::load(spec)?;
    let btf = btf_fd.as_ref().map(|f| f.as_fd());

    let mut pins = pins::PinGuard::default();
    let maps = maps::create_all(
        spec,
        &resolved,
        &struct_ops,
        btf,
        opts,
        &mut pins,
        &mut warnings,
    )?;
    maps::fill_map_slots(&maps)?;
    let binding = binding::MetadataBinding::choose(&maps, opts, &mut warnings)?;
    let mut programs = programs::load_all(
        spec,
        &maps,
        &targets,
        &resolved,
        &struct_ops,
        programs::ProgBtf {
            fd: btf,
            func_info: btf_kinds.func,
        },
        &binding,
    )?;
    maps::fill_prog_slots(&maps, &programs)?;
    let struct_ops_values = maps
        .iter()
        .enumerate()
        .map(|(i, m)| match &m.spec.origin {
            crate::elf::MapOrigin::StructOps { data, .. } => {
                struct_ops.value(i, data, &programs).transpose()
            }
            _ => Ok(None),
        })
        .collect::<Result<Vec<_>>>()?;
    // Pinned only once every program loaded, as bpftool does: a rejected program
    // leaves no directory and no pin behind.
    if let Some(dir) = &opts.pin_programs {
        pins::pin_programs(dir, &mut programs, opts.replace_pins, &mut pins)?;
    }

    let metadata = spec_metadata(spec)?;
    let binding = binding.kind;
    let mut maps = maps;
    for (m, v) in maps.iter_mut().zip(struct_ops_values) {
        m.struct_ops_value = v;
    }
    pins.keep();
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
