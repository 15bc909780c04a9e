//! The raw ELF layer: section headers, symbols and `SHT_REL` entries of a BPF object, read
//! with `object`'s low-level API and checked, so that the layers above index without fear.

use object::elf;
use object::read::elf::{FileHeader, SectionHeader, Sym};
use object::{Endianness, SymbolIndex};

use crate::error::{Error, Result};

type Header = elf::FileHeader64<Endianness>;

/// Size of one `Elf64_Rel`.
const REL_SIZE: u64 = 16;

/// One section header with its bytes (empty for `SHT_NOBITS`, whose size is `size`).
#[derive(Debug)]
pub(crate) struct Section<'a> {
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    /// File offset, for error messages.
    pub offset: u64,
    pub size: u64,
    pub info: u32,
    pub entsize: u64,
    pub data: &'a [u8],
}

impl Section<'_> {
    pub fn is_exec(&self) -> bool {
        self.sh_type == elf::SHT_PROGBITS.0 && self.flags & elf::SHF_EXECINSTR.0 != 0
    }
    pub fn is_nobits(&self) -> bool {
        self.sh_type == elf::SHT_NOBITS.0
    }
}

/// One symbol. `section` is None for undefined, absolute and common symbols.
#[derive(Debug, Clone)]
pub(crate) struct Symbol {
    pub name: String,
    pub section: Option<usize>,
    pub value: u64,
    pub size: u64,
    pub kind: u8,
    pub bind: u8,
    /// The raw `st_shndx` (SHN_UNDEF, SHN_ABS, ... tell what `section: None` means).
    pub shndx: u16,
    /// STV_DEFAULT (0), STV_INTERNAL (1), STV_HIDDEN (2) or STV_PROTECTED (3).
    pub visibility: u8,
}

pub(crate) const STT_NOTYPE: u8 = 0;
pub(crate) const STT_FUNC: u8 = 2;
pub(crate) const STT_SECTION: u8 = 3;
pub(crate) const STB_LOCAL: u8 = 0;
pub(crate) const STB_GLOBAL: u8 = 1;
pub(crate) const STB_WEAK: u8 = 2;

impl Symbol {
    /// libbpf's `sym_is_extern`: an undefined global or weak symbol without a type.
    pub fn is_extern(&self) -> bool {
        self.shndx == elf::SHN_UNDEF.0
            && (self.bind == STB_GLOBAL || self.bind == STB_WEAK)
            && self.kind == STT_NOTYPE
    }
}

/// One `SHT_REL` entry: its byte offset in the target section and its symbol index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rel {
    pub offset: u64,
    pub sym: usize,
}

/// A relocation section that applies to `target`.
#[derive(Debug)]
pub(crate) struct RelSection {
    pub index: usize,
    pub target: usize,
    pub rels: Vec<Rel>,
}

#[derive(Debug)]
pub(crate) struct RawElf<'a> {
    /// Indexed by ELF section index (0 is the null section).
    pub sections: Vec<Section<'a>>,
    /// Indexed by ELF symbol index (0 is the null symbol).
    pub symbols: Vec<Symbol>,
    pub rel_sections: Vec<RelSection>,
}

fn fmt_err(section: &str, offset: u64, msg: impl std::fmt::Display) -> Error {
    Error::format(section, offset, msg.to_string())
}

