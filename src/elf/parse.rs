//! `ObjectSpec::parse`: the checked raw ELF -> license, BTF, maps, and programs linked with
//! the `.text` subprograms they call, relocations and `.BTF.ext` records rebased to match.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::btf::{Btf, BtfExt, CoreRelo, FuncInfo, LineInfo};
use crate::error::{Error, Result};
use crate::sys::insn::{CALL, LD_IMM64};
use crate::sys::{BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC};

use super::btfapi;
use super::externs;
use super::maps::{self, MapsOf};
use super::model::{Extern, Insn, ObjectSpec, ProgramSpec, Reloc, RelocKind};
use super::reader::{RawElf, Section, Symbol, STB_LOCAL, STT_FUNC, STT_SECTION};
use super::sections::section_def;

const INSN_SIZE: u64 = 8;
/// BPF_COMPLEXITY_LIMIT_INSNS: the kernel loads nothing longer, and the cap keeps a hostile
/// object (many programs each pulling in a large .text) from linking into gigabytes.
const MAX_PROG_INSNS: usize = 1_000_000;

/// The most linked instructions all programs of an object may hold (128 MiB of them):
/// each program gets its own copy of every subprogram it calls, so a few thousand
/// programs calling one large function would otherwise ask for gigabytes. Real objects
/// link a few million at most.
const MAX_OBJECT_INSNS: usize = 1 << 24;

fn is_pseudo_call(i: &Insn) -> bool {
    i.code == CALL && i.src() == BPF_PSEUDO_CALL
}
fn is_pseudo_func(i: &Insn) -> bool {
    i.code == LD_IMM64 && i.src() == BPF_PSEUDO_FUNC
}

/// The object name libbpf would use for a file: its name up to the first dot
/// (`metadata_used.bpf.o` -> `metadata_used`), as `bpf_object_new` cuts it.
pub fn object_name_from_path(path: &Path) -> String {
    match path.file_name() {
        Some(name) => {
            let name = name.to_string_lossy();
            name.split('.').next().unwrap_or_default().to_string()
        }
        None => String::new(),
    }
}

/// One FUNC symbol of a code section, in instructions.
#[derive(Debug)]
struct Func {
    name: String,
    start: usize,
    len: usize,
}

/// What a relocated instruction refers to.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// A call into `.text`; the callee starts at `sym_off / 8 + imm + 1`.
    Call {
        sym_off: u64,
    },
    /// A callback address in `.text`: `(sym_off + imm) / 8`.
    SubprogAddr {
        sym_off: u64,
    },
    Data(RelocKind),
}

#[derive(Debug)]
struct CodeSection<'a> {
    index: usize,
    name: &'a str,
    offset: u64,
    insns: Vec<Insn>,
    /// Sorted by `start`, not overlapping.
    funcs: Vec<Func>,
    relocs: BTreeMap<usize, Target>,
}

impl CodeSection<'_> {
    fn func_at(&self, insn: usize) -> Option<usize> {
        let i = self
            .funcs
            .partition_point(|f| f.start <= insn)
            .checked_sub(1)?;
        (insn < self.funcs[i].start + self.funcs[i].len).then_some(i)
    }
    fn err(&self, insn: usize, msg: impl Into<String>) -> Error {
        Error::format(
            self.name,
            self.offset.saturating_add(insn as u64 * INSN_SIZE),
            msg,
        )
    }
}

