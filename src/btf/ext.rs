//! `.BTF.ext` bytes -> `BtfExt`: the per-section func_info, line_info and CO-RE
//! relocation blocks (the last present when the header is 32 bytes or longer).

use super::parse::{header_end, sub_range, u32_at};
use super::types::{Btf, BtfExt, CoreRelo, FuncInfo, LineInfo};
use crate::error::{Error, Result};

const SEC: &str = ".BTF.ext";
/// magic, version, flags, hdr_len, func_info_off/len, line_info_off/len.
const HDR_MIN: usize = 24;
const FUNC_INFO_MIN: u32 = 8;
const LINE_INFO_MIN: u32 = 16;
const CORE_RELO_MIN: u32 = 16;
/// The header that also has core_relo_off/len.
const HDR_CORE: usize = 32;

fn err(offset: usize, msg: impl Into<String>) -> Error {
    Error::format(SEC, offset as u64, msg)
}

impl BtfExt {
    /// Parses `.BTF.ext`; section names and string offsets are checked against `btf`.
    /// `insn_off` stays in bytes, as in the file.
    pub fn parse(data: &[u8], btf: &Btf) -> Result<BtfExt> {
        let hdr_end = header_end(data, SEC, HDR_MIN, "section")?;
        let flags = data.get(3).copied().unwrap_or_default();
        if flags != 0 {
            return Err(err(3, format!("unsupported BTF.ext flags {flags:#x}")));
        }
        let blocks = Blocks { data, hdr_end, btf };
        let func_info = blocks.parse(8, FUNC_INFO_MIN, "func_info", |rec, at| {
            let type_id = u32_at(rec, 4).unwrap_or_default();
            if btf.type_by_id(type_id).is_none() {
                return Err(err(
                    at,
                    format!("func_info refers to type [{type_id}], not in .BTF"),
                ));
            }
            Ok(FuncInfo {
                insn_off: u32_at(rec, 0).unwrap_or_default(),
                type_id,
            })
        })?;
        let line_info = blocks.parse(16, LINE_INFO_MIN, "line_info", |rec, at| {
            let w = |i: usize| u32_at(rec, 4 * i).unwrap_or_default();
            for off in [w(1), w(2)] {
                if usize::try_from(off).map_or(true, |o| o >= btf.strings.len()) {
                    return Err(err(
                        at,
                        format!("line_info string offset {off} is beyond the .BTF strings"),
                    ));
                }
            }
            Ok(LineInfo {
                insn_off: w(0),
                file_name_off: w(1),
                line_off: w(2),
                line_col: w(3),
            })
        })?;
        let core_relos = if hdr_end >= HDR_CORE {
            blocks.parse(24, CORE_RELO_MIN, "core_relo", |rec, at| {
                let w = |i: usize| u32_at(rec, 4 * i).unwrap_or_default();
                let type_id = w(1);
                if btf.type_by_id(type_id).is_none() {
                    return Err(err(
                        at,
                        format!("CO-RE record refers to type [{type_id}], not in .BTF"),
                    ));
                }
                let access = btf.name_at(w(2)).ok_or_else(|| {
                    err(
                        at,
                        format!(
                            "CO-RE record access string offset {} is not a .BTF string",
                            w(2)
                        ),
                    )
                })?;
                Ok(CoreRelo {
                    insn_off: w(0),
                    type_id,
                    access: access.to_owned(),
                    kind: w(3),
                })
            })?
        } else {
            Vec::new()
        };
        Ok(BtfExt {
            func_info,
            line_info,
            core_relos,
        })
    }
}

/// The info blocks of a `.BTF.ext` section whose header ends at `hdr_end`.
struct Blocks<'a> {
    data: &'a [u8],
    hdr_end: usize,
    btf: &'a Btf,
}

