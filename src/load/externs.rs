//! Extern values from the running kernel, as libbpf's `bpf_object__resolve_externs` finds
//! them: the `.kconfig` map value (its LINUX_* values, the kernel config), ksym addresses
//! from /proc/kallsyms, ksym and kfunc BTF ids from the kernel's BTF.

use std::io::Read;

use crate::btf::core::{skip_mods, types_are_compat, Types};
use crate::btf::{kind, Btf, LazyBtf, Type};
use crate::elf::{Extern, ExternKind, KcfgType, Kconfig, ObjectSpec};
use crate::error::{Error, Result};
use crate::sys::{self, features};

use super::core;

/// What one extern resolved to (libbpf's `is_set`, `ksym.addr`, `ksym.kernel_btf_id`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct State {
    pub set: bool,
    pub addr: u64,
    pub btf_id: u32,
    /// A kfunc's fd_array slot: 0 for vmlinux, else its module's BTF (`kfunc_btfs`).
    pub btf_fd_idx: i16,
}

/// The externs of an object, resolved.
#[derive(Debug, Default)]
pub struct Resolved {
    /// The `.kconfig` map value, when the object has kconfig externs.
    pub kconfig: Option<Vec<u8>>,
    /// Indexed like `ObjectSpec::externs`.
    pub states: Vec<State>,
    pub warnings: Vec<String>,
    /// BTF fds of the modules whose kfuncs the object calls, fd_array slots 1, 2, ... in
    /// the order first met (slot 0 means vmlinux), as libbpf numbers them: a call's
    /// `off` names its slot, and is part of the program's tag.
    pub kfunc_btfs: Vec<(u32, std::os::fd::OwnedFd)>,
}

impl Resolved {
    /// The fd_array slot of module BTF `btf_id`, opened and added when first met.
    fn kfunc_slot(&mut self, module: &core::Target, e: &Extern) -> Result<i16> {
        if let Some(i) = self
            .kfunc_btfs
            .iter()
            .position(|(id, _)| *id == module.btf_id)
        {
            return Ok(i as i16 + 1);
        }
        if self.kfunc_btfs.len() >= i16::MAX as usize - 1 {
            return Err(refused(
                libc::E2BIG,
                format!(
                    "kfunc '{}': too many kernel modules' BTF for fd_array",
                    e.name
                ),
            ));
        }
        let fd = sys::fd_by_id(sys::IdKind::Btf, module.btf_id)?.ok_or_else(|| {
            refused(
                libc::ENOENT,
                format!(
                    "kfunc '{}': module {}'s BTF is gone (the module was unloaded)",
                    e.name, module.name
                ),
            )
        })?;
        self.kfunc_btfs.push((module.btf_id, fd));
        Ok(self.kfunc_btfs.len() as i16)
    }
}

fn refused(errno: i32, msg: String) -> Error {
    Error::Refused { errno, msg }
}

/// libbpf's is_kcfg_value_in_range: `v` fits the extern's integer without loss.
pub fn in_range(k: &Kconfig, v: u64) -> bool {
    if k.size >= 8 {
        return true;
    }
    let bits = k.size * 8;
    if k.signed {
        v.wrapping_add(1 << (bits - 1)) < (1 << bits)
    } else {
        v >> bits == 0
    }
}

fn write_le(data: &mut [u8], off: u32, size: u32, v: u64) {
    let (off, size) = (off as usize, size as usize);
    data[off..off + size].copy_from_slice(&v.to_le_bytes()[..size]);
}

/// libbpf's set_kcfg_value_num.
pub fn set_num(e: &Extern, k: &Kconfig, data: &mut [u8], v: u64) -> Result<()> {
    if !matches!(k.ty, KcfgType::Int | KcfgType::Char | KcfgType::Bool) {
        return Err(refused(
            libc::EINVAL,
            format!(
                "extern (kcfg) '{}': value '{v}' implies an integer, char or boolean type",
                e.name
            ),
        ));
    }
    if k.ty == KcfgType::Bool && v > 1 {
        return Err(refused(
            libc::EINVAL,
            format!("extern (kcfg) '{}': value '{v}' is not boolean", e.name),
        ));
    }
    if !in_range(k, v) {
        return Err(refused(
            libc::ERANGE,
            format!(
                "extern (kcfg) '{}': value '{v}' does not fit in {} bytes{}",
                e.name,
                k.size,
                if k.signed { " (signed)" } else { "" }
            ),
        ));
    }
    write_le(data, k.offset, k.size, v);
    Ok(())
}

