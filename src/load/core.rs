//! CO-RE at load time: each program's records resolved against the target kernel's BTF
//! (or a BTF file the caller names), instructions patched, unresolvable ones poisoned.
//! The rules (candidates, patching, poisoning) are libbpf's, so the kernel gets the same code.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use crate::btf::core::{self as relo, essential_name, Cand, Resolution, Types};
use crate::btf::{Btf, CoreRelo, LazyBtf, Type};
use crate::elf::{Insn, ObjectSpec, ProgramSpec};
use crate::error::{Error, Result};
use crate::sys;

/// The helper id libbpf writes into a poisoned instruction; the verifier reports a call
/// to it as `invalid func unknown#195896080`.
pub const POISON_HELPER: i32 = 0xbad2310;

/// A BTF that CO-RE searches for candidates: the kernel's or a file's, read lazily, or a
/// kernel module's split BTF over the kernel's.
pub struct Target {
    pub name: String,
    /// The kernel's id of a module's BTF (0 for vmlinux and files), to open it by.
    pub btf_id: u32,
    btf: TargetBtf,
    /// Candidate ids by essential name and kind, as found so far (shared by later loads).
    named: Mutex<NameCache>,
}

/// Candidate ids by (essential name, local kind).
type NameCache = HashMap<(String, u32), Arc<[u32]>>;

enum TargetBtf {
    Whole(LazyBtf),
    /// A module's own types, numbered from `start`, over the kernel's.
    Split {
        own: Vec<Type>,
        start: u32,
        base: &'static Target,
    },
}

impl Types for Target {
    fn ty(&self, id: u32) -> Option<&Type> {
        match &self.btf {
            TargetBtf::Whole(b) => b.ty(id),
            TargetBtf::Split { base, start, .. } if id < *start => base.ty(id),
            TargetBtf::Split { own, start, .. } => own.get((id - start) as usize),
        }
    }
}

impl Target {
    pub fn new(name: impl Into<String>, btf: LazyBtf) -> Self {
        Target {
            name: name.into(),
            btf_id: 0,
            btf: TargetBtf::Whole(btf),
            named: Mutex::new(HashMap::new()),
        }
    }

    /// The whole BTF, for the kernel's and a file's.
    pub fn whole(&self) -> Option<&LazyBtf> {
        match &self.btf {
            TargetBtf::Whole(b) => Some(b),
            TargetBtf::Split { .. } => None,
        }
    }

    /// The first of its own types named exactly `name`, of kind `k`.
    pub fn find_exact(&self, name: &str, k: u32) -> Option<u32> {
        match &self.btf {
            TargetBtf::Whole(b) => b.find(name, k),
            TargetBtf::Split { own, start, .. } => own
                .iter()
                .position(|t| t.kind() == k && t.name() == name)
                .map(|i| start + i as u32),
        }
    }

    /// Its own types whose essential name is `name`, of a kind CO-RE may match with a
    /// local type of kind `local_kind`, in id order.
    fn named(&self, name: &str, local_kind: u32) -> Arc<[u32]> {
        let key = (name.to_owned(), local_kind);
        let mut cache = self.named.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ids) = cache.get(&key) {
            return ids.clone();
        }
        let keep = |k| LazyBtf::kind_compat(local_kind, k);
        let ids: Arc<[u32]> = match &self.btf {
            TargetBtf::Whole(b) => b.named(name, keep).into(),
            TargetBtf::Split { own, start, .. } => own
                .iter()
                .enumerate()
                .filter(|(_, t)| {
                    !t.name().is_empty() && keep(t.kind()) && essential_name(t.name()) == name
                })
                .map(|(i, _)| start + i as u32)
                .collect(),
        };
        cache.insert(key, ids.clone());
        ids
    }
}

/// The kernel modules' BTF, in BTF id order as libbpf reads it, each parsed once per
/// process (a reloaded module gets a new BTF id, so the cache cannot go stale).
pub fn module_targets() -> Result<Vec<Arc<Target>>> {
    static CACHE: OnceLock<Mutex<HashMap<u32, Arc<Target>>>> = OnceLock::new();
    let base = kernel_target()?;
    let Some(base_btf) = base.whole() else {
        return Ok(Vec::new());
    };
    let cache = CACHE.get_or_init(Default::default);
    let mut out = Vec::new();
    let mut id = 0;
    while let Some(next) = sys::next_id(sys::IdKind::Btf, id)? {
        id = next;
        if let Some(t) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
            out.push(t.clone());
            continue;
        }
        let Some(fd) = sys::fd_by_id(sys::IdKind::Btf, id)? else {
            continue;
        };
        let (_, name, kernel) = sys::info::btf_identity(fd.as_fd())?;
        if !kernel || name == "vmlinux" {
            continue;
        }
        let data = sys::info::btf_data(fd.as_fd())?;
        let own = Btf::parse_split_over(&data, base_btf.string_table(), base_btf.count())?;
        let target = Arc::new(Target {
            name,
            btf_id: id,
            btf: TargetBtf::Split {
                own,
                start: base_btf.count() as u32,
                base,
            },
            named: Mutex::new(HashMap::new()),
        });
        cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, target.clone());
        out.push(target);
    }
    Ok(out)
}

