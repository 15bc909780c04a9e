//! A tiny ELF64 writer for tests: just enough to build BPF relocatable objects byte by byte
//! (sections, a symbol table and `SHT_REL` sections), including broken ones.

pub const SHT_PROGBITS: u32 = 1;
pub const SHT_SYMTAB: u32 = 2;
pub const SHT_STRTAB: u32 = 3;
pub const SHT_NOBITS: u32 = 8;
pub const SHT_REL: u32 = 9;
pub const SHF_WRITE: u64 = 1;
pub const SHF_ALLOC: u64 = 2;
pub const SHF_EXEC: u64 = 4;

pub const STB_LOCAL: u8 = 0;
pub const STB_GLOBAL: u8 = 1;
pub const STT_NOTYPE: u8 = 0;
pub const STT_OBJECT: u8 = 1;
pub const STT_FUNC: u8 = 2;
pub const STT_SECTION: u8 = 3;

pub struct TestSection {
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    pub data: Vec<u8>,
    /// For SHT_NOBITS: the size (data stays empty).
    pub nobits_size: u64,
    pub info: u32,
    pub entsize: u64,
}

pub struct TestSymbol {
    pub name: String,
    pub value: u64,
    pub size: u64,
    pub bind: u8,
    pub kind: u8,
    pub shndx: u16,
}

/// Sections are numbered from 1 in the order added; `.strtab` and `.symtab` come last.
#[derive(Default)]
pub struct TestElf {
    pub sections: Vec<TestSection>,
    pub symbols: Vec<TestSymbol>,
    pub machine: u16,
}

/// Offsets of interesting header fields in the built file, for tests that corrupt them.
pub struct Layout {
    /// File offset of section header `i` (index as in the ELF).
    pub shdr: Vec<usize>,
}

pub fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut b = [0; 8];
    b[0] = code;
    b[1] = (src << 4) | dst;
    b[2..4].copy_from_slice(&off.to_le_bytes());
    b[4..8].copy_from_slice(&imm.to_le_bytes());
    b
}

pub fn code(insns: &[[u8; 8]]) -> Vec<u8> {
    insns.concat()
}

/// `r0 = imm`
pub fn mov(imm: i32) -> [u8; 8] {
    insn(0xb7, 0, 0, 0, imm)
}
pub fn exit() -> [u8; 8] {
    insn(0x95, 0, 0, 0, 0)
}
/// BPF-to-BPF call.
pub fn call(imm: i32) -> [u8; 8] {
    insn(0x85, 0, 1, 0, imm)
}
/// Helper call.
pub fn helper(id: i32) -> [u8; 8] {
    insn(0x85, 0, 0, 0, id)
}
/// `r1 = imm ll` (two halves), with src_reg `src`.
pub fn ld64(src: u8, imm: i32) -> [[u8; 8]; 2] {
    [insn(0x18, 1, src, 0, imm), insn(0, 0, 0, 0, 0)]
}

pub fn rel(offset: u64, sym: u32, r_type: u32) -> Vec<u8> {
    let mut b = offset.to_le_bytes().to_vec();
    b.extend_from_slice(&((u64::from(sym) << 32) | u64::from(r_type)).to_le_bytes());
    b
}

impl TestElf {
    pub fn new() -> Self {
        TestElf {
            machine: 247,
            ..Default::default()
        }
    }

    /// Adds a section, returns its ELF index.
    pub fn section(&mut self, name: &str, sh_type: u32, flags: u64, data: Vec<u8>) -> u16 {
        self.sections.push(TestSection {
            name: name.into(),
            sh_type,
            flags,
            data,
            nobits_size: 0,
            info: 0,
            entsize: 0,
        });
        self.sections.len() as u16
    }

    pub fn code_section(&mut self, name: &str, insns: Vec<u8>) -> u16 {
        self.section(name, SHT_PROGBITS, SHF_ALLOC | SHF_EXEC, insns)
    }

    pub fn bss(&mut self, name: &str, size: u64) -> u16 {
        let i = self.section(name, SHT_NOBITS, SHF_ALLOC | SHF_WRITE, Vec::new());
        self.sections[i as usize - 1].nobits_size = size;
        i
    }

    /// A `.rel<target>` section made of `rel()` entries.
    pub fn rel_section(&mut self, target: u16, entries: &[Vec<u8>]) -> u16 {
        let name = format!(".rel{}", self.sections[target as usize - 1].name);
        let i = self.section(&name, SHT_REL, 0x40, entries.concat());
        let s = &mut self.sections[i as usize - 1];
        s.info = u32::from(target);
        s.entsize = 16;
        i
    }

    /// Adds a symbol, returns its index (the null symbol is 0).
    pub fn symbol(
        &mut self,
        name: &str,
        shndx: u16,
        value: u64,
        size: u64,
        bind: u8,
        kind: u8,
    ) -> u32 {
        self.symbols.push(TestSymbol {
            name: name.into(),
            value,
            size,
            bind,
            kind,
            shndx,
        });
        self.symbols.len() as u32
    }