/// libbpf's set_kcfg_value_tri: y/n/m.
fn set_tri(e: &Extern, k: &Kconfig, data: &mut [u8], c: u8) -> Result<()> {
    let v = match (k.ty, c) {
        (KcfgType::Bool, b'm') => {
            return Err(refused(
                libc::EINVAL,
                format!(
                    "extern (kcfg) '{}': value 'm' implies a tristate or char type, not bool",
                    e.name
                ),
            ))
        }
        (KcfgType::Bool, _) => u64::from(c == b'y'),
        // TRI_NO 0, TRI_YES 1, TRI_MODULE 2, written as the 4-byte enum.
        (KcfgType::Tristate, _) => match c {
            b'y' => 1,
            b'm' => 2,
            _ => 0,
        },
        (KcfgType::Char, _) => u64::from(c),
        _ => {
            return Err(refused(
                libc::EINVAL,
                format!(
                    "extern (kcfg) '{}': value '{}' implies a bool, tristate or char type",
                    e.name, c as char
                ),
            ))
        }
    };
    let size = if k.ty == KcfgType::Tristate { 4 } else { 1 };
    write_le(data, k.offset, size, v);
    Ok(())
}

/// libbpf's set_kcfg_value_str: a quoted string into a char array, cut to fit (with a
/// warning, as libbpf does).
fn set_str(e: &Extern, k: &Kconfig, data: &mut [u8], value: &str) -> Result<Option<String>> {
    if k.ty != KcfgType::CharArr {
        return Err(refused(
            libc::EINVAL,
            format!(
                "extern (kcfg) '{}': value {value} implies a char array type",
                e.name
            ),
        ));
    }
    let b = value.as_bytes();
    if b.len() < 2 || b[b.len() - 1] != b'"' {
        return Err(refused(
            libc::EINVAL,
            format!("extern (kcfg) '{}': invalid string config {value}", e.name),
        ));
    }
    let s = &b[1..b.len() - 1];
    let mut warning = None;
    let len = if s.len() >= k.size as usize {
        warning = Some(format!(
            "extern (kcfg) '{}': the {}-byte string {value} is cut to {} bytes",
            e.name,
            s.len(),
            k.size - 1
        ));
        k.size as usize - 1
    } else {
        s.len()
    };
    let off = k.offset as usize;
    data[off..off + len].copy_from_slice(&s[..len]);
    data[off + len] = 0;
    Ok(warning)
}

/// strtoull(value, &end, 0) that must consume everything: 0x hex, leading-0 octal,
/// decimal; a leading '-' negates modulo 2^64, as strtoull does.
pub fn parse_u64(value: &str) -> Option<u64> {
    let t = value.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (16, h)
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = u64::from_str_radix(digits, radix).ok()?;
    Some(if neg { v.wrapping_neg() } else { v })
}

/// libbpf's bpf_object__process_kconfig_line for one line of a kernel config: sets the
/// kconfig extern it names, if not set yet. Returns a warning, if any.
pub fn process_line(
    line: &str,
    externs: &[Extern],
    states: &mut [State],
    data: &mut [u8],
) -> Result<Option<String>> {
    if !line.starts_with("CONFIG_") {
        return Ok(None);
    }
    let bad = |why: &str| {
        refused(
            libc::EINVAL,
            format!("cannot parse the kernel config line '{line}': {why}"),
        )
    };
    let line = line.strip_suffix('\n').unwrap_or(line);
    let (name, value) = line.split_once('=').ok_or_else(|| bad("no '='"))?;
    if value.is_empty() {
        return Err(bad("no value"));
    }
    let Some(i) = externs.iter().position(|e| e.name == name) else {
        return Ok(None);
    };
    let (e, ExternKind::Kconfig(k)) = (&externs[i], &externs[i].kind) else {
        return Ok(None);
    };
    if states[i].set {
        return Ok(None);
    }
    let mut warning = None;
    match value.as_bytes()[0] {
        c @ (b'y' | b'n' | b'm') => set_tri(e, k, data, c)?,
        b'"' => warning = set_str(e, k, data, value)?,
        _ => {
            let v = parse_u64(value).ok_or_else(|| {
                refused(
                    libc::EINVAL,
                    format!("extern (kcfg) '{name}': value '{value}' is not a valid integer"),
                )
            })?;
            if !matches!(k.ty, KcfgType::Int | KcfgType::Char) {
                return Err(refused(
                    libc::EINVAL,
                    format!("extern (kcfg) '{name}': value '{value}' implies an integer type"),
                ));
            }
            set_num(e, k, data, v)?;
        }
    }
    states[i].set = true;
    Ok(warning)
}