impl Blocks<'_> {
    /// The block whose offset and length stand at `header_at` in the header: a record
    /// size, then {sec_name_off, num_info, records} until its end. Records longer than
    /// `min_rec` (a newer format) are read by their known prefix.
    fn parse<T>(
        &self,
        header_at: usize,
        min_rec: u32,
        what: &str,
        read: impl Fn(&[u8], usize) -> Result<T>,
    ) -> Result<Vec<(String, Vec<T>)>> {
        let Blocks { data, hdr_end, btf } = *self;
        let off = u32_at(data, header_at).unwrap_or_default();
        let len = u32_at(data, header_at + 4).unwrap_or_default();
        let mut out = Vec::new();
        if len == 0 {
            return Ok(out);
        }
        let (start, end) = sub_range(data, hdr_end, off, len).ok_or_else(|| {
            err(
                8,
                format!(
                    "{what} (offset {off}, {len} bytes) runs past the end of the {}-byte section",
                    data.len()
                ),
            )
        })?;
        let rec_size = u32_at(data, start)
            .filter(|_| end - start >= 4)
            .ok_or_else(|| err(start, format!("{what} has no record size")))?;
        if rec_size < min_rec || rec_size % 4 != 0 {
            return Err(err(
                start,
                format!(
                    "{what} record size {rec_size} (needs a multiple of 4, at least {min_rec})"
                ),
            ));
        }
        let rec = rec_size as usize;
        let mut pos = start + 4;
        while pos < end {
            if end - pos < 8 {
                return Err(err(pos, format!("truncated {what} section header")));
            }
            let name_off = u32_at(data, pos).unwrap_or_default();
            let num = u32_at(data, pos + 4).unwrap_or_default();
            let recs_start = pos + 8;
            let recs_end = usize::try_from(num)
                .ok()
                .and_then(|n| n.checked_mul(rec))
                .and_then(|n| n.checked_add(recs_start))
                .filter(|&e| e <= end)
                .ok_or_else(|| {
                    err(
                        pos,
                        format!(
                            "{what} section with {num} records of {rec} bytes overruns the block"
                        ),
                    )
                })?;
            let name = btf.name_at(name_off).ok_or_else(|| {
                err(
                    pos,
                    format!("{what} section name offset {name_off} is not a .BTF string"),
                )
            })?;
            let mut records = Vec::new();
            let mut at = recs_start;
            while at < recs_end {
                let bytes = data.get(at..at + min_rec as usize).unwrap_or_default();
                records.push(read(bytes, at)?);
                at += rec;
            }
            out.push((name.to_owned(), records));
            pos = recs_end;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{ext_block, ext_bytes, RawBtf};
    use super::*;

    /// A BTF with a FUNC (id 3) and strings ".text", "socket", "a.c" and a source line.
    fn btf() -> (Btf, [u32; 4]) {
        let mut b = RawBtf::new();
        let int = b.int("int", 4, 1, 32);
        let proto = b.ty(
            "",
            super::super::types::kind::FUNC_PROTO,
            false,
            0,
            int,
            &[],
        );
        b.ty("f", super::super::types::kind::FUNC, false, 1, proto, &[]);
        let offs = [
            b.str(".text"),
            b.str("socket"),
            b.str("a.c"),
            b.str("return 0;"),
        ];
        (Btf::parse(&b.bytes()).unwrap(), offs)
    }

    fn format_err(r: Result<BtfExt>) -> (u64, String) {
        super::super::testutil::format_err(".BTF.ext", r)
    }

    #[test]
    fn parses_func_and_line_info() {
        let (btf, [text, socket, file, line]) = btf();
        let func = ext_block(
            8,
            &[
                (text, vec![vec![0, 3], vec![64, 3]]),
                (socket, vec![vec![0, 3]]),
            ],
        );
        let lines = ext_block(16, &[(socket, vec![vec![0, file, line, (7 << 10) | 2]])]);
        let ext = BtfExt::parse(&ext_bytes(&func, &lines), &btf).unwrap();
        assert_eq!(
            ext.func_info,
            vec![
                (
                    ".text".to_owned(),
                    vec![
                        FuncInfo {
                            insn_off: 0,
                            type_id: 3
                        },
                        FuncInfo {
                            insn_off: 64,
                            type_id: 3
                        }
                    ]
                ),
                (
                    "socket".to_owned(),
                    vec![FuncInfo {
                        insn_off: 0,
                        type_id: 3
                    }]
                ),
            ]
        );
        assert_eq!(
            ext.line_info,
            vec![(
                "socket".to_owned(),
                vec![LineInfo {
                    insn_off: 0,
                    file_name_off: file,
                    line_off: line,
                    line_col: (7 << 10) | 2
                }]
            )]
        );
    }

    #[test]
    fn a_24_byte_header_and_empty_blocks() {
        let (btf, [text, ..]) = btf();
        let func = ext_block(8, &[(text, vec![vec![8, 3]])]);
        let mut data = ext_bytes(&func, &[]);
        // Drop the core_relo fields: hdr_len 24, offsets relative to it.
        data.drain(24..32);
        data[4] = 24;
        let ext = BtfExt::parse(&data, &btf).unwrap();
        assert_eq!(
            ext.func_info,
            vec![(
                ".text".to_owned(),
                vec![FuncInfo {
                    insn_off: 8,
                    type_id: 3
                }]
            )]
        );
        assert!(ext.line_info.is_empty());
    }

    #[test]
    fn longer_records_are_read_by_their_prefix() {
        let (btf, [text, _, file, line]) = btf();
        let func = ext_block(12, &[(text, vec![vec![0, 3, 0xdead], vec![16, 3, 0xbeef]])]);
        let lines = ext_block(20, &[(text, vec![vec![8, file, line, 5, 0xffff_ffff]])]);
        let ext = BtfExt::parse(&ext_bytes(&func, &lines), &btf).unwrap();
        assert_eq!(
            ext.func_info[0].1[1],
            FuncInfo {
                insn_off: 16,
                type_id: 3
            }
        );
        assert_eq!(ext.line_info[0].1[0].line_col, 5);
    }

    #[test]
    fn bad_record_sizes() {
        let (btf, [text, ..]) = btf();
        for rec in [0, 4, 6, 10] {
            let func = ext_block(rec, &[(text, vec![vec![0, 3]])]);
            let (off, msg) = format_err(BtfExt::parse(&ext_bytes(&func, &[]), &btf));
            assert_eq!(off, 32);
            assert!(msg.contains("record size"), "{msg}");
        }
        let lines = ext_block(8, &[(text, vec![vec![0, 0]])]);
        format_err(BtfExt::parse(&ext_bytes(&[], &lines), &btf));
    }

    #[test]
    fn malformed_headers_and_blocks() {
        let (btf, [text, ..]) = btf();
        let good = ext_bytes(&ext_block(8, &[(text, vec![vec![0, 3]])]), &[]);
        for n in 0..24 {
            format_err(BtfExt::parse(&good[..n], &btf));
        }
        let mut d = good.clone();
        d[1] = 0;
        assert!(format_err(BtfExt::parse(&d, &btf)).1.contains("magic"));
        let mut d = good.clone();
        d[3] = 1;
        assert_eq!(format_err(BtfExt::parse(&d, &btf)).0, 3);
        let mut d = good.clone();
        d[4..8].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(format_err(BtfExt::parse(&d, &btf)).0, 4);
        // func_info_len beyond the data.
        let mut d = good.clone();
        d[12..16].copy_from_slice(&1000u32.to_le_bytes());
        assert!(format_err(BtfExt::parse(&d, &btf))
            .1
            .contains("past the end"));
        // num_info claiming more records than there are.
        let mut d = good.clone();
        d[32 + 8..32 + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(format_err(BtfExt::parse(&d, &btf)).0, 36);
        // A section name that is not a string of .BTF.
        let bad = ext_bytes(&ext_block(8, &[(9999, vec![vec![0, 3]])]), &[]);
        assert!(format_err(BtfExt::parse(&bad, &btf)).1.contains("9999"));
        // A record pointing at a type that does not exist.
        let bad = ext_bytes(&ext_block(8, &[(text, vec![vec![0, 77]])]), &[]);
        assert_eq!(format_err(BtfExt::parse(&bad, &btf)).0, 32 + 12);
        // Trailing bytes too short for a section header.
        let mut block = ext_block(8, &[(text, vec![vec![0, 3]])]);
        block.extend_from_slice(&[0; 4]);
        format_err(BtfExt::parse(&ext_bytes(&block, &[]), &btf));
    }

    #[test]
    fn mutations_never_panic() {
        let (btf, [text, socket, file, line]) = btf();
        let func = ext_block(8, &[(text, vec![vec![0, 3]]), (socket, vec![vec![8, 3]])]);
        let lines = ext_block(16, &[(socket, vec![vec![0, file, line, 9]])]);
        let good = ext_bytes(&func, &lines);
        for i in 0..good.len() {
            for x in [0x01, 0x80, 0xff] {
                let mut d = good.clone();
                d[i] ^= x;
                let _ = BtfExt::parse(&d, &btf);
            }
            let _ = BtfExt::parse(&good[..i], &btf);
        }
    }

    #[test]
    fn real_clang_output() {
        let btf = Btf::parse(include_bytes!("testdata/metadata.btf")).unwrap();
        let ext = BtfExt::parse(include_bytes!("testdata/metadata.btf.ext"), &btf).unwrap();
        assert_eq!(ext.func_info.len(), 1);
        let (sec, recs) = &ext.func_info[0];
        assert_eq!(sec, "socket");
        assert_eq!(recs.len(), 1);
        assert_eq!(btf.name_of(recs[0].type_id), "prog");
        assert_eq!(ext.line_info[0].0, "socket");
        let first = ext.line_info[0].1[0];
        assert!(btf.name_at(first.file_name_off).unwrap().ends_with(".c"));
        assert!(btf.name_at(first.line_off).unwrap().contains("prog"));
    }
}