fn decode_insns(sec: &Section<'_>) -> Result<Vec<Insn>> {
    if sec.data.len() % INSN_SIZE as usize != 0 {
        return Err(Error::format(
            &sec.name,
            sec.offset,
            format!(
                "code section of {} bytes is not a whole number of 8-byte instructions",
                sec.data.len()
            ),
        ));
    }
    Ok(sec
        .data
        .chunks_exact(8)
        .map(|b| Insn {
            code: b[0],
            regs: b[1],
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect())
}

fn collect_funcs(sec: &Section<'_>, index: usize, symbols: &[Symbol]) -> Result<Vec<Func>> {
    let mut funcs = Vec::new();
    for sym in symbols
        .iter()
        .filter(|s| s.section == Some(index) && s.kind == STT_FUNC)
    {
        let err = |msg: String| {
            Error::format(
                &sec.name,
                sec.offset.saturating_add(sym.value),
                format!("function '{}': {msg}", sym.name),
            )
        };
        let end = sym.value.checked_add(sym.size).filter(|&e| e <= sec.size);
        if end.is_none() {
            return Err(err(format!(
                "[{:#x}, +{:#x}) crosses the end of the section ({:#x} bytes)",
                sym.value, sym.size, sec.size
            )));
        }
        if sym.value % INSN_SIZE != 0 || sym.size % INSN_SIZE != 0 || sym.size == 0 {
            return Err(err(format!(
                "offset {:#x} / size {:#x} are not whole instructions",
                sym.value, sym.size
            )));
        }
        funcs.push(Func {
            name: sym.name.clone(),
            start: (sym.value / INSN_SIZE) as usize,
            len: (sym.size / INSN_SIZE) as usize,
        });
    }
    funcs.sort_by_key(|f| f.start);
    for pair in funcs.windows(2) {
        if pair[0].start + pair[0].len > pair[1].start {
            return Err(Error::format(
                &sec.name,
                sec.offset.saturating_add(pair[1].start as u64 * INSN_SIZE),
                format!(
                    "functions '{}' and '{}' overlap",
                    pair[0].name, pair[1].name
                ),
            ));
        }
    }
    Ok(funcs)
}

/// What one relocation means, the way libbpf's `bpf_program__record_reloc` reads it.
fn classify(
    raw: &RawElf<'_>,
    code: &CodeSection<'_>,
    insn_idx: usize,
    sym_idx: usize,
    text: Option<usize>,
    maps: &MapsOf,
    externs: &[Extern],
) -> Result<Target> {
    let sym = &raw.symbols[sym_idx];
    let insn = code.insns[insn_idx];
    let err = |msg: String| {
        code.err(
            insn_idx,
            format!(
                "relocation of instruction #{insn_idx} against '{}': {msg}",
                sym.name
            ),
        )
    };
    let is_call = insn.code == CALL;
    if !is_call && insn.code != LD_IMM64 {
        return Err(err(format!(
            "instruction code {:#04x} is neither a call nor a 64-bit load",
            insn.code
        )));
    }
    if sym.is_extern() {
        let ext = externs
            .iter()
            .position(|e| e.sym_idx == sym_idx)
            .ok_or_else(|| err("the extern symbol has no BTF description".into()))?;
        if is_call {
            return Ok(Target::Data(RelocKind::ExternCall { ext }));
        }
        if insn_idx + 1 >= code.insns.len() {
            return Err(err(
                "the 64-bit load is cut off by the end of the section".into()
            ));
        }
        return Ok(Target::Data(RelocKind::Extern { ext }));
    }
    if is_call {
        if insn.src() != BPF_PSEUDO_CALL {
            return Err(err(
                "a relocated call must be a BPF-to-BPF call (src_reg BPF_PSEUDO_CALL)".into(),
            ));
        }
        if sym.section.is_none() || sym.section != text {
            return Err(err("calls may only target functions in .text".into()));
        }
        if sym.value % INSN_SIZE != 0 {
            return Err(err(format!(
                "call target offset {:#x} is not an instruction",
                sym.value
            )));
        }
        return Ok(Target::Call { sym_off: sym.value });
    }
    if insn_idx + 1 >= code.insns.len() {
        return Err(err(
            "the 64-bit load is cut off by the end of the section".into()
        ));
    }
    let Some(sec_idx) = sym.section else {
        return Err(err(
            "the symbol is not defined in a section (an uninitialised or absolute global?)".into(),
        ));
    };
    if Some(sec_idx) == text && (sym.kind == STT_SECTION || sym.kind == STT_FUNC) {
        if sym.value % INSN_SIZE != 0 || insn.imm % INSN_SIZE as i32 != 0 {
            return Err(err(format!(
                "function address {:#x}{:+} is not an instruction",
                sym.value, insn.imm
            )));
        }
        return Ok(Target::SubprogAddr { sym_off: sym.value });
    }
    let sec_name = &raw.sections[sec_idx].name;
    if sec_name == ".maps" || sec_name == "maps" {
        let offset = if sym.kind == STT_SECTION {
            sym.value.wrapping_add(insn.imm as i64 as u64)
        } else {
            sym.value
        };
        let (map, what) = if sec_name == ".maps" {
            (maps.btf_map_at(offset), "map")
        } else {
            (maps.legacy_map_at(offset), "legacy map")
        };
        return map
            .map(|map| Target::Data(RelocKind::Map { map }))
            .ok_or_else(|| {
                err(format!(
                    "no {what} is defined at offset {offset:#x} of {sec_name}"
                ))
            });
    }
    if let Some(map) = maps.data_map_of(sec_idx) {
        let offset = i64::from(insn.imm)
            .checked_add_unsigned(sym.value)
            .and_then(|o| u32::try_from(o).ok())
            .ok_or_else(|| {
                err(format!(
                    "offset {:#x}{:+} is out of range",
                    sym.value, insn.imm
                ))
            })?;
        return Ok(Target::Data(RelocKind::MapValue { map, offset }));
    }
    if maps::data_kind(sec_name).is_some() {
        return Err(err(format!(
            "section '{sec_name}' is empty, so it has no map"
        )));
    }
    Err(err(format!(
        "section '{sec_name}' is neither .maps nor a global data section"
    )))
}

fn code_sections<'a>(
    raw: &'a RawElf<'_>,
    maps: &MapsOf,
    externs: &[Extern],
) -> Result<(Vec<CodeSection<'a>>, Option<usize>)> {
    let text = raw
        .sections
        .iter()
        .position(|s| s.name == ".text" && s.is_exec() && s.size > 0);
    let mut code = Vec::new();
    for (index, sec) in raw.sections.iter().enumerate() {
        if !sec.is_exec() || sec.size == 0 {
            continue;
        }
        code.push(CodeSection {
            index,
            name: &sec.name,
            offset: sec.offset,
            insns: decode_insns(sec)?,
            funcs: collect_funcs(sec, index, &raw.symbols)?,
            relocs: BTreeMap::new(),
        });
    }
    for rs in &raw.rel_sections {
        let Some(c) = code.iter_mut().find(|c| c.index == rs.target) else {
            continue;
        };
        for rel in &rs.rels {
            let insn_idx = (rel.offset / INSN_SIZE) as usize;
            // Like libbpf: relocations outside every function (an overridden weak one) do
            // not matter.
            if c.func_at(insn_idx).is_none() {
                continue;
            }
            let target = classify(raw, c, insn_idx, rel.sym, text, maps, externs)?;
            // clang leaves src_reg 0 on callback addresses; libbpf marks them, and so do we.
            if let Target::SubprogAddr { .. } = target {
                c.insns[insn_idx].set_src(BPF_PSEUDO_FUNC);
            }
            if c.relocs.insert(insn_idx, target).is_some() {
                return Err(Error::format(
                    &raw.sections[rs.index].name,
                    raw.sections[rs.index].offset,
                    format!(
                        "two relocations for instruction #{insn_idx} of '{}'",
                        c.name
                    ),
                ));
            }
        }
    }
    let text = text.and_then(|t| code.iter().position(|c| c.index == t));
    Ok((code, text))
}

/// `.BTF.ext` records of one section, offsets in bytes.
#[derive(Default)]
struct ExtInfo<'a> {
    func: HashMap<&'a str, Records<'a, FuncInfo>>,
    line: HashMap<&'a str, Records<'a, LineInfo>>,
    core: HashMap<&'a str, Records<'a, CoreRelo>>,
}

