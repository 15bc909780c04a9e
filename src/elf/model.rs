//! The object model (the contract between elf/ and load/).

use crate::btf::{Btf, CoreRelo, FuncInfo, LineInfo};

/// One 8-byte BPF instruction, as in the object file (little-endian host assumed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high nibble.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    pub fn dst(&self) -> u8 {
        self.regs & 0x0f
    }
    pub fn src(&self) -> u8 {
        self.regs >> 4
    }
    pub fn set_src(&mut self, src: u8) {
        self.regs = (self.regs & 0x0f) | (src << 4);
    }
}

/// What a relocated `ld_imm64` must point at, filled in by load/ once maps exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelocKind {
    /// `r = map` : src_reg BPF_PSEUDO_MAP_FD (1), imm = map fd.
    Map { map: usize },
    /// `r = &global` : src_reg BPF_PSEUDO_MAP_VALUE (2), imm = map fd, next insn's imm = offset.
    MapValue { map: usize, offset: u32 },
    /// `r = &extern` (ld_imm64) against `ObjectSpec::externs[ext]`: a `.kconfig` value in its
    /// map, a ksym's BTF id or address; load/ resolves it against the running kernel.
    Extern { ext: usize },
    /// A call to a kfunc, `ObjectSpec::externs[ext]`: src_reg BPF_PSEUDO_KFUNC_CALL, imm =
    /// the kernel's BTF id of the FUNC.
    ExternCall { ext: usize },
}

/// A relocation on a linked program: `insn` indexes `ProgramSpec::insns` (the first half of
/// the ld_imm64 pair). Calls to subprograms are already resolved by elf/ and have no entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reloc {
    pub insn: usize,
    pub kind: RelocKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSpec {
    /// The function's symbol name (may be longer than the kernel's 15 characters).
    pub name: String,
    /// The ELF section it came from, e.g. "xdp", "cgroup_skb/egress", "kprobe/do_sys_open".
    pub section: String,
    /// BPF_PROG_TYPE_* and BPF_* attach type, from the section name as libbpf maps them.
    pub prog_type: u32,
    pub expected_attach_type: u32,
    /// BPF_F_* load flags implied by the section name: BPF_F_SLEEPABLE (`syscall`, `*.s`),
    /// BPF_F_XDP_HAS_FRAGS (`xdp.frags`).
    pub prog_flags: u32,
    /// What the section name says to attach to, for sections that name a target: the kernel
    /// function of `kprobe/`, the tracepoint of `tp/cat/name`, the BTF type of `tp_btf/`
    /// (load/ resolves it to attach_btf_id), the iterator of `iter/`.
    pub attach_target: Option<String>,
    /// The program followed by every subprogram it calls, transitively, calls fixed up.
    pub insns: Vec<Insn>,
    pub relocs: Vec<Reloc>,
    /// func_info and line_info for `insns`, `insn_off` in instructions, sorted.
    pub func_info: Vec<FuncInfo>,
    pub line_info: Vec<LineInfo>,
    /// CO-RE relocation records, `insn_off` in instructions of `insns`; applied at load
    /// against the target kernel's BTF.
    pub core_relos: Vec<CoreRelo>,
    /// Loaded with the object; false for `SEC("?...")` programs, as libbpf marks them.
    pub autoload: bool,
}

/// Where a map came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapOrigin {
    /// A BTF-defined map in `.maps`.
    Btf,
    /// A legacy `struct bpf_map_def` in the `maps` section (iproute2, older objects).
    Legacy,
    /// A global-data section: `.data`, `.rodata`, `.bss`, `.data.*`, `.rodata.*`, `.bss.*`.
    Data { section: String },
    /// The `.metadata` section of the original patch series.
    Metadata,
    /// The `.kconfig` map libbpf makes of the object's kconfig externs (no ELF section).
    Kconfig,
    /// A variable of `.struct_ops` / `.struct_ops.link`: a kernel ops struct (its local
    /// BTF type `type_id`, its bytes `data`) whose function pointers name programs.
    StructOps {
        section: String,
        type_id: u32,
        data: Vec<u8>,
        /// (member index in the local struct, program name).
        funcs: Vec<(u32, String)>,
    },
}

/// How libbpf reads a kconfig value into an extern, from the extern's BTF type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KcfgType {
    /// `bool` (1 byte): y/n.
    Bool,
    /// `enum libbpf_tristate`: y/n/m as TRI_YES/TRI_NO/TRI_MODULE.
    Tristate,
    /// A 1-byte integer: y/n/m as the character, or a number.
    Char,
    /// A 2-, 4- or 8-byte integer.
    Int,
    /// A char array: a quoted string.
    CharArr,
}

/// A `.kconfig` extern's place in the map value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kconfig {
    pub ty: KcfgType,
    pub size: u32,
    pub align: u32,
    pub signed: bool,
    /// Offset in the `.kconfig` map value.
    pub offset: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternKind {
    Kconfig(Kconfig),
    /// A `.ksyms` extern. `type_id`: the object's BTF type of the variable (modifiers
    /// skipped; 0 for an untyped `const void` ksym, resolved through /proc/kallsyms) or the
    /// FUNC_PROTO of a kfunc (`is_func`).
    Ksym {
        type_id: u32,
        is_func: bool,
    },
}