    pub fn build(&self) -> Vec<u8> {
        self.build_with_layout().0
    }

    pub fn build_with_layout(&self) -> (Vec<u8>, Layout) {
        let n = self.sections.len();
        let strtab_idx = n + 1;
        let symtab_idx = n + 2;
        let mut strtab = vec![0u8];
        let add_str = |s: &str, strtab: &mut Vec<u8>| -> u32 {
            if s.is_empty() {
                return 0;
            }
            let off = strtab.len() as u32;
            strtab.extend_from_slice(s.as_bytes());
            strtab.push(0);
            off
        };
        let sec_names: Vec<u32> = self
            .sections
            .iter()
            .map(|s| add_str(&s.name, &mut strtab))
            .collect();
        let strtab_name = add_str(".strtab", &mut strtab);
        let symtab_name = add_str(".symtab", &mut strtab);
        // Locals first, as ELF requires; keep the caller's order otherwise (indices are
        // the caller's, so tests put locals first themselves).
        let mut symtab = vec![0u8; 24];
        let mut first_global = 0;
        for (i, s) in self.symbols.iter().enumerate() {
            if s.bind != STB_LOCAL && first_global == 0 {
                first_global = i + 1;
            }
            let name = add_str(&s.name, &mut strtab);
            symtab.extend_from_slice(&name.to_le_bytes());
            symtab.push((s.bind << 4) | s.kind);
            symtab.push(0);
            symtab.extend_from_slice(&s.shndx.to_le_bytes());
            symtab.extend_from_slice(&s.value.to_le_bytes());
            symtab.extend_from_slice(&s.size.to_le_bytes());
        }
        if first_global == 0 {
            first_global = self.symbols.len() + 1;
        }

        let mut out = vec![0u8; 64];
        let place = |data: &[u8], out: &mut Vec<u8>| -> u64 {
            while out.len() % 8 != 0 {
                out.push(0);
            }
            let off = out.len() as u64;
            out.extend_from_slice(data);
            off
        };
        let offsets: Vec<u64> = self
            .sections
            .iter()
            .map(|s| place(&s.data, &mut out))
            .collect();
        let strtab_off = place(&strtab, &mut out);
        let symtab_off = place(&symtab, &mut out);
        while out.len() % 8 != 0 {
            out.push(0);
        }
        let shoff = out.len();

        let shdr = |name: u32,
                    t: u32,
                    flags: u64,
                    off: u64,
                    size: u64,
                    link: u32,
                    info: u32,
                    align: u64,
                    entsize: u64,
                    out: &mut Vec<u8>| {
            out.extend_from_slice(&name.to_le_bytes());
            out.extend_from_slice(&t.to_le_bytes());
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&0u64.to_le_bytes());
            out.extend_from_slice(&off.to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&link.to_le_bytes());
            out.extend_from_slice(&info.to_le_bytes());
            out.extend_from_slice(&align.to_le_bytes());
            out.extend_from_slice(&entsize.to_le_bytes());
        };
        shdr(0, 0, 0, 0, 0, 0, 0, 0, 0, &mut out);
        for (i, s) in self.sections.iter().enumerate() {
            let size = if s.sh_type == SHT_NOBITS {
                s.nobits_size
            } else {
                s.data.len() as u64
            };
            let link = if s.sh_type == SHT_REL {
                symtab_idx as u32
            } else {
                0
            };
            shdr(
                sec_names[i],
                s.sh_type,
                s.flags,
                offsets[i],
                size,
                link,
                s.info,
                8,
                s.entsize,
                &mut out,
            );
        }
        shdr(
            strtab_name,
            SHT_STRTAB,
            0,
            strtab_off,
            strtab.len() as u64,
            0,
            0,
            1,
            0,
            &mut out,
        );
        shdr(
            symtab_name,
            SHT_SYMTAB,
            0,
            symtab_off,
            symtab.len() as u64,
            strtab_idx as u32,
            first_global as u32,
            8,
            24,
            &mut out,
        );

        let shnum = (n + 3) as u16;
        let h = &mut out[..64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2; // ELFCLASS64
        h[5] = 1; // little-endian
        h[6] = 1; // EV_CURRENT
        h[16..18].copy_from_slice(&1u16.to_le_bytes()); // ET_REL
        h[18..20].copy_from_slice(&self.machine.to_le_bytes());
        h[20..24].copy_from_slice(&1u32.to_le_bytes());
        h[40..48].copy_from_slice(&(shoff as u64).to_le_bytes());
        h[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        h[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
        h[60..62].copy_from_slice(&shnum.to_le_bytes());
        h[62..64].copy_from_slice(&(strtab_idx as u16).to_le_bytes()); // e_shstrndx

        let layout = Layout {
            shdr: (0..n + 3).map(|i| shoff + i * 64).collect(),
        };
        (out, layout)
    }
}