/// The running kernel's BTF, read once per process, decoded as CO-RE, attach targets and
/// ksyms ask for its types.
pub fn kernel_target() -> Result<&'static Target> {
    static KERNEL: OnceLock<std::result::Result<Target, Error>> = OnceLock::new();
    KERNEL
        .get_or_init(|| {
            let bytes = sys::vmlinux_btf_static(
                "CO-RE relocations, BTF attach targets, ksyms and the scan's map census",
            )?;
            Ok(Target::new("vmlinux", LazyBtf::new(bytes)?))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A BTF file given in place of the kernel's (libbpf's btf_custom_path): raw BTF, as
/// /sys/kernel/btf/vmlinux holds it.
pub fn custom_target(path: &Path) -> Result<Target> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::sys(
            "open",
            e.raw_os_error().unwrap_or(libc::EIO),
            format!("BTF file {}", path.display()),
        )
    })?;
    Ok(Target::new(
        path.display().to_string(),
        LazyBtf::new(bytes)?,
    ))
}

/// The CO-RE targets of one load: a BTF file the caller named (libbpf's btf_custom_path),
/// else the running kernel's (with its modules). Read only when some program that loads
/// has CO-RE records.
pub struct Targets {
    needed: bool,
    custom: Option<Target>,
}

impl Targets {
    pub fn for_load(spec: &ObjectSpec, btf_path: Option<&Path>) -> Result<Self> {
        let needed = spec
            .programs
            .iter()
            .any(|p| p.autoload && !p.core_relos.is_empty());
        let custom = match (btf_path, needed) {
            (Some(path), true) => Some(custom_target(path)?),
            _ => None,
        };
        if needed && custom.is_none() {
            kernel_target()?;
        }
        Ok(Targets { needed, custom })
    }

    /// The CO-RE state of the load, None when no program needs it.
    pub fn core<'a>(&'a self, local: &'a Btf) -> Option<Core<'a>> {
        if !self.needed {
            return None;
        }
        let (main, modules) = match &self.custom {
            Some(t) => (t, false),
            None => (kernel_target().ok()?, true),
        };
        Some(Core::new(local, main, modules))
    }
}

/// One poisoned instruction, to name in a verifier error.
#[derive(Debug, Clone)]
pub struct Poisoned {
    pub insn: usize,
    pub what: String,
}

/// CO-RE state of one object's load: its targets and the candidates of each local type.
pub struct Core<'a> {
    local: &'a Btf,
    main: &'a Target,
    /// Module BTFs, read the first time a type has no candidate in `main`; None when the
    /// main target is a file given by the caller (libbpf searches no modules then).
    modules: Option<Option<Vec<Arc<Target>>>>,
    cache: HashMap<u32, Vec<Cand>>,
}

impl<'a> Core<'a> {
    pub fn new(local: &'a Btf, main: &'a Target, search_modules: bool) -> Self {
        Core {
            local,
            main,
            modules: search_modules.then_some(None),
            cache: HashMap::new(),
        }
    }

    fn modules(&self) -> &[Arc<Target>] {
        match &self.modules {
            Some(Some(m)) => m,
            _ => &[],
        }
    }

    fn candidates(&mut self, relo: &CoreRelo) -> std::result::Result<&mut Vec<Cand>, String> {
        if !self.cache.contains_key(&relo.type_id) {
            let lt = self
                .local
                .type_by_id(relo.type_id)
                .ok_or_else(|| format!("type [{}] is not in the object's BTF", relo.type_id))?;
            let name = lt.name();
            if name.is_empty() {
                return Err(format!(
                    "{}: relocations against anonymous types have no candidates",
                    relo::describe(self.local, relo)
                ));
            }
            let essential = essential_name(name);
            let of = |t: &Target, i: usize| -> Vec<Cand> {
                t.named(essential, lt.kind())
                    .iter()
                    .map(|&id| Cand { target: i, id })
                    .collect()
            };
            // Like libbpf: the kernel's own BTF first, modules only when it has none.
            let mut cands = of(self.main, 0);
            if cands.is_empty() && self.modules.is_some() {
                if let Some(None) = self.modules {
                    let loaded = module_targets().map_err(|e| e.to_string())?;
                    self.modules = Some(Some(loaded));
                }
                for (i, m) in self.modules().iter().enumerate() {
                    cands.extend(of(m, i + 1));
                }
            }
            self.cache.insert(relo.type_id, cands);
        }
        Ok(self.cache.get_mut(&relo.type_id).expect("inserted above"))
    }

