//! Values as bpftool's btf_dumper prints them (compact json_writer output, as in `prog show`
//! metadata), byte for byte, including the quirks of the bpftool release being mimicked.

use super::decode::{le_u64, read_bits, Cursor, INT_BOOL, INT_CHAR, INT_SIGNED, MAX_NEST};
use super::lookup::MAX_CHAIN;
use super::types::{Btf, Member, Type};
use crate::error::{Error, Result};

/// A bpftool release whose output to reproduce. Releases differ in a few corner cases:
/// before 7.2 json_writer wrote `\` as `\n` and `'` as `\'`; before 7.3 plain-text
/// pointers were unquoted; before 7.7 an unsupported kind printed `(unsupported-kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BpftoolVersion {
    pub major: u32,
    pub minor: u32,
}

impl BpftoolVersion {
    /// Debian 12's bpftool (the one `REFERENCE.md` was checked with).
    pub const V7_1: BpftoolVersion = BpftoolVersion { major: 7, minor: 1 };
    /// The newest behaviour (upstream bpftool 7.7 and later).
    pub const LATEST: BpftoolVersion = BpftoolVersion { major: 7, minor: 7 };

    fn at_least(self, major: u32, minor: u32) -> bool {
        self >= BpftoolVersion { major, minor }
    }
}

impl Default for BpftoolVersion {
    fn default() -> Self {
        BpftoolVersion::LATEST
    }
}

/// How to print: `plain` is bpftool's plain-text `prog show` (btf_dumper's is_plain_text,
/// which changes pointers, 128-bit ints, bitfields and non-printable chars); otherwise the
/// `-j` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DumpOptions {
    pub plain: bool,
    pub bpftool: BpftoolVersion,
}

/// Appends `s` as a quoted JSON string the way the newest bpftool's json_writer does:
/// only `\t \n \r \f \b \\ "` are escaped, other control characters pass through, and
/// output stops at a NUL as the C string would.
pub fn json_escape_str(s: &str, out: &mut String) {
    json_escape_str_for(s, BpftoolVersion::LATEST, out)
}

/// `json_escape_str` as a given bpftool release writes it.
pub fn json_escape_str_for(s: &str, version: BpftoolVersion, out: &mut String) {
    let fixed = version.at_least(7, 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\0' => break,
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x0c' => out.push_str("\\f"),
            '\x08' => out.push_str("\\b"),
            '\\' if fixed => out.push_str("\\\\"),
            '\\' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            '\'' if !fixed => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The compact json_writer: a comma goes before every value or name but the first of a
/// collection.
struct Writer<'o> {
    out: &'o mut String,
    sep: bool,
    version: BpftoolVersion,
}

impl Writer<'_> {
    fn eor(&mut self) {
        if self.sep {
            self.out.push(',');
        }
        self.sep = true;
    }

    fn raw(&mut self, s: &str) {
        self.eor();
        self.out.push_str(s);
    }

    fn string(&mut self, s: &str) {
        self.eor();
        json_escape_str_for(s, self.version, self.out);
    }

    fn name(&mut self, s: &str) {
        self.eor();
        self.sep = false;
        json_escape_str_for(s, self.version, self.out);
        self.out.push(':');
    }

    fn begin(&mut self, c: char) {
        self.eor();
        self.out.push(c);
        self.sep = false;
    }

    fn end(&mut self, c: char) {
        self.out.push(c);
        self.sep = true;
    }
}

struct Dumper<'b, 'o> {
    btf: &'b Btf,
    w: Writer<'o>,
    plain: bool,
    cur: Cursor,
}

fn unsupported(id: u32, what: &str) -> Error {
    Error::Invalid(format!("bpftool cannot print BTF type [{id}] ({what})"))
}

impl Btf {
    /// Appends what `bpftool -j prog show` prints for a metadata value of type `type_id`
    /// stored in `data` (newest bpftool). On a type bpftool cannot print, `out` holds what
    /// bpftool would have written before giving up, and an error is returned.
    pub fn dump_json(&self, type_id: u32, data: &[u8], out: &mut String) -> Result<()> {
        self.dump_value(type_id, data, DumpOptions::default(), out)
    }