/// KERNEL_VERSION(a, b, c) of libbpf 1.1: the sublevel capped at 255.
fn kernel_version_code(a: u32, b: u32, c: u32) -> u32 {
    (a << 16).wrapping_add(b << 8).wrapping_add(c.min(255))
}

/// The leading "%u.%u.%u" of `s`, as sscanf reads it.
fn three_numbers(s: &str) -> Option<(u32, u32, u32)> {
    let mut it = s.splitn(3, '.');
    let num = |p: &str| -> Option<u32> {
        let d: String = p.chars().take_while(char::is_ascii_digit).collect();
        d.parse().ok()
    };
    let a = it.next().and_then(|p| p.parse().ok())?;
    let b = it.next().and_then(|p| p.parse().ok())?;
    let c = it.next().and_then(num)?;
    Some((a, b, c))
}

/// libbpf 1.1's get_kernel_version: Ubuntu's /proc/version_signature ("Ubuntu
/// 5.4.0-12.15-generic 5.4.8": the third word) if readable, else uname's release; 0 when
/// neither parses.
pub fn kernel_version(version_signature: Option<&str>, release: &str) -> u32 {
    if let Some((a, b, c)) = version_signature
        .and_then(|s| s.split_whitespace().nth(2))
        .and_then(three_numbers)
    {
        return kernel_version_code(a, b, c);
    }
    match three_numbers(release) {
        Some((a, b, c)) => kernel_version_code(a, b, c),
        None => 0,
    }
}

fn uname_release() -> String {
    // SAFETY: utsname is plain bytes; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: u is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::new();
    }
    let bytes: Vec<u8> = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The kernel config as libbpf finds it: /boot/config-$(uname -r), else /proc/config.gz,
/// either gzipped or plain. Returns (path, text).
fn read_kernel_config() -> Result<(String, String)> {
    let candidates = [
        format!("/boot/config-{}", uname_release()),
        "/proc/config.gz".to_string(),
    ];
    for path in candidates {
        let Ok(raw) = std::fs::read(&path) else {
            continue;
        };
        let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(raw.as_slice())
                .read_to_end(&mut out)
                .map_err(|e| refused(libc::EINVAL, format!("cannot decompress {path}: {e}")))?;
            out
        } else {
            raw
        };
        return Ok((path, String::from_utf8_lossy(&bytes).into_owned()));
    }
    Err(refused(
        libc::ENOENT,
        "the object has CONFIG_* externs and the kernel config is nowhere to be read \
         (neither /boot/config-$(uname -r) nor /proc/config.gz)"
            .into(),
    ))
}

/// One /proc/kallsyms line, "%llx %c %s ...": (address, name).
pub fn kallsyms_line(line: &str) -> Option<(u64, &str)> {
    let mut it = line.split_whitespace();
    let addr = u64::from_str_radix(it.next()?, 16).ok()?;
    let _kind = it.next()?;
    Some((addr, it.next()?))
}