    /// Applies `prog`'s records to `insns` (the program's linked instructions).
    pub fn apply(&mut self, prog: &ProgramSpec, insns: &mut [Insn]) -> Result<Vec<Poisoned>> {
        let mut poisoned = Vec::new();
        let fail = |msg: String| Error::Core {
            program: prog.name.clone(),
            msg,
        };
        for (n, r) in prog.core_relos.iter().enumerate() {
            let idx = r.insn_off as usize;
            if idx >= insns.len() {
                return Err(fail(format!(
                    "relo #{n}: instruction #{idx} is past the program's end"
                )));
            }
            let local = self.local;
            let mut cands = self.candidates(r).map_err(&fail)?.clone();
            let mut targets: Vec<&dyn Types> = vec![self.main];
            targets.extend(self.modules().iter().map(|m| &**m as &dyn Types));
            let res = relo::resolve(local, r, &targets, &mut cands)
                .map_err(|e| fail(format!("relo #{n}: {e}")))?;
            self.cache.insert(r.type_id, cands);
            let what = || {
                format!(
                    "CO-RE relocation #{n} ({}) at instruction #{idx}",
                    relo::describe(local, r)
                )
            };
            if patch(insns, idx, &res).map_err(|e| fail(format!("{}: {e}", what())))? {
                poisoned.push(Poisoned {
                    insn: idx,
                    what: what(),
                });
            }
        }
        Ok(poisoned)
    }
}

const BPF_LD: u8 = 0x00;
const BPF_LDX: u8 = 0x01;
const BPF_ST: u8 = 0x02;
const BPF_STX: u8 = 0x03;
const BPF_ALU: u8 = 0x04;
const BPF_ALU64: u8 = 0x07;
use crate::sys::insn::{CALL, LD_IMM64};

fn poison(insn: &mut Insn) {
    *insn = Insn {
        code: CALL,
        regs: 0,
        off: 0,
        imm: POISON_HELPER,
    };
}

fn size_bytes(code: u8) -> u32 {
    match code & 0x18 {
        0x00 => 4,
        0x08 => 2,
        0x10 => 1,
        _ => 8,
    }
}

fn size_code(bytes: u32) -> Option<u8> {
    match bytes {
        4 => Some(0x00),
        2 => Some(0x08),
        1 => Some(0x10),
        8 => Some(0x18),
        _ => None,
    }
}