    /// `dump_json` for a chosen output mode and bpftool release.
    pub fn dump_value(
        &self,
        type_id: u32,
        data: &[u8],
        opts: DumpOptions,
        out: &mut String,
    ) -> Result<()> {
        let label = match self.name_of(type_id) {
            "" => format!("BTF type [{type_id}]"),
            n => n.to_owned(),
        };
        self.dump_labeled(type_id, data, 0, opts, label, out)
    }

    /// (name with `prefix` stripped, JSON text) for each variable of the DATASEC whose name
    /// starts with `prefix` (all when None), as `bpftool -j prog show` prints metadata.
    pub fn dump_datasec_json(
        &self,
        datasec_id: u32,
        data: &[u8],
        prefix: Option<&str>,
    ) -> Result<Vec<(String, String)>> {
        self.dump_datasec(datasec_id, data, prefix, DumpOptions::default())
    }

    /// `dump_datasec_json` for a chosen output mode and bpftool release. Stops at the first
    /// variable bpftool could not print (bpftool stops there too).
    pub fn dump_datasec(
        &self,
        datasec_id: u32,
        data: &[u8],
        prefix: Option<&str>,
        opts: DumpOptions,
    ) -> Result<Vec<(String, String)>> {
        let sec = self.name_of(datasec_id).to_owned();
        let mut out = Vec::new();
        for (name, type_id, at, slice) in self.datasec_slices(datasec_id, data, prefix)? {
            let mut text = String::new();
            self.dump_labeled(type_id, slice, at, opts, sec.clone(), &mut text)?;
            out.push((name, text));
        }
        Ok(out)
    }

    fn dump_labeled(
        &self,
        type_id: u32,
        data: &[u8],
        at: usize,
        opts: DumpOptions,
        label: String,
        out: &mut String,
    ) -> Result<()> {
        let mut d = Dumper {
            btf: self,
            w: Writer {
                out,
                sep: false,
                version: opts.bpftool,
            },
            plain: opts.plain,
            cur: Cursor::new(label, data.len()),
        };
        d.do_type(type_id, 0, data, at, 0)
    }
}

impl Dumper<'_, '_> {
    /// btf_dumper_do_type. `bit_off` (0..8) is a non-bitfield member's sub-byte offset.
    fn do_type(&mut self, id: u32, bit_off: u8, data: &[u8], at: usize, depth: u32) -> Result<()> {
        if depth > MAX_NEST {
            return Err(Error::format(
                self.cur.label.clone(),
                at as u64,
                "values nest too deeply",
            ));
        }
        self.cur.spend(at)?;
        let btf = self.btf;
        let t = btf
            .type_by_id(id)
            .ok_or_else(|| Error::Invalid(format!("BTF has no type [{id}]")))?;
        match t {
            Type::Int {
                encoding,
                bit_offset,
                bits,
                ..
            } => self.int(*encoding, *bit_offset, *bits, bit_off, data, at),
            Type::Struct { members, .. } | Type::Union { members, .. } => {
                self.composite(members, data, at, depth)
            }
            Type::Array { elem, nelems, .. } => self.array(*elem, *nelems, data, at, depth),
            Type::Enum {
                size,
                values,
                is64: false,
                ..
            } => self.enum32(id, *size, values, data, at),
            Type::Enum {
                values, is64: true, ..
            } => {
                let v = le_u64(data).ok_or_else(|| self.cur.short(at, "an ENUM64"))?;
                match values.iter().find(|(_, x)| *x as u64 == v) {
                    Some((name, _)) => self.w.string(name),
                    None => self.w.raw(&(v as i64).to_string()),
                }
                Ok(())
            }
            Type::Ptr { .. } => {
                let v = le_u64(data).ok_or_else(|| self.cur.short(at, "a pointer"))?;
                let text = match (self.plain, v) {
                    (false, v) => v.to_string(),
                    // glibc's %p
                    (true, 0) => "(nil)".to_owned(),
                    (true, v) => format!("{v:#x}"),
                };
                if self.plain && self.w.version.at_least(7, 3) {
                    self.w.raw(&format!("\"{text}\""));
                } else {
                    self.w.raw(&text);
                }
                Ok(())
            }
            Type::Void => {
                self.w.raw("(unknown)");
                Ok(())
            }
            Type::Fwd { .. } => {
                self.w.raw("(fwd-kind-invalid)");
                Err(unsupported(id, "a forward declaration"))
            }
            Type::Typedef { .. }
            | Type::Volatile { .. }
            | Type::Const { .. }
            | Type::Restrict { .. } => {
                let target = self.resolve_type(id)?;
                self.do_type(target, bit_off, data, at, depth + 1)
            }
            Type::Var { name, type_id, .. } => {
                self.w.begin('{');
                self.w.name(name);
                let r = self.do_type(*type_id, bit_off, data, at, depth + 1);
                self.w.end('}');
                r
            }
            Type::Datasec { name, vars, .. } => {
                self.w.begin('{');
                self.w.name(name);
                self.w.begin('[');
                let mut r = Ok(());
                for v in vars {
                    let off = v.offset as usize;
                    r = match data.get(off..) {
                        Some(slice) => self.do_type(v.type_id, 0, slice, at + off, depth + 1),
                        None => Err(self.cur.short(at + off, "a DATASEC variable")),
                    };
                    if r.is_err() {
                        break;
                    }
                }
                self.w.end(']');
                self.w.end('}');
                r
            }
            Type::TypeTag { .. }
            | Type::Func { .. }
            | Type::FuncProto { .. }
            | Type::Float { .. }
            | Type::DeclTag { .. } => {
                let closed = self.w.version.at_least(7, 7);
                self.w.raw(if closed {
                    "(unsupported-kind)"
                } else {
                    "(unsupported-kind"
                });
                Err(unsupported(id, super::lookup::kind_name(t.kind())))
            }
        }
    }