/// libbpf's kallsyms_cb over the whole file: every ksym VAR extern found gets its
/// address; one name with two addresses is an error.
pub fn apply_kallsyms(text: &str, externs: &[Extern], states: &mut [State]) -> Result<()> {
    for line in text.lines() {
        let Some((addr, name)) = kallsyms_line(line) else {
            return Err(refused(
                libc::EINVAL,
                format!("cannot parse the /proc/kallsyms line '{line}'"),
            ));
        };
        let Some(i) = externs.iter().position(|e| e.name == name) else {
            continue;
        };
        if !matches!(externs[i].kind, ExternKind::Ksym { is_func: false, .. }) {
            continue;
        }
        let st = &mut states[i];
        if st.set && st.addr != addr {
            return Err(refused(
                libc::EINVAL,
                format!(
                    "extern (ksym) '{name}': resolution is ambiguous: {:#x} or {addr:#x}",
                    st.addr
                ),
            ));
        }
        st.set = true;
        st.addr = addr;
    }
    Ok(())
}

/// A typed ksym (VAR) vmlinux lacks: libbpf looks for it in the modules' BTF next.
/// Found there, it would need the module's BTF fd in the instruction, which bpfbind does
/// not pass yet; found nowhere, a __weak one reads 0 and a strong one is refused.
fn not_in_vmlinux(e: &Extern, what: &str, k: u32) -> Result<()> {
    for m in core::module_targets()? {
        if m.find_exact(&e.name, k).is_some() {
            return Err(Error::unsupported(
                "typed ksyms in kernel modules",
                format!(
                    "extern ({what}) '{}' is in module {}'s BTF, which bpfbind does not \
                     pass to the kernel yet",
                    e.name, m.name
                ),
            ));
        }
    }
    not_found(e, what)
}

fn not_found(e: &Extern, what: &str) -> Result<()> {
    if e.weak {
        return Ok(());
    }
    Err(refused(
        libc::ESRCH,
        format!(
            "extern ({what}) '{}': not found in the kernel's BTF (vmlinux or a module)",
            e.name
        ),
    ))
}

fn describe(btf: &dyn Types, id: u32) -> String {
    match btf.ty(id) {
        Some(t) => format!("[{id}] {} '{}'", crate::btf::kind_name(t.kind()), t.name()),
        None => format!("[{id}]"),
    }
}

/// libbpf's bpf_object__resolve_ksym_var_btf_id / _func_btf_id: the kernel's VAR or
/// FUNC of that name, its type compatible (CO-RE rules) with the local one; a kfunc
/// vmlinux lacks is looked for in the modules' BTF, in BTF id order, as libbpf does.
fn resolve_btf_id(
    local: &Btf,
    kernel: &LazyBtf,
    e: &Extern,
    i: usize,
    out: &mut Resolved,
) -> Result<()> {
    let ExternKind::Ksym { type_id, is_func } = e.kind else {
        return Ok(());
    };
    let (what, k) = if is_func {
        ("func ksym", kind::FUNC)
    } else {
        ("var ksym", kind::VAR)
    };
    let Some(id) = kernel.find(&e.name, k) else {
        if !is_func {
            return not_in_vmlinux(e, what, k);
        }
        for m in core::module_targets()? {
            let Some(id) = m.find_exact(&e.name, k) else {
                continue;
            };
            let targ = match m.ty(id) {
                Some(Type::Func { type_id, .. }) => *type_id,
                _ => continue,
            };
            check_compat(local, type_id, m.as_ref(), targ, e, what)?;
            let slot = out.kfunc_slot(&m, e)?;
            let st = &mut out.states[i];
            st.set = true;
            st.btf_id = id;
            st.btf_fd_idx = slot;
            return Ok(());
        }
        return not_found(e, what);
    };
    let st = &mut out.states[i];
    let targ = match kernel.ty(id) {
        Some(Type::Var { type_id, .. }) => skip_mods(kernel, *type_id).map_or(*type_id, |(t, _)| t),
        Some(Type::Func { type_id, .. }) => *type_id,
        _ => {
            return Err(Error::format(
                ".BTF",
                0,
                format!(
                    "the kernel's BTF type [{id}] ('{}') does not decode",
                    e.name
                ),
            ))
        }
    };
    check_compat(local, type_id, kernel, targ, e, what)?;
    st.set = true;
    st.btf_id = id;
    Ok(())
}