/// One section's records, with their indices sorted by offset: every function of a
/// section takes its records by range, so a scan of them all per function would be
/// quadratic (a hostile object has as many functions and records as it likes).
struct Records<'a, T> {
    recs: &'a [T],
    by_off: Vec<u32>,
}

impl<'a, T: InsnOff> Records<'a, T> {
    fn new(recs: &'a [T]) -> Self {
        let mut by_off: Vec<u32> = (0..recs.len() as u32).collect();
        by_off.sort_by_key(|&i| recs[i as usize].off());
        Records { recs, by_off }
    }

    /// The records with byte offsets in `lo..hi`, in the section's order.
    fn in_range(&self, lo: u64, hi: u64) -> impl Iterator<Item = &'a T> + '_ {
        let off = |i: &u32| u64::from(self.recs[*i as usize].off());
        let from = self.by_off.partition_point(|i| off(i) < lo);
        let to = self.by_off.partition_point(|i| off(i) < hi).max(from);
        let mut hits = self.by_off[from..to].to_vec();
        hits.sort_unstable();
        hits.into_iter().map(|i| &self.recs[i as usize])
    }
}

fn records<'a, T: InsnOff>(all: &'a [(String, Vec<T>)]) -> HashMap<&'a str, Records<'a, T>> {
    all.iter()
        .map(|(s, r)| (s.as_str(), Records::new(r)))
        .collect()
}