impl<'a> RawElf<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Self> {
        const HDR: &str = "ELF header";
        // Checked by hand first so that the common mistakes get a precise message.
        if data.len() < 4 || &data[..4] != b"\x7fELF" {
            return Err(fmt_err(HDR, 0, "not an ELF file (bad magic)"));
        }
        if data.len() < 64 {
            return Err(fmt_err(
                HDR,
                0,
                format!("truncated ELF header ({} bytes)", data.len()),
            ));
        }
        if data[4] != elf::ELFCLASS64.0 {
            return Err(fmt_err(
                HDR,
                4,
                "not a 64-bit ELF object (BPF objects are ELF64)",
            ));
        }
        if data[5] != elf::ELFDATA2LSB.0 {
            return Err(fmt_err(
                HDR,
                5,
                "not a little-endian ELF object (only little-endian BPF is supported)",
            ));
        }
        let header = Header::parse(data).map_err(|e| fmt_err(HDR, 0, e))?;
        let endian = header.endian().map_err(|e| fmt_err(HDR, 5, e))?;
        let machine = header.e_machine(endian);
        if machine != elf::EM_BPF {
            return Err(fmt_err(
                HDR,
                18,
                format!("e_machine is {}, not EM_BPF (247)", machine.0),
            ));
        }
        if header.e_type(endian) != elf::ET_REL {
            return Err(fmt_err(
                HDR,
                16,
                "not a relocatable object (e_type is not ET_REL)",
            ));
        }
        let shoff = header.e_shoff(endian);
        let table = header
            .sections(endian, data)
            .map_err(|e| fmt_err("section header table", shoff, e))?;

        let mut sections = Vec::with_capacity(table.len());
        for (i, sh) in table.enumerate() {
            let hdr_off = shoff.saturating_add((i.0 as u64).saturating_mul(64));
            let name = table.section_name(endian, sh).map_err(|e| {
                fmt_err(
                    "section header table",
                    hdr_off,
                    format!("section #{}: {e}", i.0),
                )
            })?;
            let name = String::from_utf8_lossy(name).into_owned();
            let sh_type = sh.sh_type(endian).0;
            let offset = sh.sh_offset(endian);
            let size = sh.sh_size(endian);
            let data = sh.data(endian, data).map_err(|_| {
                fmt_err(
                    &name,
                    offset,
                    format!(
                        "section data [{offset:#x}, +{size:#x}) is outside the file ({:#x} bytes)",
                        data.len()
                    ),
                )
            })?;
            sections.push(Section {
                name,
                sh_type,
                flags: sh.sh_flags(endian).0,
                offset,
                size,
                info: sh.sh_info(endian),
                entsize: sh.sh_entsize(endian),
                data,
            });
        }

        let symtab = table
            .symbols(endian, data, elf::SHT_SYMTAB)
            .map_err(|e| fmt_err(".symtab", 0, e))?;
        let symtab_name = sections
            .get(symtab.section().0)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| ".symtab".into());
        let mut symbols = Vec::with_capacity(symtab.len());
        for (i, sym) in symtab.enumerate() {
            let sym_off = (i.0 as u64).saturating_mul(24);
            let name = symtab
                .symbol_name(endian, sym)
                .map_err(|e| fmt_err(&symtab_name, sym_off, format!("symbol #{}: {e}", i.0)))?;
            let section = symtab
                .symbol_section(endian, sym, SymbolIndex(i.0))
                .map_err(|e| fmt_err(&symtab_name, sym_off, format!("symbol #{}: {e}", i.0)))?
                .map(|s| s.0);
            if let Some(s) = section {
                if s >= sections.len() {
                    return Err(fmt_err(
                        &symtab_name,
                        sym_off,
                        format!(
                            "symbol #{} points to section #{s}, which does not exist",
                            i.0
                        ),
                    ));
                }
            }
            symbols.push(Symbol {
                name: String::from_utf8_lossy(name).into_owned(),
                section,
                value: sym.st_value(endian),
                size: sym.st_size(endian),
                kind: sym.st_type().0,
                bind: sym.st_bind().0,
                shndx: sym.st_shndx(endian).0,
                visibility: sym.st_other.0 & 0x3,
            });
        }

        let mut rel_sections = Vec::new();
        for (index, sh) in table.enumerate() {
            let sec = &sections[index.0];
            if sec.sh_type == elf::SHT_RELA.0
                && sections.get(sec.info as usize).is_some_and(|t| t.is_exec())
            {
                return Err(fmt_err(
                    &sec.name,
                    sec.offset,
                    "RELA relocations are not used by BPF objects",
                ));
            }
            if sec.sh_type != elf::SHT_REL.0 {
                continue;
            }
            let target = sec.info as usize;
            let Some(target_sec) = sections.get(target) else {
                return Err(fmt_err(
                    &sec.name,
                    sec.offset,
                    format!("applies to section #{target}, which does not exist"),
                ));
            };
            // Like libbpf, relocations only matter for code, for `.maps` (the slots of
            // map-in-map and prog-array initialisers) and for `.struct_ops[.link]` (the
            // programs of struct_ops maps); DWARF's, .BTF's and .BTF.ext's don't.
            let kept = [".maps", ".struct_ops", ".struct_ops.link"];
            if !target_sec.is_exec() && !kept.contains(&target_sec.name.as_str()) {
                continue;
            }
            if sec.entsize != REL_SIZE || sec.size % REL_SIZE != 0 {
                return Err(fmt_err(
                    &sec.name,
                    sec.offset,
                    "relocation entries are not 16 bytes",
                ));
            }
            let (entries, _link) = sh
                .rel(endian, data)
                .map_err(|e| fmt_err(&sec.name, sec.offset, e))?
                .ok_or_else(|| fmt_err(&sec.name, sec.offset, "not a relocation section"))?;
            let mut rels = Vec::with_capacity(entries.len());
            for (n, rel) in entries.iter().enumerate() {
                let at = sec.offset.saturating_add(n as u64 * REL_SIZE);
                let offset = rel.r_offset.get(endian);
                let sym = rel.r_sym(endian) as usize;
                if offset % 8 != 0 || offset >= target_sec.size {
                    return Err(fmt_err(
                        &sec.name,
                        at,
                        format!(
                            "relocation #{n} at offset {offset:#x} is not an instruction of '{}' ({:#x} bytes)",
                            target_sec.name, target_sec.size
                        ),
                    ));
                }
                if sym == 0 || sym >= symbols.len() {
                    return Err(fmt_err(
                        &sec.name,
                        at,
                        format!("relocation #{n} refers to symbol #{sym}, which does not exist"),
                    ));
                }
                rels.push(Rel { offset, sym });
            }
            rel_sections.push(RelSection {
                index: index.0,
                target,
                rels,
            });
        }

        Ok(RawElf {
            sections,
            symbols,
            rel_sections,
        })
    }

    /// The index of the (first) section called `name`.
    pub fn section_index(&self, name: &str) -> Option<usize> {
        self.sections.iter().position(|s| s.name == name)
    }
}
