//! What a program's section says it attaches to (libbpf's auto-attach rules), and the file
//! offset of a function in an executable or shared library, for uprobes. Kernel-free.

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader, Sym};
use object::Endianness;

use crate::error::{Error, Result};

/// The target a section names; what `attach_all` attaches without further input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionTarget {
    /// kprobe/func[+offset], kretprobe/func.
    Kprobe {
        func: String,
        offset: u64,
        retprobe: bool,
    },
    /// kprobe.multi/pattern, kretprobe.multi/pattern (`*` and `?` globs).
    KprobeMulti { pattern: String, retprobe: bool },
    /// ksyscall/name, kretsyscall/name: a kprobe on the syscall's entry function.
    Ksyscall { name: String, retprobe: bool },
    /// uprobe/binary:func[+offset], uretprobe/..., for every process.
    Uprobe {
        binary: String,
        func: String,
        offset: u64,
        retprobe: bool,
    },
    /// tp/category/name, tracepoint/category/name.
    Tracepoint { category: String, name: String },
    /// raw_tp/name, raw_tracepoint/name.
    RawTracepoint { name: String },
    /// tp_btf, fentry, fexit, fmod_ret, lsm: the target was fixed at load.
    Tracing,
    /// iter/...: an iterator link.
    Iter,
}

/// Section name -> what it attaches to: None for sections that name no target (xdp, tc,
/// cgroup, socket, a bare "kprobe"), which need the caller's target; an error for a
/// target the section spells wrongly.
pub fn section_target(section: &str) -> Option<Result<SectionTarget>> {
    let section = section.strip_prefix('?').unwrap_or(section);
    let (kind, rest) = match section.split_once('/') {
        Some((k, r)) => (k, Some(r)),
        None => (section, None),
    };
    let kind = kind.strip_suffix(".s").unwrap_or(kind);
    fn need(r: Option<&str>) -> Option<&str> {
        r.filter(|r| !r.is_empty())
    }
    let t = match kind {
        "kprobe" | "kretprobe" => {
            let spec = need(rest)?;
            let retprobe = kind == "kretprobe";
            Some(parse_func_offset(spec, section).map(|(func, offset)| {
                if retprobe && offset != 0 {
                    return Err(Error::Invalid(format!(
                        "section {section}: a kretprobe takes no offset"
                    )));
                }
                Ok(SectionTarget::Kprobe {
                    func,
                    offset,
                    retprobe,
                })
            }))
            .map(|r| r.and_then(|x| x))
        }
        "kprobe.multi" | "kretprobe.multi" => need(rest).map(|p| {
            Ok(SectionTarget::KprobeMulti {
                pattern: p.to_string(),
                retprobe: kind == "kretprobe.multi",
            })
        }),
        "ksyscall" | "kretsyscall" => need(rest).map(|n| {
            Ok(SectionTarget::Ksyscall {
                name: n.to_string(),
                retprobe: kind == "kretsyscall",
            })
        }),
        "uprobe" | "uretprobe" => {
            let spec = need(rest)?;
            Some(parse_uprobe(spec, section, kind == "uretprobe"))
        }
        "tp" | "tracepoint" => {
            let spec = need(rest)?;
            Some(match spec.split_once('/') {
                Some((c, n)) if !c.is_empty() && !n.is_empty() && !n.contains('/') => {
                    Ok(SectionTarget::Tracepoint {
                        category: c.to_string(),
                        name: n.to_string(),
                    })
                }
                _ => Err(Error::Invalid(format!(
                    "section {section}: a tracepoint is named 'category/name'"
                ))),
            })
        }
        "raw_tp" | "raw_tracepoint" | "raw_tp.w" | "raw_tracepoint.w" => need(rest).map(|n| {
            Ok(SectionTarget::RawTracepoint {
                name: n.to_string(),
            })
        }),
        "tp_btf" | "fentry" | "fexit" | "fmod_ret" | "lsm" => {
            need(rest).map(|_| Ok(SectionTarget::Tracing))
        }
        "iter" => need(rest).map(|_| Ok(SectionTarget::Iter)),
        // Targets bpfbind cannot attach yet: said, never skipped.
        "usdt" | "uprobe.multi" | "uretprobe.multi" | "kprobe.session" => need(rest).map(|_| {
            Err(Error::unsupported(
                format!("{kind} attachment"),
                format!("section {section}"),
            ))
        }),
        _ => None,
    };
    t
}