    /// libbpf's btf__resolve_type: through typedefs, modifiers and VARs; void is an error.
    fn resolve_type(&self, mut id: u32) -> Result<u32> {
        for _ in 0..MAX_CHAIN {
            match self.btf.type_by_id(id) {
                None | Some(Type::Void) => break,
                Some(Type::Var { type_id, .. }) => id = *type_id,
                Some(t) => match t.modified(true) {
                    Some(next) => id = next,
                    None => return Ok(id),
                },
            }
        }
        Err(unsupported(
            id,
            "a modifier chain that does not end in a type",
        ))
    }

    /// btf_dumper_int: whole ints by width and sign, everything else as a hex bitfield.
    fn int(
        &mut self,
        encoding: u8,
        int_off: u8,
        bits: u8,
        bit_off: u8,
        data: &[u8],
        at: usize,
    ) -> Result<()> {
        if bit_off != 0 || int_off != 0 || bits % 8 != 0 {
            return self.int_bits(bits, int_off, bit_off, data, at);
        }
        if bits == 128 {
            let v = read_bits(data, 0, 128).ok_or_else(|| self.cur.short(at, "a 128-bit int"))?;
            self.hex(v);
            return Ok(());
        }
        let byte = || data.first().copied();
        let text = match (encoding, bits) {
            (0, 8 | 16 | 32 | 64) => read_bits(data, 0, bits.into()).map(|v| v.to_string()),
            (INT_SIGNED, 8 | 16 | 32 | 64) => read_bits(data, 0, bits.into())
                .map(|v| super::decode::sign_extend(v, bits.into()).to_string()),
            (0 | INT_SIGNED, _) => return self.int_bits(bits, int_off, bit_off, data, at),
            (INT_CHAR, _) => byte().map(|c| {
                if (0x20..=0x7e).contains(&c) {
                    format!("\"{}\"", char::from(c))
                } else if self.plain {
                    format!("{c:#x}")
                } else {
                    format!("\"\\u00{c:02x}\"")
                }
            }),
            (INT_BOOL, _) => byte().map(|b| if b != 0 { "true" } else { "false" }.to_owned()),
            _ => {
                return Err(Error::Invalid(format!(
                    "bpftool cannot print an INT with encoding {encoding:#x}"
                )))
            }
        };
        let text = text.ok_or_else(|| self.cur.short(at, format!("a {bits}-bit int")))?;
        self.w.raw(&text);
        Ok(())
    }