trait InsnOff: Clone {
    fn insn_off(&mut self) -> &mut u32;
    fn off(&self) -> u32;
}
impl InsnOff for FuncInfo {
    fn insn_off(&mut self) -> &mut u32 {
        &mut self.insn_off
    }
    fn off(&self) -> u32 {
        self.insn_off
    }
}
impl InsnOff for LineInfo {
    fn insn_off(&mut self) -> &mut u32 {
        &mut self.insn_off
    }
    fn off(&self) -> u32 {
        self.insn_off
    }
}
impl InsnOff for CoreRelo {
    fn insn_off(&mut self) -> &mut u32 {
        &mut self.insn_off
    }
    fn off(&self) -> u32 {
        self.insn_off
    }
}

/// The records whose byte offset falls in `[start, start + len)` instructions, rebased to
/// instructions from `base`; None when there are none.
fn rebase<T: InsnOff>(
    recs: Option<&Records<'_, T>>,
    start: usize,
    len: usize,
    base: usize,
) -> Option<Vec<T>> {
    let (lo, hi) = (start as u64 * INSN_SIZE, (start + len) as u64 * INSN_SIZE);
    let mut out = Vec::new();
    for r in recs?.in_range(lo, hi) {
        let mut r = r.clone();
        let off = u64::from(*r.insn_off());
        *r.insn_off() = (off / INSN_SIZE - start as u64 + base as u64) as u32;
        out.push(r);
    }
    (!out.is_empty()).then_some(out)
}

/// A program under construction: the entry function, then subprograms as they are reached.
struct Linker<'s, 'a> {
    code: &'s [CodeSection<'a>],
    text: Option<usize>,
    ext: &'s ExtInfo<'s>,
    insns: Vec<Insn>,
    relocs: Vec<Reloc>,
    func_info: Option<Vec<FuncInfo>>,
    line_info: Option<Vec<LineInfo>>,
    /// CO-RE records of every appended function, `insn_off` in linked instructions.
    core_relos: Vec<CoreRelo>,
    /// .text function index -> where it was appended.
    appended: HashMap<usize, usize>,
}