/// "func", "func+0x10", "func+16" -> (func, offset).
pub fn parse_func_offset(spec: &str, what: &str) -> Result<(String, u64)> {
    let (func, off) = match spec.split_once('+') {
        Some((f, o)) => (f, Some(o)),
        None => (spec, None),
    };
    if func.is_empty() {
        return Err(Error::Invalid(format!("{what}: no function named")));
    }
    let offset = match off {
        None => 0,
        Some(o) => {
            parse_u64(o).ok_or_else(|| Error::Invalid(format!("{what}: bad offset {o:?}")))?
        }
    };
    Ok((func.to_string(), offset))
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// "binary:func[+off]" (the binary may be a path with slashes).
fn parse_uprobe(spec: &str, section: &str, retprobe: bool) -> Result<SectionTarget> {
    let Some((binary, func)) = spec.rsplit_once(':') else {
        return Err(Error::Invalid(format!(
            "section {section}: a uprobe is named 'binary:function[+offset]'"
        )));
    };
    if binary.is_empty() {
        return Err(Error::Invalid(format!(
            "section {section}: no binary named"
        )));
    }
    let (func, offset) = parse_func_offset(func, &format!("section {section}"))?;
    Ok(SectionTarget::Uprobe {
        binary: binary.to_string(),
        func,
        offset,
        retprobe,
    })
}

/// Whether `name` matches the glob `pattern` (`*` any run, `?` one character), as
/// kprobe.multi patterns are matched against the kernel's function names.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut ni) = (0, 0);
    let mut back: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            back = Some((pi, ni));
            pi += 1;
        } else if let Some((bp, bn)) = back {
            pi = bp + 1;
            ni = bn + 1;
            back = Some((bp, bn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

type Header = elf::FileHeader64<Endianness>;

/// The file offset of function `func` in the ELF file `data` (an executable, PIE or
/// shared library), plus `extra`: what the uprobe PMU takes. The symbol comes from
/// `.symtab`, else `.dynsym`; its address is mapped to the file through the PT_LOAD
/// segment that holds it.
pub fn uprobe_offset(data: &[u8], func: &str, what: &str) -> Result<u64> {
    let fmt = |msg: String| Error::format(what, 0, msg);
    let header = Header::parse(data).map_err(|e| fmt(format!("not a 64-bit ELF file: {e}")))?;
    let endian = header
        .endian()
        .map_err(|e| fmt(format!("bad ELF header: {e}")))?;
    let sections = header
        .sections(endian, data)
        .map_err(|e| fmt(format!("bad section headers: {e}")))?;
    let mut found: Option<u64> = None;
    for kind in [elf::SHT_SYMTAB, elf::SHT_DYNSYM] {
        let symbols = sections
            .symbols(endian, data, kind)
            .map_err(|e| fmt(format!("bad symbol table: {e}")))?;
        for sym in symbols.iter() {
            if sym.st_type() != elf::STT_FUNC && sym.st_type() != elf::STT_GNU_IFUNC {
                continue;
            }
            if sym.st_shndx(endian) == elf::SHN_UNDEF || sym.st_value(endian) == 0 {
                continue;
            }
            let Ok(name) = symbols.symbol_name(endian, sym) else {
                continue;
            };
            // "memcpy@@GLIBC_2.14" names memcpy too.
            let base = name.split(|&b| b == b'@').next().unwrap_or(name);
            if base == func.as_bytes() {
                found = Some(sym.st_value(endian));
                break;
            }
        }
        if found.is_some() {
            break;
        }
    }
    let Some(addr) = found else {
        return Err(Error::NotFound(format!("no function {func} in {what}")));
    };
    let phdrs = header
        .program_headers(endian, data)
        .map_err(|e| fmt(format!("bad program headers: {e}")))?;
    for ph in phdrs {
        if ph.p_type(endian) != elf::PT_LOAD || ph.p_flags(endian).0 & elf::PF_X.0 == 0 {
            continue;
        }
        let (va, size, off) = (ph.p_vaddr(endian), ph.p_filesz(endian), ph.p_offset(endian));
        if addr >= va && addr - va < size {
            return Ok(addr - va + off);
        }
    }
    // An object without program headers (a relocatable file): the section's own offset.
    for s in sections.iter() {
        let (va, size) = (s.sh_addr(endian), s.sh_size(endian));
        if s.sh_flags(endian).0 & elf::SHF_EXECINSTR.0 != 0 && addr >= va && addr - va < size {
            return Ok(addr - va + s.sh_offset(endian));
        }
    }
    Err(fmt(format!(
        "function {func} at {addr:#x} lies in no executable segment"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_name_their_targets() {
        let t = |s: &str| section_target(s).map(|r| r.unwrap());
        assert_eq!(
            t("kprobe/do_sys_open+0x10"),
            Some(SectionTarget::Kprobe {
                func: "do_sys_open".into(),
                offset: 16,
                retprobe: false
            })
        );
        assert_eq!(
            t("kretprobe/do_unlinkat"),
            Some(SectionTarget::Kprobe {
                func: "do_unlinkat".into(),
                offset: 0,
                retprobe: true
            })
        );
        assert_eq!(
            t("tp/syscalls/sys_enter_write"),
            Some(SectionTarget::Tracepoint {
                category: "syscalls".into(),
                name: "sys_enter_write".into()
            })
        );
        assert_eq!(
            t("raw_tp/sched_switch"),
            Some(SectionTarget::RawTracepoint {
                name: "sched_switch".into()
            })
        );
        assert_eq!(
            t("uprobe//usr/lib/libc.so.6:malloc+4"),
            Some(SectionTarget::Uprobe {
                binary: "/usr/lib/libc.so.6".into(),
                func: "malloc".into(),
                offset: 4,
                retprobe: false
            })
        );
        assert_eq!(
            t("uretprobe.s/./a.out:f"),
            Some(SectionTarget::Uprobe {
                binary: "./a.out".into(),
                func: "f".into(),
                offset: 0,
                retprobe: true
            })
        );
        assert_eq!(t("fentry/do_unlinkat"), Some(SectionTarget::Tracing));
        assert_eq!(t("iter/task"), Some(SectionTarget::Iter));
        assert_eq!(
            t("ksyscall/write"),
            Some(SectionTarget::Ksyscall {
                name: "write".into(),
                retprobe: false
            })
        );
        for none in [
            "xdp",
            "tc",
            "kprobe",
            "uprobe",
            "socket",
            "cgroup_skb/ingress",
            "tp/",
        ] {
            assert_eq!(t(none), None, "{none}");
        }
        for bad in [
            "tp/onlyname",
            "kretprobe/f+8",
            "uprobe/nocolon",
            "kprobe/f+zz",
        ] {
            assert!(section_target(bad).unwrap().is_err(), "{bad}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("do_sys_*", "do_sys_open"));
        assert!(glob_match("*open*", "do_sys_openat2"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(!glob_match("do_*x", "do_sys"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn offsets_of_functions_in_our_own_executable() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let err = uprobe_offset(&me, "no_such_function_anywhere", "self").unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        assert!(uprobe_offset(b"not an elf", "f", "junk").is_err());
        assert!(uprobe_offset(&me[..64], "f", "cut").is_err());
    }
}