    /// btf_dumper_int_bits: the INT's own bit offset added to the member's.
    fn int_bits(
        &mut self,
        bits: u8,
        int_off: u8,
        bit_off: u8,
        data: &[u8],
        at: usize,
    ) -> Result<()> {
        let total = usize::from(bit_off) + usize::from(int_off);
        let slice = data
            .get(total / 8..)
            .ok_or_else(|| self.cur.short(at, "an int bitfield"))?;
        self.bitfield(u32::from(bits), (total % 8) as u32, slice, at + total / 8)
    }

    /// btf_dumper_bitfield: the bits, unsigned, in hex.
    fn bitfield(&mut self, nr_bits: u32, bit_off: u32, data: &[u8], at: usize) -> Result<()> {
        // bpftool copies into a 16-byte buffer; wider fields would overrun it.
        if bit_off + nr_bits > 128 {
            return Err(Error::Invalid(format!(
                "bpftool cannot print a {nr_bits}-bit bitfield"
            )));
        }
        let v = read_bits(data, bit_off as usize, nr_bits)
            .ok_or_else(|| self.cur.short(at, "a bitfield"))?;
        self.hex(v);
        Ok(())
    }

    /// btf_int128_print: plain text unquoted, JSON as a string.
    fn hex(&mut self, v: u128) {
        if self.plain {
            self.w.raw(&format!("{v:#x}"));
        } else {
            self.w.raw(&format!("\"{v:#x}\""));
        }
    }

    /// btf_dumper_enum: the value read signed by size, compared with each 32-bit
    /// enumerator sign-extended.
    fn enum32(
        &mut self,
        id: u32,
        size: u32,
        values: &[(String, i64)],
        data: &[u8],
        at: usize,
    ) -> Result<()> {
        if !matches!(size, 1 | 2 | 4 | 8) {
            return Err(Error::Invalid(format!(
                "bpftool cannot print ENUM type [{id}] of size {size}"
            )));
        }
        let raw = read_bits(data, 0, size * 8).ok_or_else(|| self.cur.short(at, "an ENUM"))?;
        let v = super::decode::sign_extend(raw, size * 8) as i64;
        match values.iter().find(|(_, x)| i64::from(*x as i32) == v) {
            Some((name, _)) => self.w.string(name),
            None => self.w.raw(&v.to_string()),
        }
        Ok(())
    }

    /// btf_dumper_array: a string when bpftool's test says so, else `[...]`.
    fn array(&mut self, elem: u32, nelems: u32, data: &[u8], at: usize, depth: u32) -> Result<()> {
        if self.btf.is_str_array(elem, nelems, data) {
            let s: Vec<u8> = data.iter().copied().take_while(|&b| b != 0).collect();
            self.w.string(&String::from_utf8_lossy(&s));
            return Ok(());
        }
        let esize = self.btf.size_of(elem)? as usize;
        self.w.begin('[');
        let mut r = Ok(());
        for i in 0..nelems as usize {
            let off = i.saturating_mul(esize);
            r = match data.get(off..) {
                Some(slice) => self.do_type(elem, 0, slice, at + off, depth + 1),
                None => Err(self.cur.short(at + off, "an array element")),
            };
            if r.is_err() {
                break;
            }
        }
        self.w.end(']');
        r
    }

    /// btf_dumper_struct: every member by name (anonymous ones as ""), bitfields in hex.
    fn composite(&mut self, members: &[Member], data: &[u8], at: usize, depth: u32) -> Result<()> {
        self.w.begin('{');
        let mut r = Ok(());
        for m in members {
            self.w.name(&m.name);
            let byte = (m.bit_offset / 8) as usize;
            let sub = (m.bit_offset % 8) as u8;
            r = match data.get(byte..) {
                None => Err(self.cur.short(at + byte, format!("member '{}'", m.name))),
                Some(slice) if m.bitfield_size != 0 => {
                    self.bitfield(m.bitfield_size, u32::from(sub), slice, at + byte)
                }
                Some(slice) => self.do_type(m.type_id, sub, slice, at + byte, depth + 1),
            };
            if r.is_err() {
                break;
            }
        }
        self.w.end('}');
        r
    }
}