fn check_compat(
    local: &Btf,
    type_id: u32,
    target: &dyn Types,
    targ: u32,
    e: &Extern,
    what: &str,
) -> Result<()> {
    if types_are_compat(local, type_id, target, targ, 32).unwrap_or(false) {
        return Ok(());
    }
    Err(refused(
        libc::EINVAL,
        format!(
            "extern ({what}) '{}': incompatible types: the object declares {}, the \
             kernel has {}",
            e.name,
            describe(local, type_id),
            describe(target, targ)
        ),
    ))
}

/// Resolves every extern of `spec` against the running kernel, in libbpf's order.
pub fn resolve(spec: &ObjectSpec) -> Result<Resolved> {
    let externs = &spec.externs;
    let mut out = Resolved {
        states: vec![State::default(); externs.len()],
        ..Default::default()
    };
    if externs.is_empty() {
        return Ok(out);
    }
    let size = spec
        .kconfig_map()
        .map_or(0, |m| spec.maps[m].value_size as usize);
    let mut data = vec![0u8; size];
    let (mut need_config, mut need_kallsyms, mut need_btf) = (false, false, false);
    for (i, e) in externs.iter().enumerate() {
        let k = match &e.kind {
            ExternKind::Ksym { type_id: 0, .. } => {
                need_kallsyms = true;
                continue;
            }
            ExternKind::Ksym { .. } => {
                need_btf = true;
                continue;
            }
            ExternKind::Kconfig(k) => k,
        };
        if e.name.starts_with("CONFIG_") {
            need_config = true;
            continue;
        }
        let value = match e.name.as_str() {
            "LINUX_KERNEL_VERSION" => {
                let sig = std::fs::read_to_string("/proc/version_signature").ok();
                let v = kernel_version(sig.as_deref(), &uname_release());
                if v == 0 {
                    return Err(refused(
                        libc::EINVAL,
                        format!("extern (kcfg) '{}': cannot tell the kernel version", e.name),
                    ));
                }
                u64::from(v)
            }
            "LINUX_HAS_BPF_COOKIE" => u64::from(features::bpf_cookie()),
            "LINUX_HAS_SYSCALL_WRAPPER" => u64::from(features::syscall_wrapper()),
            name if name.starts_with("LINUX_") && e.weak => 0,
            _ => {
                return Err(refused(
                    libc::EINVAL,
                    format!(
                        "extern (kcfg) '{}': unrecognized virtual extern (kconfig externs \
                         are CONFIG_* from the kernel config, or libbpf's LINUX_* values)",
                        e.name
                    ),
                ))
            }
        };
        set_num(e, k, &mut data, value)?;
        out.states[i].set = true;
    }
    if need_config {
        let (path, text) = read_kernel_config()?;
        for line in text.split('\n') {
            if let Some(w) =
                process_line(line, externs, &mut out.states, &mut data).map_err(|e| match e {
                    Error::Refused { errno, msg } => refused(errno, format!("{path}: {msg}")),
                    other => other,
                })?
            {
                out.warnings.push(w);
            }
        }
    }
    if need_kallsyms {
        let text = std::fs::read_to_string("/proc/kallsyms").map_err(|e| {
            Error::sys(
                "open",
                e.raw_os_error().unwrap_or(libc::EIO),
                "/proc/kallsyms (addresses of untyped ksyms)",
            )
        })?;
        apply_kallsyms(&text, externs, &mut out.states)?;
    }
    if need_btf {
        let local = spec.btf.as_ref().ok_or_else(|| {
            Error::Invalid("typed ksyms need the object's BTF, which is missing".into())
        })?;
        let kernel = core::kernel_target()?
            .whole()
            .ok_or_else(|| Error::Invalid("the kernel's BTF is not a whole BTF".into()))?;
        for (i, e) in externs.iter().enumerate() {
            if matches!(e.kind, ExternKind::Ksym { type_id, .. } if type_id != 0) {
                resolve_btf_id(local, kernel, e, i, &mut out)?;
            }
        }
    }
    for (e, st) in externs.iter().zip(&out.states) {
        if !st.set && !e.weak {
            let why = match e.kind {
                ExternKind::Kconfig(_) => "the kernel config does not set it",
                ExternKind::Ksym { type_id: 0, .. } => "it is not in /proc/kallsyms",
                ExternKind::Ksym { .. } => "the kernel's BTF does not have it",
            };
            return Err(refused(
                libc::ESRCH,
                format!(
                    "extern '{}' (strong): not resolved: {why}; declare it __weak to read 0 \
                     where it is missing",
                    e.name
                ),
            ));
        }
    }
    if size > 0 {
        out.kconfig = Some(data);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kcfg(name: &str, ty: KcfgType, size: u32, signed: bool, offset: u32) -> Extern {
        Extern {
            name: name.into(),
            weak: false,
            btf_id: 1,
            sym_idx: 1,
            kind: ExternKind::Kconfig(Kconfig {
                ty,
                size,
                align: size.min(8),
                signed,
                offset,
            }),
        }
    }

    fn externs() -> Vec<Extern> {
        vec![
            kcfg("CONFIG_U64", KcfgType::Int, 8, false, 0),
            kcfg("CONFIG_TRI", KcfgType::Tristate, 4, false, 8),
            kcfg("CONFIG_HZ", KcfgType::Int, 4, true, 12),
            kcfg("CONFIG_S16", KcfgType::Int, 2, true, 16),
            kcfg("CONFIG_B", KcfgType::Bool, 1, false, 18),
            kcfg("CONFIG_C", KcfgType::Char, 1, false, 19),
            kcfg("CONFIG_STR", KcfgType::CharArr, 5, false, 20),
        ]
    }

    fn run(lines: &str) -> (Result<Vec<String>>, Vec<State>, Vec<u8>) {
        let ex = externs();
        let mut states = vec![State::default(); ex.len()];
        let mut data = vec![0u8; 25];
        let mut warnings = Vec::new();
        for line in lines.split('\n') {
            match process_line(line, &ex, &mut states, &mut data) {
                Ok(w) => warnings.extend(w),
                Err(e) => return (Err(e), states, data),
            }
        }
        (Ok(warnings), states, data)
    }

    #[test]
    fn kernel_config_lines_fill_the_value_like_libbpf() {
        let (res, states, data) = run("# a comment\n\
             # CONFIG_NOT_SET is not set\n\
             CONFIG_U64=0x1000000\n\
             CONFIG_TRI=m\n\
             CONFIG_HZ=250\n\
             CONFIG_S16=-2\n\
             CONFIG_B=y\n\
             CONFIG_C=m\n\
             CONFIG_STR=\"abcdef\"\n\
             CONFIG_HZ=1000\n\
             CONFIG_UNRELATED=y\n");
        let warnings = res.unwrap();
        assert!(states.iter().all(|s| s.set));
        assert_eq!(&data[0..8], &0x1000000u64.to_le_bytes());
        assert_eq!(&data[8..12], &2u32.to_le_bytes()); // TRI_MODULE
        assert_eq!(&data[12..16], &250u32.to_le_bytes()); // the first line wins
        assert_eq!(&data[16..18], &(-2i16).to_le_bytes());
        assert_eq!((data[18], data[19]), (1, b'm'));
        // Cut to 4 characters and a NUL, with a warning, as libbpf does.
        assert_eq!(&data[20..25], b"abcd\0");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("CONFIG_STR"));
    }

    #[track_caller]
    fn refused_with(lines: &str, errno: i32, needle: &str) {
        match run(lines).0 {
            Err(Error::Refused { errno: e, msg }) => {
                assert_eq!(e, errno, "{msg}");
                assert!(msg.contains(needle), "expected '{needle}' in: {msg}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn values_that_do_not_fit_their_type_are_refused_naming_the_extern() {
        refused_with("CONFIG_S16=32768", libc::ERANGE, "CONFIG_S16");
        refused_with("CONFIG_S16=-32769", libc::ERANGE, "CONFIG_S16");
        refused_with("CONFIG_HZ=0x100000000", libc::ERANGE, "CONFIG_HZ");
        refused_with("CONFIG_B=m", libc::EINVAL, "CONFIG_B");
        refused_with("CONFIG_B=1", libc::EINVAL, "CONFIG_B");
        refused_with("CONFIG_HZ=y", libc::EINVAL, "CONFIG_HZ");
        refused_with("CONFIG_HZ=\"x\"", libc::EINVAL, "CONFIG_HZ");
        refused_with("CONFIG_HZ=12ab", libc::EINVAL, "CONFIG_HZ");
        refused_with("CONFIG_STR=5", libc::EINVAL, "CONFIG_STR");
        refused_with("CONFIG_STR=\"open", libc::EINVAL, "CONFIG_STR");
        refused_with("CONFIG_TRI=3", libc::EINVAL, "CONFIG_TRI");
        refused_with("CONFIG_WHATEVER", libc::EINVAL, "no '='");
        refused_with("CONFIG_HZ=", libc::EINVAL, "no value");
    }

    #[test]
    fn ranges_follow_is_kcfg_value_in_range() {
        let k = |size, signed| Kconfig {
            ty: KcfgType::Int,
            size,
            align: size,
            signed,
            offset: 0,
        };
        assert!(in_range(&k(1, false), 255) && !in_range(&k(1, false), 256));
        assert!(in_range(&k(1, true), 127) && !in_range(&k(1, true), 128));
        assert!(
            in_range(&k(1, true), (-128i64) as u64) && !in_range(&k(1, true), (-129i64) as u64)
        );
        assert!(in_range(&k(4, false), u32::MAX.into()));
        assert!(in_range(&k(8, false), u64::MAX) && in_range(&k(8, true), u64::MAX));
    }

    #[test]
    fn integers_parse_like_strtoull_base_0() {
        assert_eq!(parse_u64("250"), Some(250));
        assert_eq!(parse_u64("0x1F"), Some(31));
        assert_eq!(parse_u64("010"), Some(8));
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("-1"), Some(u64::MAX));
        assert_eq!(parse_u64("0xdead000000000000"), Some(0xdead_0000_0000_0000));
        for bad in ["", "0x", "08", "1.5", "12 ", "abc"] {
            assert_eq!(parse_u64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn kernel_version_as_libbpf_1_1_reads_it() {
        assert_eq!(
            kernel_version(None, "6.18.44-fc-v1045"),
            (6 << 16) + (18 << 8) + 44
        );
        // Sublevels above 255 are capped.
        assert_eq!(
            kernel_version(None, "4.19.300"),
            (4 << 16) + (19 << 8) + 255
        );
        // Ubuntu's version signature wins over uname.
        assert_eq!(
            kernel_version(
                Some("Ubuntu 5.4.0-12.15-generic 5.4.8\n"),
                "5.4.0-12-generic"
            ),
            (5 << 16) + (4 << 8) + 8
        );
        assert_eq!(
            kernel_version(Some("garbage"), "5.10.1"),
            (5 << 16) + (10 << 8) + 1
        );
        assert_eq!(kernel_version(None, "6.1"), 0);
    }

    #[test]
    fn kallsyms_addresses_go_to_var_ksyms_and_ambiguity_is_an_error() {
        let ksym = |name: &str, is_func| Extern {
            name: name.into(),
            weak: false,
            btf_id: 1,
            sym_idx: 1,
            kind: ExternKind::Ksym {
                type_id: 0,
                is_func,
            },
        };
        let ex = [ksym("bpf_prog_put", false), ksym("some_kfunc", true)];
        let mut st = vec![State::default(); 2];
        let text = "ffffffff814e6bb0 T bpf_prog_put\n\
                    ffffffff81000000 T some_kfunc\n\
                    ffffffffc0000000 t bpf_prog_put\t[some_module]\n";
        let err = apply_kallsyms(text, &ex, &mut st).unwrap_err();
        assert!(err.to_string().contains("ambiguous"), "{err}");
        let mut st = vec![State::default(); 2];
        let first_two: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
        apply_kallsyms(&first_two, &ex, &mut st).unwrap();
        assert_eq!(
            st,
            [
                State {
                    set: true,
                    addr: 0xffff_ffff_814e_6bb0,
                    btf_id: 0,
                    btf_fd_idx: 0,
                },
                State::default()
            ]
        );
    }
}