impl Linker<'_, '_> {
    /// Appends function `f` of code section `c`; returns where it starts.
    fn append(&mut self, c: usize, f: usize, is_main: bool) -> Result<usize> {
        let sec = &self.code[c];
        let func = &sec.funcs[f];
        let base = self.insns.len();
        if base + func.len > MAX_PROG_INSNS {
            return Err(sec.err(
                func.start,
                format!("linking '{}' makes the program longer than the kernel's {MAX_PROG_INSNS} instructions", func.name),
            ));
        }
        self.insns
            .extend_from_slice(&sec.insns[func.start..func.start + func.len]);
        let relocs = sec.relocs.range(func.start..func.start + func.len);
        self.relocs.extend(relocs.filter_map(|(&i, t)| match t {
            Target::Data(kind) => Some(Reloc {
                insn: base + i - func.start,
                kind: *kind,
            }),
            _ => None,
        }));

        // libbpf's rule: without records for the entry function there is no func/line info at
        // all; with them, every appended subprogram must have its own.
        if let Some(core) = rebase(self.ext.core.get(sec.name), func.start, func.len, base) {
            self.core_relos.extend(core);
        }
        let fi = rebase(self.ext.func.get(sec.name), func.start, func.len, base);
        let li = rebase(self.ext.line.get(sec.name), func.start, func.len, base);
        let missing = |what: &str| {
            sec.err(
                func.start,
                format!(
                    "function '{}' has no .BTF.ext {what} records while the program calling it has",
                    func.name
                ),
            )
        };
        if is_main {
            self.func_info = fi;
            self.line_info = li;
        } else {
            if let Some(all) = &mut self.func_info {
                all.extend(fi.ok_or_else(|| missing("func_info"))?);
            }
            if let Some(all) = &mut self.line_info {
                all.extend(li.ok_or_else(|| missing("line_info"))?);
            }
        }
        Ok(base)
    }

    /// Links the program starting at function `f` of code section `c`, appending the `.text`
    /// functions it reaches depth-first in the order libbpf does (so instruction streams, and
    /// program tags, come out the same).
    fn link(&mut self, c: usize, f: usize) -> Result<()> {
        struct Frame {
            c: usize,
            start: usize,
            len: usize,
            base: usize,
            i: usize,
        }
        let code = self.code;
        let base = self.append(c, f, true)?;
        let func = &code[c].funcs[f];
        let mut stack = vec![Frame {
            c,
            start: func.start,
            len: func.len,
            base,
            i: 0,
        }];
        while let Some(fr) = stack.last_mut() {
            if fr.i >= fr.len {
                stack.pop();
                continue;
            }
            let sec = &code[fr.c];
            let at = fr.start + fr.i;
            let insn = sec.insns[at];
            if !is_pseudo_call(&insn) && !is_pseudo_func(&insn) {
                fr.i += 1;
                continue;
            }
            let imm = i64::from(insn.imm);
            let (target, via) = match sec.relocs.get(&at) {
                Some(Target::Call { sym_off }) => ((*sym_off / INSN_SIZE) as i64 + imm + 1, None),
                Some(Target::SubprogAddr { sym_off }) => {
                    ((*sym_off as i64 + imm) / INSN_SIZE as i64, None)
                }
                // A kfunc call (clang marks it BPF_PSEUDO_CALL): load/ resolves it.
                Some(Target::Data(RelocKind::ExternCall { .. })) => {
                    fr.i += 1;
                    continue;
                }
                Some(Target::Data(_)) => {
                    return Err(sec.err(at, "a call instruction is relocated against data"))
                }
                None if is_pseudo_func(&insn) => {
                    return Err(sec.err(
                        at,
                        format!("instruction #{at} loads a function address but has no relocation"),
                    ))
                }
                // A call without relocation stays in its own section, which must be .text.
                None => (at as i64 + imm + 1, Some(fr.c)),
            };
            let text = self.text.filter(|&t| via.is_none_or(|v| v == t)).ok_or_else(|| {
                sec.err(at, format!("instruction #{at} calls a function outside .text, where subprograms must live"))
            })?;
            let tsec = &code[text];
            let callee = usize::try_from(target)
                .ok()
                .and_then(|t| tsec.func_at(t).filter(|&g| tsec.funcs[g].start == t))
                .ok_or_else(|| sec.err(at, format!("instruction #{at} calls .text instruction #{target}, which starts no function")))?;
            let base = match self.appended.get(&callee) {
                Some(&base) => base,
                None => {
                    let base = self.append(text, callee, false)?;
                    self.appended.insert(callee, base);
                    let g = &tsec.funcs[callee];
                    // Process the callee first; this instruction is fixed when we come back.
                    stack.push(Frame {
                        c: text,
                        start: g.start,
                        len: g.len,
                        base,
                        i: 0,
                    });
                    continue;
                }
            };
            let here = fr.base + fr.i;
            let rel = i32::try_from(base as i64 - here as i64 - 1)
                .map_err(|_| sec.err(at, "the linked program is too large for a call offset"))?;
            self.insns[here].imm = rel;
            fr.i += 1;
        }
        Ok(())
    }
}

