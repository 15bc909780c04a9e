//! Values as bpftool's btf_dumper prints them (compact json_writer output, as in `prog show`
//! metadata), byte for byte, including the quirks of the bpftool release being mimicked.

use super::decode::{
    le_u64, read_bits, value_label, Cursor, INT_BOOL, INT_CHAR, INT_SIGNED, MAX_NEST,
};
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

/// The rules a JSON string is written by: bpftool's json_writer of a release, for output
/// that must equal bpftool's; or `Strict`, valid JSON whatever the string holds, where
/// bpftool's would not be (its writer lets control characters through raw).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonRules {
    Bpftool(BpftoolVersion),
    Strict,
}

/// Appends `s` as a quoted JSON string the way the newest bpftool's json_writer does:
/// only `\t \n \r \f \b \\ "` are escaped, other control characters pass through, and
/// output stops at a NUL as the C string would.
pub fn json_escape_str(s: &str, out: &mut String) {
    json_escape(s, JsonRules::Bpftool(BpftoolVersion::LATEST), out)
}

/// `json_escape_str` as a given bpftool release writes it.
pub fn json_escape_str_for(s: &str, version: BpftoolVersion, out: &mut String) {
    json_escape(s, JsonRules::Bpftool(version), out)
}

/// The one JSON string writer. `Strict` escapes what bpftool's writer does (its fixed
/// form, 7.2 on) and, beyond, every other control character and DEL as `\u00XX`; it
/// keeps a NUL as `\u0000` rather than stopping there.
pub fn json_escape(s: &str, rules: JsonRules, out: &mut String) {
    let (fixed, strict) = match rules {
        JsonRules::Bpftool(v) => (v.at_least(7, 2), false),
        JsonRules::Strict => (true, true),
    };
    out.push('"');
    for c in s.chars() {
        match c {
            '\0' if !strict => break,
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x0c' => out.push_str("\\f"),
            '\x08' => out.push_str("\\b"),
            '\\' if fixed => out.push_str("\\\\"),
            '\\' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            '\'' if !fixed => out.push_str("\\'"),
            c if strict && (c < ' ' || c == '\x7f') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
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
        let label = value_label(self, type_id);
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
        for v in self.datasec_slices(datasec_id, data, prefix)? {
            let mut text = String::new();
            self.dump_labeled(v.type_id, v.data, v.at, opts, sec.clone(), &mut text)?;
            out.push((v.name, text));
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
                        Some(slice) => {
                            self.do_type(v.type_id, 0, slice, at.saturating_add(off), depth + 1)
                        }
                        None => Err(self.cur.short(at.saturating_add(off), "a DATASEC variable")),
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
        self.bitfield(
            u32::from(bits),
            (total % 8) as u32,
            slice,
            at.saturating_add(total / 8),
        )
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
                Some(slice) => self.do_type(elem, 0, slice, at.saturating_add(off), depth + 1),
                None => Err(self.cur.short(at.saturating_add(off), "an array element")),
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
                None => Err(self
                    .cur
                    .short(at.saturating_add(byte), format!("member '{}'", m.name))),
                Some(slice) if m.bitfield_size != 0 => self.bitfield(
                    m.bitfield_size,
                    u32::from(sub),
                    slice,
                    at.saturating_add(byte),
                ),
                Some(slice) => {
                    self.do_type(m.type_id, sub, slice, at.saturating_add(byte), depth + 1)
                }
            };
            if r.is_err() {
                break;
            }
        }
        self.w.end('}');
        r
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::values_btf;
    use super::*;

    const PLAIN: DumpOptions = DumpOptions {
        plain: true,
        bpftool: BpftoolVersion::LATEST,
    };
    const OLD_JSON: DumpOptions = DumpOptions {
        plain: false,
        bpftool: BpftoolVersion::V7_1,
    };
    const OLD_PLAIN: DumpOptions = DumpOptions {
        plain: true,
        bpftool: BpftoolVersion::V7_1,
    };

    fn json(b: &Btf, id: u32, data: &[u8]) -> String {
        let mut s = String::new();
        b.dump_json(id, data, &mut s).unwrap();
        s
    }

    fn with(b: &Btf, id: u32, data: &[u8], opts: DumpOptions) -> String {
        let mut s = String::new();
        b.dump_value(id, data, opts, &mut s).unwrap();
        s
    }

    /// The text written before the error, and that there was one.
    fn failing(b: &Btf, id: u32, data: &[u8], opts: DumpOptions) -> String {
        let mut s = String::new();
        assert!(b.dump_value(id, data, opts, &mut s).is_err(), "{s}");
        s
    }

    #[test]
    fn ints_by_width_and_sign() {
        let b = values_btf();
        assert_eq!(json(&b, 1, &(-5i32).to_le_bytes()), "-5");
        assert_eq!(json(&b, 2, &[0xff; 4]), "4294967295");
        assert_eq!(json(&b, 3, &[0xff]), "-1");
        assert_eq!(json(&b, 3, b"a"), "97");
        assert_eq!(json(&b, 4, &[0xff]), "255");
        assert_eq!(json(&b, 5, &[0x80]), "-128");
        assert_eq!(json(&b, 6, &(-2i16).to_le_bytes()), "-2");
        assert_eq!(json(&b, 7, &[0xff, 0xff]), "65535");
        assert_eq!(json(&b, 8, &i64::MIN.to_le_bytes()), "-9223372036854775808");
        assert_eq!(json(&b, 9, &u64::MAX.to_le_bytes()), "18446744073709551615");
        assert_eq!(json(&b, 38, &[1, 0, 0, 0]), "1");
        assert_eq!(json(&b, 39, &[1, 0, 0, 0]), "1");
    }

    #[test]
    fn wide_and_odd_ints_print_in_hex() {
        let b = values_btf();
        assert_eq!(
            json(&b, 10, &(-5i128).to_le_bytes()),
            "\"0xfffffffffffffffffffffffffffffffb\""
        );
        assert_eq!(
            with(&b, 10, &(-5i128).to_le_bytes(), PLAIN),
            "0xfffffffffffffffffffffffffffffffb"
        );
        assert_eq!(json(&b, 11, &5u128.to_le_bytes()), "\"0x5\"");
        assert_eq!(
            json(&b, 11, &(1u128 << 64).to_le_bytes()),
            "\"0x10000000000000000\""
        );
        assert_eq!(json(&b, 11, &0u128.to_le_bytes()), "\"0x0\"");
        assert_eq!(json(&b, 30, &[1, 2, 3, 0xff]), "\"0x30201\"");
        assert_eq!(with(&b, 30, &[1, 2, 3, 0xff], PLAIN), "0x30201");
    }

    #[test]
    fn bool_and_lone_chars() {
        let b = values_btf();
        assert_eq!(json(&b, 12, &[1]), "true");
        assert_eq!(json(&b, 12, &[0]), "false");
        // A char-encoded INT: printable as a one-letter string, else by code.
        assert_eq!(json(&b, 13, b"a"), "\"a\"");
        assert_eq!(json(&b, 13, &[1]), "\"\\u0001\"");
        assert_eq!(json(&b, 13, &[0xff]), "\"\\u00ff\"");
        assert_eq!(with(&b, 13, &[1], PLAIN), "0x1");
        assert_eq!(with(&b, 13, &[0xff], PLAIN), "0xff");
        assert_eq!(with(&b, 13, &[0], PLAIN), "0x0");
        // bpftool does not escape it: a lone '"' makes broken JSON, faithfully.
        assert_eq!(json(&b, 13, b"\""), "\"\"\"");
    }

    #[test]
    fn strings_and_arrays() {
        let b = values_btf();
        assert_eq!(json(&b, 16, b"foo\0\0\0"), "\"foo\"");
        assert_eq!(json(&b, 16, b"fo\x01\0\0\0"), "[102,111,1,0,0,0]");
        assert_eq!(json(&b, 16, b"abcdef"), "[97,98,99,100,101,102]");
        assert_eq!(json(&b, 16, b"\xff\0\0\0\0\0"), "[-1,0,0,0,0,0]");
        assert_eq!(json(&b, 17, b"foo\0\0\0"), "[102,111,111,0,0,0]");
        assert_eq!(json(&b, 18, b"foo\0\0\0"), "[102,111,111,0,0,0]");
        assert_eq!(json(&b, 19, b"foo\0\0\0"), "[102,111,111,0,0,0]");
        assert_eq!(json(&b, 20, b"foo\0\0\0"), "\"foo\"");
        assert_eq!(json(&b, 21, b"foo\0\0\0"), "\"foo\"");
        assert_eq!(json(&b, 16, b"a\"b\\\0\0"), r#""a\"b\\""#);
        let data: Vec<u8> = [-1i64, 2, 3, 4]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(json(&b, 35, &data), "[[-1,2],[3,4]]");
    }

    #[test]
    fn enums_with_bpftool_comparisons() {
        let b = values_btf();
        assert_eq!(json(&b, 22, &0i32.to_le_bytes()), "\"A\"");
        assert_eq!(json(&b, 22, &(-1i32).to_le_bytes()), "\"B\"");
        assert_eq!(json(&b, 22, &7i32.to_le_bytes()), "7");
        // bpftool reads a 1-byte enum as signed: 200 reads as -56 and matches nothing.
        assert_eq!(json(&b, 23, &[200]), "-56");
        assert_eq!(json(&b, 23, &[5]), "5");
        assert_eq!(json(&b, 46, &[0xff]), "\"M\"");
        assert_eq!(json(&b, 47, &[0xff; 4]), "\"Big\"");
        assert_eq!(json(&b, 47, &[0xfe, 0xff, 0xff, 0xff]), "-2");
        assert_eq!(json(&b, 24, &u64::MAX.to_le_bytes()), "\"Y\"");
        assert_eq!(json(&b, 24, &0x12_3456_789au64.to_le_bytes()), "\"X\"");
        assert_eq!(json(&b, 24, &(u64::MAX - 1).to_le_bytes()), "-2");
    }

    #[test]
    fn structs_unions_and_bitfields() {
        let b = values_btf();
        let data = [0x3f, 0, 0, 0, b'h', b'i', 0, 0, 65, 0, 0, 0];
        assert_eq!(
            json(&b, 25, &data),
            r#"{"a":"0x7","b":"0x7","c":"hi","":{"u":65,"v":"A"}}"#
        );
        assert_eq!(
            with(&b, 25, &data, PLAIN),
            r#"{"a":0x7,"b":0x7,"c":"hi","":{"u":65,"v":"A"}}"#
        );
        assert_eq!(
            json(&b, 29, &[0x17, 0, 0xfe, 0xff]),
            r#"{"x":"0x7","y":"0x2","z":-2}"#
        );
        assert_eq!(json(&b, 43, &[0b111]), r#"{"e":"0x3","f":"0x1"}"#);
    }

    #[test]
    fn pointers() {
        let b = values_btf();
        let p = 0x1234u64.to_le_bytes();
        assert_eq!(json(&b, 33, &p), "4660");
        assert_eq!(with(&b, 33, &p, PLAIN), "\"0x1234\"");
        assert_eq!(with(&b, 33, &[0; 8], PLAIN), "\"(nil)\"");
        assert_eq!(with(&b, 33, &p, OLD_PLAIN), "0x1234");
        assert_eq!(with(&b, 33, &[0; 8], OLD_PLAIN), "(nil)");
        assert_eq!(with(&b, 33, &p, OLD_JSON), "4660");
    }

    #[test]
    fn vars_datasecs_and_what_bpftool_cannot_print() {
        let b = values_btf();
        let data = [7, 0, 0, 0, b'h', b'i', 0, 0];
        assert_eq!(json(&b, 40, &data), r#"{"v":7}"#);
        assert_eq!(json(&b, 41, &data), r#"{".rodata":[{"v":7},{"w":"hi"}]}"#);
        assert_eq!(json(&b, 0, &data), "(unknown)");
        assert_eq!(
            failing(&b, 31, &data, DumpOptions::default()),
            "(unsupported-kind)"
        );
        assert_eq!(failing(&b, 31, &data, OLD_JSON), "(unsupported-kind");
        assert_eq!(
            failing(&b, 44, &data, DumpOptions::default()),
            "(unsupported-kind)"
        );
        assert_eq!(
            failing(&b, 36, &data, DumpOptions::default()),
            "(unsupported-kind)"
        );
        assert_eq!(
            failing(&b, 37, &data, DumpOptions::default()),
            "(fwd-kind-invalid)"
        );
        assert_eq!(failing(&b, 48, &data, DumpOptions::default()), "");
        assert_eq!(
            failing(&b, 49, &data, DumpOptions::default()),
            r#"{"i":7,"f":(unsupported-kind)}"#
        );
        assert_eq!(failing(&b, 1, &[1, 2], DumpOptions::default()), "");
    }

    #[test]
    fn datasec_dump_with_prefix() {
        let b = values_btf();
        let data = [7, 0, 0, 0, b'h', b'i', 0, 0];
        assert_eq!(
            b.dump_datasec_json(41, &data, None).unwrap(),
            vec![
                ("v".to_owned(), "7".to_owned()),
                ("w".to_owned(), "\"hi\"".to_owned())
            ]
        );
        assert_eq!(
            b.dump_datasec_json(41, &data, Some("v")).unwrap(),
            vec![("".to_owned(), "7".to_owned())]
        );
        assert!(b.dump_datasec_json(41, &data[..2], None).is_err());
        assert!(b.dump_datasec_json(40, &data, None).is_err());
    }

    #[test]
    fn escaping_by_release() {
        let s = "a\"b\\c'\t\n\r\x0c\x08\x01é";
        let mut new = String::new();
        json_escape_str(s, &mut new);
        assert_eq!(new, "\"a\\\"b\\\\c'\\t\\n\\r\\f\\b\x01é\"");
        let mut old = String::new();
        json_escape_str_for(s, BpftoolVersion::V7_1, &mut old);
        assert_eq!(old, "\"a\\\"b\\nc\\'\\t\\n\\r\\f\\b\x01é\"");
        let mut cut = String::new();
        json_escape_str("ab\0cd", &mut cut);
        assert_eq!(cut, "\"ab\"");
        // Strict: valid JSON, the fixed writer's escapes and every other control.
        let mut strict = String::new();
        json_escape(s, JsonRules::Strict, &mut strict);
        assert_eq!(strict, "\"a\\\"b\\\\c'\\t\\n\\r\\f\\b\\u0001é\"");
        strict.clear();
        json_escape("a\0b\x7f", JsonRules::Strict, &mut strict);
        assert_eq!(strict, "\"a\\u0000b\\u007f\"");
        let v = |major, minor| BpftoolVersion { major, minor };
        assert!(v(7, 2).at_least(7, 2) && v(8, 0).at_least(7, 7) && !v(7, 1).at_least(7, 2));
    }

    /// Sizes and symbol values of the clang-built objects in testdata/ (llvm-readelf -S/-s).
    fn fixed(btf: &[u8], sections: &[(&str, u32)], symbols: &[(&str, u32)]) -> Btf {
        let mut b = Btf::parse(btf).unwrap();
        b.fixup_datasecs(
            &|sec| sections.iter().find(|s| s.0 == sec).map(|s| s.1),
            &|_, var| symbols.iter().find(|s| s.0 == var).map(|s| s.1),
        )
        .unwrap();
        b
    }

    fn metadata_object() -> Btf {
        let syms = [
            ("bpf_metadata_a", 0x0),
            ("bpf_metadata_b", 0x4),
            ("bpf_metadata_uc", 0x8),
            ("bpf_metadata_sc", 0xc),
            ("bpf_metadata_bo", 0x10),
            ("bpf_metadata_col", 0x14),
            ("bpf_metadata_big", 0x18),
            ("bpf_metadata_st", 0x20),
            ("bpf_metadata_ll", 0x28),
            ("bpf_metadata_np", 0x48),
            ("bpf_metadata_c", 0x4c),
            ("bpf_metadata_i128", 0x50),
            ("bpf_metadata_us", 0x60),
            ("bpf_metadata_stat", 0x64),
            ("bpf_metadata_p", 0),
            ("gdata", 0),
            ("ccc", 0),
            ("LICENSE", 0),
        ];
        let secs = [
            (".rodata", 0x68),
            (".bss", 8),
            (".data", 4),
            (".metadata", 4),
            ("license", 4),
        ];
        fixed(include_bytes!("testdata/metadata.btf"), &secs, &syms)
    }

    /// `bpftool prog show` (Debian's 7.1.0) of testdata/metadata.bpf.c loaded on 6.18.
    #[test]
    fn matches_bpftool_on_clang_output() {
        let btf = metadata_object();
        let rodata = include_bytes!("testdata/metadata.rodata");
        let sec = btf.find(".rodata", crate::btf::kind::DATASEC).unwrap();
        let expect_json = r#"{"a":"foo","b":1,"uc":[98,97,114,0],"sc":[98,97,122,0],"bo":true,"col":"GREEN","big":78187493530,"st":{"a":"0x7","b":"0x7","c":120,"inner":{"x":-2},"":{"u":65,"v":"A"}},"ll":[[-1,2],[3,4]],"np":[1,2,0,0],"c":97,"i128":"0xfffffffffffffffffffffffffffffffb","us":65535,"stat":7}"#;
        let expect_plain = "
		a = \"foo\"
		b = 1
		uc = [98,97,114,0]
		sc = [98,97,122,0]
		bo = true
		col = \"GREEN\"
		big = 78187493530
		st = {\"a\":0x7,\"b\":0x7,\"c\":120,\"inner\":{\"x\":-2},\"\":{\"u\":65,\"v\":\"A\"}}
		ll = [[-1,2],[3,4]]
		np = [1,2,0,0]
		c = 97
		i128 = 0xfffffffffffffffffffffffffffffffb
		us = 65535
		stat = 7";
        for version in [BpftoolVersion::V7_1, BpftoolVersion::LATEST] {
            let opts = DumpOptions {
                plain: false,
                bpftool: version,
            };
            let vars = btf
                .dump_datasec(sec, rodata, Some("bpf_metadata_"), opts)
                .unwrap();
            let mut got = String::from("{");
            for (i, (name, text)) in vars.iter().enumerate() {
                if i > 0 {
                    got.push(',');
                }
                json_escape_str_for(name, version, &mut got);
                got.push(':');
                got.push_str(text);
            }
            got.push('}');
            assert_eq!(got, expect_json);

            let opts = DumpOptions {
                plain: true,
                bpftool: version,
            };
            let vars = btf
                .dump_datasec(sec, rodata, Some("bpf_metadata_"), opts)
                .unwrap();
            let got: String = vars
                .iter()
                .map(|(n, t)| format!("\n\t\t{n} = {t}"))
                .collect();
            assert_eq!(got, expect_plain);
        }
        assert_eq!(
            btf.dump_datasec_json(sec, rodata, Some("bpf_metadata_"))
                .unwrap()
                .len(),
            14
        );
    }

    #[test]
    fn decodes_clang_output() {
        use crate::btf::Value;
        let btf = metadata_object();
        let rodata = include_bytes!("testdata/metadata.rodata");
        let sec = btf.find(".rodata", crate::btf::kind::DATASEC).unwrap();
        let vals = btf
            .decode_datasec(sec, rodata, Some("bpf_metadata_"))
            .unwrap();
        let get = |n: &str| vals.iter().find(|v| v.0 == n).unwrap().1.clone();
        let ints = |v: &[i128]| Value::Array(v.iter().map(|&i| Value::Int(i)).collect());
        assert_eq!(get("a"), Value::Str("foo".into()));
        assert_eq!(get("b"), Value::Int(1));
        assert_eq!(get("uc"), ints(&[98, 97, 114, 0]));
        assert_eq!(get("bo"), Value::Bool(true));
        assert_eq!(
            get("col"),
            Value::Enum {
                name: Some("GREEN".into()),
                value: 5
            }
        );
        // clang 14 has no ENUM64: it wrote a 32-bit enumerator, which the value does not match.
        assert_eq!(
            get("big"),
            Value::Enum {
                name: None,
                value: 0x12_3456_789a
            }
        );
        assert_eq!(
            get("st"),
            Value::Struct(vec![
                ("a".into(), Value::Int(-1)),
                ("b".into(), Value::Int(7)),
                ("c".into(), Value::Int(120)),
                (
                    "inner".into(),
                    Value::Struct(vec![("x".into(), Value::Int(-2))])
                ),
                (
                    "".into(),
                    Value::Struct(vec![
                        ("u".into(), Value::Int(65)),
                        ("v".into(), Value::Str("A".into()))
                    ])
                ),
            ])
        );
        assert_eq!(get("ll"), Value::Array(vec![ints(&[-1, 2]), ints(&[3, 4])]));
        assert_eq!(get("i128"), Value::Int(-5));
        assert_eq!(get("us"), Value::Int(65535));
        assert_eq!(get("stat"), Value::Int(7));
        assert_eq!(vals.len(), 14);
    }

    /// testdata/quirks.bpf.c as bpftool 7.1.0 printed it: `\` as `\n`, bare pointers, and
    /// a float it cannot print (it stops there).
    #[test]
    fn matches_bpftool_quirks() {
        let syms = [
            ("bpf_metadata_p", 0),
            ("bpf_metadata_n", 8),
            ("bpf_metadata_q", 0x10),
            ("bpf_metadata_f", 0x18),
            ("bpf_metadata_after", 0x1c),
            ("LICENSE", 0),
        ];
        let btf = fixed(
            include_bytes!("testdata/quirks.btf"),
            &[(".rodata", 0x20), ("license", 4)],
            &syms,
        );
        let rodata = include_bytes!("testdata/quirks.rodata");
        let sec = btf.find(".rodata", crate::btf::kind::DATASEC).unwrap();
        let dump = |opts: DumpOptions| -> Vec<String> {
            let mut out = Vec::new();
            for (name, ty, off, _) in btf.datasec_vars(sec).unwrap() {
                let mut s = String::new();
                let r = btf.dump_value(ty, &rodata[off as usize..], opts, &mut s);
                out.push(format!("{} = {s}", &name["bpf_metadata_".len()..]));
                if r.is_err() {
                    break;
                }
            }
            out
        };
        assert_eq!(
            dump(OLD_PLAIN),
            [
                "p = 0x1234",
                "n = (nil)",
                r#"q = "a\"b\nc""#,
                "f = (unsupported-kind"
            ]
        );
        assert_eq!(
            dump(OLD_JSON),
            [
                "p = 4660",
                "n = 0",
                r#"q = "a\"b\nc""#,
                "f = (unsupported-kind"
            ]
        );
        assert_eq!(
            dump(PLAIN),
            [
                r#"p = "0x1234""#,
                r#"n = "(nil)""#,
                r#"q = "a\"b\\c""#,
                "f = (unsupported-kind)"
            ]
        );
        assert!(btf
            .dump_datasec_json(sec, rodata, Some("bpf_metadata_"))
            .is_err());
        assert_eq!(
            btf.dump_datasec_json(sec, rodata, Some("bpf_metadata_q"))
                .unwrap(),
            [("".to_owned(), r#""a\"b\\c""#.to_owned())]
        );
    }
}