/// An extern symbol (`__kconfig`, `__ksym`), in libbpf's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extern {
    pub name: String,
    /// `__weak`: unresolved, it reads as 0 instead of failing the load.
    pub weak: bool,
    /// Its VAR or FUNC in the object's BTF.
    pub btf_id: u32,
    /// Its ELF symbol index.
    pub sym_idx: usize,
    pub kind: ExternKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSpec {
    /// The name users see: the map variable for BTF maps, the section name (".rodata",
    /// ".metadata") for internal maps.
    pub name: String,
    /// The kernel name (at most 15 characters) as libbpf derives it; BTF maps keep `name`
    /// truncated to 15.
    pub kernel_name: String,
    pub origin: MapOrigin,
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// BPF_F_* flags, including BPF_F_RDONLY_PROG / BPF_F_MMAPABLE for internal maps.
    pub flags: u32,
    /// 0 when absent. For internal maps: key 0 and value = the section's DATASEC.
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    /// The initial value of an internal map (`.bss`: zeroes); None for BTF maps.
    pub initial: Option<Vec<u8>>,
    /// LIBBPF_PIN_BY_NAME (1) or 0.
    pub pinning: u32,
    /// `numa_node` of a BTF map definition (meaningful with BPF_F_NUMA_NODE); 0 otherwise.
    pub numa_node: u32,
    /// `map_extra` of a BTF map definition (bloom filter hash count and the like); 0 otherwise.
    pub map_extra: u64,
    /// Internal maps that are frozen after their value is written (`.rodata*`, `.metadata`).
    pub freeze: bool,
    /// A map-in-map's inner map template (`__array(values, struct inner)`), created before
    /// the outer map and closed once the outer exists.
    pub inner: Option<Box<MapSpec>>,
    /// Static initialisers of `values` (`[i] = &map` / `[i] = &prog`), filled once their
    /// targets exist: maps after every map is created, programs after every load.
    pub init_slots: Vec<(u32, SlotTarget)>,
    /// A struct_ops map's value type in the kernel's BTF (`bpf_struct_ops_<name>`), set
    /// at load; 0 otherwise.
    pub btf_vmlinux_value_type_id: u32,
}

/// What a slot of a map-in-map or prog-array initialiser holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotTarget {
    /// Index into `ObjectSpec::maps`.
    Map(usize),
    /// A program by name.
    Program(String),
}

impl MapSpec {
    /// A map of `map_type` with every other field zero or empty, for parsers to fill in.
    pub fn new(name: &str, kernel_name: String, origin: MapOrigin, map_type: u32) -> Self {
        MapSpec {
            name: name.to_owned(),
            kernel_name,
            origin,
            map_type,
            key_size: 0,
            value_size: 0,
            max_entries: 0,
            flags: 0,
            btf_key_type_id: 0,
            btf_value_type_id: 0,
            initial: None,
            pinning: 0,
            numa_node: 0,
            map_extra: 0,
            freeze: false,
            inner: None,
            init_slots: Vec::new(),
            btf_vmlinux_value_type_id: 0,
        }
    }

    /// The ELF section an internal map holds (".rodata", ".metadata", ...); None for a
    /// BTF-defined map.
    pub fn section(&self) -> Option<&str> {
        match &self.origin {
            MapOrigin::Data { section } => Some(section),
            MapOrigin::Metadata => Some(".metadata"),
            MapOrigin::Kconfig => Some(".kconfig"),
            MapOrigin::Btf | MapOrigin::Legacy | MapOrigin::StructOps { .. } => None,
        }
    }

    /// For a metadata map with a value to decode: the prefix its variables carry
    /// (`Some("bpf_metadata_")` for `.rodata*`, None for `.metadata`, whose every variable
    /// is metadata) and its initial value with the DATASEC that describes it.
    pub fn metadata_value(&self) -> Option<(Option<&'static str>, &[u8], u32)> {
        let init = self.initial.as_deref()?;
        if !self.is_metadata() || self.btf_value_type_id == 0 {
            return None;
        }
        let prefix = match self.origin {
            MapOrigin::Metadata => None,
            _ => Some("bpf_metadata_"),
        };
        Some((prefix, init, self.btf_value_type_id))
    }

    /// Metadata maps are bound to every program of the object.
    pub fn is_metadata(&self) -> bool {
        match &self.origin {
            MapOrigin::Metadata => true,
            MapOrigin::Data { section } => section == ".rodata" || section.starts_with(".rodata."),
            MapOrigin::Btf
            | MapOrigin::Legacy
            | MapOrigin::Kconfig
            | MapOrigin::StructOps { .. } => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSpec {
    /// The object name: the file name up to its first dot (libbpf's rule); the prefix
    /// of internal maps' kernel names.
    pub name: String,
    pub license: String,
    pub kern_version: u32,
    pub programs: Vec<ProgramSpec>,
    pub maps: Vec<MapSpec>,
    /// The object's BTF with DATASEC sizes and VAR offsets filled in, ready to load.
    pub btf: Option<Btf>,
    /// Extern symbols, in libbpf's order (`RelocKind::Extern` indexes it).
    pub externs: Vec<Extern>,
    /// Metadata the object carries but cannot decode, for want of BTF (built without
    /// `-g`): the `.metadata` section, `bpf_metadata_*` variables by name.
    pub undecodable_metadata: Vec<String>,
}

impl ObjectSpec {
    /// The warning for metadata without BTF, if the object has some.
    pub fn metadata_warning(&self) -> Option<String> {
        (!self.undecodable_metadata.is_empty()).then(|| {
            format!(
                "the object has metadata ({}) but no BTF to decode it (compile with \
                 clang -g): its maps are bound, but no tool can read the values",
                self.undecodable_metadata.join(", ")
            )
        })
    }

    /// The index in `maps` of the `.kconfig` map, if the object has kconfig externs.
    pub fn kconfig_map(&self) -> Option<usize> {
        self.maps
            .iter()
            .position(|m| m.origin == MapOrigin::Kconfig)
    }
}

/// `enum bpf_map_type` values the loader treats specially (include/uapi/linux/bpf.h).
pub use crate::sys::uapi::map_type;