fn read_license(sec: &Section<'_>) -> String {
    let end = sec
        .data
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(sec.data.len());
    String::from_utf8_lossy(&sec.data[..end]).into_owned()
}

fn read_version(sec: &Section<'_>) -> Result<u32> {
    let bytes: [u8; 4] = sec.data.try_into().map_err(|_| {
        Error::format(
            "version",
            sec.offset,
            format!("expected a 4-byte u32, found {} bytes", sec.data.len()),
        )
    })?;
    Ok(u32::from_le_bytes(bytes))
}

/// The object's BTF, ready to load, and its externs (which rewrite parts of it first, as
/// libbpf's do before its DATASEC fix-ups).
fn load_btf(raw: &RawElf<'_>) -> Result<(Option<Btf>, Vec<Extern>)> {
    let Some(idx) = raw.section_index(".BTF") else {
        return Ok((None, externs::collect(raw, None)?));
    };
    let mut btf = btfapi::parse(raw.sections[idx].data)?;
    let externs = externs::collect(raw, Some(&mut btf))?;
    let mut sizes: HashMap<&str, u32> = HashMap::new();
    for s in &raw.sections {
        if let Ok(size) = u32::try_from(s.size) {
            sizes.entry(&s.name).or_insert(size);
        }
    }
    let mut offsets: HashMap<(&str, &str), u32> = HashMap::new();
    for sym in &raw.symbols {
        let (Some(sec), Ok(value)) = (sym.section, u32::try_from(sym.value)) else {
            continue;
        };
        if sym.kind == STT_SECTION || sym.name.is_empty() {
            continue;
        }
        offsets
            .entry((&raw.sections[sec].name, &sym.name))
            .or_insert(value);
    }
    btfapi::fixup_datasecs(&mut btf, &|sec| sizes.get(sec).copied(), &|sec, var| {
        offsets.get(&(sec, var)).copied()
    })?;
    Ok((Some(btf), externs))
}

/// The metadata of an object without BTF: a `.metadata` section, `bpf_metadata_*`
/// variables of `.rodata*` sections.
fn undecodable_metadata(raw: &RawElf<'_>) -> Vec<String> {
    let mut out = Vec::new();
    if raw
        .sections
        .iter()
        .any(|s| s.name == ".metadata" && s.size > 0)
    {
        out.push("the .metadata section".to_string());
    }
    for sym in &raw.symbols {
        let in_rodata = sym.section.is_some_and(|s| {
            let n = &raw.sections[s].name;
            n == ".rodata" || n.starts_with(".rodata.")
        });
        if in_rodata && sym.name.starts_with("bpf_metadata_") {
            out.push(sym.name.clone());
        }
    }
    out
}

/// Global `.text` functions of hidden or internal visibility (`__hidden`, as libbpf's
/// usdt.bpf.h declares bpf_usdt_arg) get static linkage in the BTF, as libbpf gives them:
/// the verifier then checks them in their callers' context instead of on their own.
fn mark_hidden_subprogs_static(raw: &RawElf<'_>, btf: &mut Btf) {
    use crate::btf::Type;
    let text = raw.section_index(".text");
    for sym in &raw.symbols {
        let hidden = matches!(sym.visibility, 1 | 2);
        if sym.kind != STT_FUNC || sym.bind == STB_LOCAL || !hidden || sym.section != text {
            continue;
        }
        let func = btf
            .types
            .iter_mut()
            .find(|t| matches!(t, Type::Func { name, linkage: 1, .. } if *name == sym.name));
        if let Some(Type::Func { linkage, .. }) = func {
            *linkage = 0;
        }
    }
}