/// libbpf's bpf_core_patch_insn: writes the new value (or poisons); true when poisoned.
fn patch(insns: &mut [Insn], idx: usize, res: &Resolution) -> std::result::Result<bool, String> {
    let code = insns[idx].code;
    let is_ldimm64 = code == LD_IMM64;
    let mut do_poison = res.poison;
    if !do_poison {
        match code & 0x07 {
            BPF_ALU | BPF_ALU64 => {
                let insn = &mut insns[idx];
                if code & 0x08 != 0 {
                    return Err("ALU instruction with a register source cannot be relocated".into());
                }
                if res.validate && insn.imm as i64 as u64 != res.orig_val {
                    return Err(format!(
                        "unexpected ALU value {}, expected {} -> {}",
                        insn.imm as u32, res.orig_val, res.new_val
                    ));
                }
                insn.imm = res.new_val as i32;
            }
            BPF_LDX | BPF_ST | BPF_STX => {
                let insn = &mut insns[idx];
                if res.validate && insn.off as i64 as u64 != res.orig_val {
                    return Err(format!(
                        "unexpected load/store offset {}, expected {} -> {}",
                        insn.off as u16, res.orig_val, res.new_val
                    ));
                }
                if res.new_val > i16::MAX as u64 {
                    return Err(format!(
                        "offset {} is too big for a load/store",
                        res.new_val
                    ));
                }
                if res.fail_memsz_adjust {
                    // The field changed size in a way a wider or narrower load cannot read.
                    do_poison = true;
                } else {
                    insn.off = res.new_val as i16;
                    if res.new_sz != res.orig_sz {
                        if size_bytes(insn.code) != res.orig_sz {
                            return Err(format!(
                                "load/store of {} bytes, expected {}",
                                size_bytes(insn.code),
                                res.orig_sz
                            ));
                        }
                        let sz = size_code(res.new_sz)
                            .ok_or_else(|| format!("invalid new load/store size {}", res.new_sz))?;
                        insn.code = (insn.code & !0x18) | sz;
                    }
                }
            }
            BPF_LD => {
                let next = insns.get(idx + 1).copied();
                let ok = is_ldimm64
                    && insns[idx].src() == 0
                    && insns[idx].off == 0
                    && next.is_some_and(|n| n.code == 0 && n.regs == 0 && n.off == 0);
                let Some(next) = next.filter(|_| ok) else {
                    return Err("64-bit load of unexpected form".into());
                };
                let imm = u64::from(insns[idx].imm as u32) | (u64::from(next.imm as u32) << 32);
                if res.validate && imm != res.orig_val {
                    return Err(format!(
                        "unexpected 64-bit load value {imm}, expected {} -> {}",
                        res.orig_val, res.new_val
                    ));
                }
                insns[idx].imm = res.new_val as i32;
                insns[idx + 1].imm = (res.new_val >> 32) as i32;
            }
            other => {
                return Err(format!(
                    "instruction code {:#04x} (class {other}) cannot be relocated",
                    code
                ))
            }
        }
    }
    if do_poison {
        if is_ldimm64 {
            if let Some(n) = insns.get_mut(idx + 1) {
                poison(n);
            }
        }
        poison(&mut insns[idx]);
    }
    Ok(do_poison)
}

/// If the verifier rejected a program at a poisoned instruction, says which relocation
/// could not be resolved (the log shows `N: (85) call unknown#195896080`).
pub fn explain_rejection(log: &str, poisoned: &[Poisoned]) -> Option<String> {
    let marker = format!("call unknown#{POISON_HELPER}");
    let hits: Vec<&Poisoned> = log
        .lines()
        .filter(|l| l.trim_end().ends_with(&marker))
        .filter_map(|l| l.split(':').next()?.trim().parse::<usize>().ok())
        .filter_map(|at| poisoned.iter().find(|p| p.insn == at))
        .collect();
    let first = hits.first()?;
    Some(format!(
        "the verifier reached instruction #{}, poisoned because {} could not be resolved \
         against the kernel's BTF",
        first.insn, first.what
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(code: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: 0x12,
            off,
            imm,
        }
    }

    #[test]
    fn patches_loads_and_resizes() {
        let mut v = vec![insn(0x61, 8, 0)]; // ldxw r2, [r1 + 8]
        let res = Resolution {
            orig_val: 8,
            new_val: 24,
            validate: true,
            orig_sz: 4,
            new_sz: 8,
            ..Default::default()
        };
        assert!(!patch(&mut v, 0, &res).unwrap());
        assert_eq!(v[0].off, 24);
        assert_eq!(v[0].code, 0x79); // ldxdw
                                     // A value the instruction does not hold is refused, as libbpf refuses it.
        let mut v = vec![insn(0x61, 4, 0)];
        assert!(patch(&mut v, 0, &res).is_err());
    }

    #[test]
    fn poisons_ldimm64_pairs() {
        let mut v = vec![
            Insn {
                code: 0x18,
                regs: 0x01,
                off: 0,
                imm: 5,
            },
            Insn::default(),
        ];
        let res = Resolution {
            poison: true,
            ..Default::default()
        };
        assert!(patch(&mut v, 0, &res).unwrap());
        assert!(v.iter().all(|i| i.code == 0x85 && i.imm == POISON_HELPER));
    }

    #[test]
    fn alu_values_and_explanations() {
        let mut v = vec![insn(0xb7, 0, 1)]; // mov r2, 1
        let res = Resolution {
            orig_val: 1,
            new_val: 0,
            validate: true,
            ..Default::default()
        };
        patch(&mut v, 0, &res).unwrap();
        assert_eq!(v[0].imm, 0);
        let log =
            "0: (b7) r1 = 0\n1: (85) call unknown#195896080\ninvalid func unknown#195896080\n";
        let p = [Poisoned {
            insn: 1,
            what: "CO-RE relocation #0".into(),
        }];
        assert!(explain_rejection(log, &p).unwrap().contains("#1"));
        assert!(explain_rejection(log, &[]).is_none());
    }
}