impl ObjectSpec {
    /// Parses a BPF ELF object. `name` is the object name (see `object_name_from_path`); it
    /// prefixes the kernel names of internal maps.
    pub fn parse(data: &[u8], name: &str) -> Result<ObjectSpec> {
        let raw = RawElf::parse(data)?;
        let mut license = String::new();
        let mut kern_version = 0;
        for sec in &raw.sections {
            match sec.name.as_str() {
                "license" => license = read_license(sec),
                "version" => kern_version = read_version(sec)?,
                _ => {}
            }
        }

        let (mut btf, externs) = load_btf(&raw)?;
        if let Some(btf) = &mut btf {
            mark_hidden_subprogs_static(&raw, btf);
        }
        let btf_ext = match (raw.section_index(".BTF.ext"), &btf) {
            (Some(idx), Some(btf)) => Some(btfapi::parse_ext(raw.sections[idx].data, btf)?),
            _ => None,
        };
        let mut maps = maps::collect(&raw, btf.as_ref(), name)?;
        maps.maps
            .extend(externs::kconfig_map(&externs, btf.as_ref(), name));
        let (code, text) = code_sections(&raw, &maps, &externs)?;

        let empty = BtfExt::default();
        let ext_src = btf_ext.as_ref().unwrap_or(&empty);
        let ext = ExtInfo {
            func: records(&ext_src.func_info),
            line: records(&ext_src.line_info),
            core: records(&ext_src.core_relos),
        };

        let mut programs = Vec::new();
        let mut linked = 0usize;
        for (c, sec) in code.iter().enumerate() {
            if Some(c) == text {
                continue;
            }
            for (f, func) in sec.funcs.iter().enumerate() {
                // Static entry points: libbpf 1.x refuses them, cilium/ebpf loads them, and
                // so does bpfbind (the instructions are the same as a global program's).
                // Like libbpf, a section that names no type fails the load only if the
                // program is loaded (prog_type 0 until the caller sets one).
                let def = section_def(sec.name).unwrap_or_default();
                let mut linker = Linker {
                    code: &code,
                    text,
                    ext: &ext,
                    insns: Vec::new(),
                    relocs: Vec::new(),
                    func_info: None,
                    line_info: None,
                    core_relos: Vec::new(),
                    appended: HashMap::new(),
                };
                linker.link(c, f)?;
                linked += linker.insns.len();
                if linked > MAX_OBJECT_INSNS {
                    return Err(Error::format(
                        sec.name,
                        func.start as u64 * INSN_SIZE,
                        format!(
                            "linking program '{}' makes the object's programs longer than \
                             {MAX_OBJECT_INSNS} instructions in all",
                            func.name
                        ),
                    ));
                }
                let mut func_info = linker.func_info.unwrap_or_default();
                let mut line_info = linker.line_info.unwrap_or_default();
                func_info.sort_by_key(|r| r.insn_off);
                line_info.sort_by_key(|r| r.insn_off);
                programs.push(ProgramSpec {
                    name: func.name.clone(),
                    section: sec.name.to_owned(),
                    prog_type: def.prog_type,
                    expected_attach_type: def.expected_attach_type,
                    prog_flags: def.prog_flags,
                    attach_target: def.attach_target,
                    insns: linker.insns,
                    relocs: linker.relocs,
                    func_info,
                    line_info,
                    core_relos: linker.core_relos,
                    autoload: !sec.name.starts_with('?'),
                });
            }
        }

        let undecodable_metadata = if btf.is_some() {
            Vec::new()
        } else {
            undecodable_metadata(&raw)
        };
        Ok(ObjectSpec {
            name: name.to_owned(),
            license,
            kern_version,
            programs,
            maps: maps.maps,
            btf,
            externs,
            undecodable_metadata,
        })
    }
}
