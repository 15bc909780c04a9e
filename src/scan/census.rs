//! The map census: one pass over every map on the host through a BPF map iterator, so a
//! scan learns which maps could hold metadata without opening each of them.
//!
//! A scan by fds alone opens every map of every program (GET_FD_BY_ID, OBJ_GET_INFO,
//! close) to learn its shape, and reads /proc fdinfo to learn whether a metadata map is
//! frozen. Kernels with BPF iterators (5.8+) and BTF can instead run a ten-line program
//! over all maps that writes, per map, its id and, for single-entry ARRAYs with a BTF
//! value (the only shape a metadata map has), the few fields a scan needs, `frozen`
//! included, and the value of a frozen one. The scan then opens no map at all. Everything
//! here is best effort: when the census cannot be taken the scan opens maps as before.
//!
//! Why a census entry can be trusted for a later map id: the kernel hands out map ids
//! cyclically (idr_alloc_cyclic, 1 to 2^31-1), so a map created after the census gets an
//! id above every id the census saw, and is classified by fd; a live program holds its
//! maps, so one of its map ids the census saw is the map the census saw. Only a wrap of
//! the whole id space could give an old id to a new map: a scan retakes its census when
//! it is older than MAX_AGE, so that a wrap would take more than two billion map
//! creations within that time.

use std::sync::OnceLock;

use super::iter::{self, word, FUNC_PROBE_READ_KERNEL, FUNC_SEQ_WRITE};
use crate::btf::{kind, BtfIndex};
use crate::error::{Error, Result};
use crate::sys;
use crate::sys::insn::*;

/// How long a scan uses one census before it takes another (a slow consumer of a stream
/// would otherwise see ever more maps classified by fd, and lean ever longer on ids not
/// wrapping).
pub const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(5);

/// Values kept at most; later candidates are read by fd.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// Candidates kept at most (44 bytes each: 1.4 MiB). Maps past the census's end are
/// classified by fd, so a host with more metadata maps than this costs time, not memory.
pub const MAX_CANDIDATES: usize = 1 << 15;

/// A map the census found shaped like metadata, with a name that may be one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: u32,
    pub btf_id: u32,
    pub btf_value_type_id: u32,
    pub value_size: u32,
    /// Frozen when the census saw it: a frozen map stays frozen.
    pub frozen: bool,
    name: [u8; 16],
    /// Where the value read by the census lies in `Census::values`: only for a map that
    /// was frozen before it was read, whose value the scan may then take as final.
    value: Option<(u32, u32)>,
}

impl Candidate {
    pub fn name(&self) -> &str {
        sys::info::name_str(&self.name)
    }
}

/// What the census says of one map id.
pub enum Seen<'a> {
    /// The census cannot tell (taken before the map existed, or cut short).
    Unknown,
    /// Not a metadata map: wrong shape, no BTF, or a name neither convention uses.
    NotMetadata,
    Candidate(&'a Candidate),
}

#[derive(Debug, Default)]
pub struct Census {
    /// Sorted by id.
    candidates: Vec<Candidate>,
    /// The values of frozen candidates, one after another (at most MAX_VALUE_BYTES).
    values: Vec<u8>,
    /// Every map with an id up to this one was seen.
    covered_to: u32,
    /// The census program's own id, which a scan must not report.
    pub prog_id: u32,
    /// When the census was taken (before its program ran).
    pub taken: Option<std::time::Instant>,
}

impl Census {
    pub fn classify(&self, map_id: u32) -> Seen<'_> {
        if map_id > self.covered_to {
            return Seen::Unknown;
        }
        match self.candidates.binary_search_by_key(&map_id, |c| c.id) {
            Ok(i) => Seen::Candidate(&self.candidates[i]),
            Err(_) => Seen::NotMetadata,
        }
    }

    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// The value the census read of a frozen candidate, if it read one.
    pub fn value(&self, c: &Candidate) -> Option<&[u8]> {
        let (off, len) = c.value?;
        self.values
            .get(off as usize..(off as usize).checked_add(len as usize)?)
    }

    pub fn covered_to(&self) -> u32 {
        self.covered_to
    }
}

/// Where the program reads: struct bpf_map's fields and struct btf's id, from the
/// kernel's own BTF, plus the iterator's attach point.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    attach_btf_id: u32,
    map_type: i16,
    key_size: i16,
    value_size: i16,
    max_entries: i16,
    id: i16,
    btf_value_type_id: i16,
    btf: i16,
    name: i16,
    frozen: i16,
    btf_obj_id: i16,
    /// `struct bpf_array`'s `value`, from the start of its `struct bpf_map` (offset 0).
    array_value: i16,
}

pub(crate) fn layout_from(data: &[u8]) -> Result<Layout> {
    let idx = BtfIndex::new(data)?;
    let missing = |what: &str| Error::Invalid(format!("the kernel's BTF has no {what}"));
    let attach_btf_id = idx
        .find("bpf_iter_bpf_map", kind::FUNC)
        .ok_or_else(|| missing("bpf_iter_bpf_map (no map iterator)"))?;
    let map = idx
        .find("bpf_map", kind::STRUCT)
        .ok_or_else(|| missing("struct bpf_map"))?;
    let btf = idx
        .find("btf", kind::STRUCT)
        .ok_or_else(|| missing("struct btf"))?;
    let array = idx
        .find("bpf_array", kind::STRUCT)
        .ok_or_else(|| missing("struct bpf_array"))?;
    // Each field with the size and kind the program's loads assume.
    let field = |s: u32, name: &str, size: u32, kinds: &[u32]| -> Result<i16> {
        iter::field_offset(&idx, s, name, size, kinds)
            .ok_or_else(|| missing(&format!("usable field '{name}'")))
    };
    let u32_ = |s, name| field(s, name, 4, &[kind::INT, kind::ENUM]);
    Ok(Layout {
        attach_btf_id,
        map_type: u32_(map, "map_type")?,
        key_size: u32_(map, "key_size")?,
        value_size: u32_(map, "value_size")?,
        max_entries: u32_(map, "max_entries")?,
        id: u32_(map, "id")?,
        btf_value_type_id: u32_(map, "btf_value_type_id")?,
        btf: field(map, "btf", 8, &[kind::PTR])?,
        name: field(map, "name", 16, &[kind::ARRAY])?,
        frozen: field(map, "frozen", 1, &[kind::INT])?,
        btf_obj_id: u32_(btf, "id")?,
        array_value: {
            // An ARRAY map is the `map` member at the start of its struct bpf_array.
            idx.member(array, "map")
                .filter(|m| m.offset == 0 && m.kind == kind::STRUCT)
                .ok_or_else(|| missing("struct bpf_array starting with its map"))?;
            field(array, "value", 0, &[kind::ARRAY])?
        },
    })
}

/// The layout of the running kernel, found once per process (its BTF does not change).
fn layout() -> Result<Layout> {
    static LAYOUT: OnceLock<Result<Layout>> = OnceLock::new();
    iter::kernel_layout(&LAYOUT, layout_from)
}

const MAP_TYPE_ARRAY: i32 = sys::BPF_MAP_TYPE_ARRAY as i32;

/// Bytes the program writes for a map that cannot be metadata: id, 0.
const SHORT: usize = 8;
/// For a candidate: id, 1, btf_value_type_id, value_size, frozen, btf id, name[16]; with
/// kind 2 instead of 1, the value's `value_size` bytes follow.
const LONG: usize = 40;
/// The largest value the census reads (metadata is a few strings and numbers; a larger
/// map is read by fd).
const VALUE_MAX: usize = 256;
/// The record's place on the program's stack: fp-296 .. fp.
const REC: i16 = -((LONG + VALUE_MAX) as i16);

/// The iterator program. Per map it writes a record from the stack at REC with
/// bpf_seq_write: SHORT bytes, LONG bytes, or LONG bytes and the value.
pub(crate) fn program(l: &Layout) -> Vec<u64> {
    // Jump targets are filled in below, once the labels' positions are known.
    const TO_WRITE: i16 = i16::MAX;
    const TO_EXIT: i16 = i16::MIN;
    let at = |off: i16| REC + off;
    let mut p = vec![
        insn(LDX_DW, 6, 1, 0, 0),      // r6 = ctx->meta
        insn(LDX_DW, 7, 1, 8, 0),      // r7 = ctx->map
        insn(JEQ_K, 7, 0, TO_EXIT, 0), // the last call has no map
        insn(LDX_W, 2, 7, l.id, 0),
        insn(STX_W, 10, 2, at(0), 0),
        insn(ST_W, 10, 0, at(4), 0),
        insn(MOV_K, 3, 0, 0, SHORT as i32),
        insn(LDX_W, 2, 7, l.map_type, 0),
        insn(JNE_K, 2, 0, TO_WRITE, MAP_TYPE_ARRAY),
        insn(LDX_W, 2, 7, l.key_size, 0),
        insn(JNE_K, 2, 0, TO_WRITE, 4),
        insn(LDX_W, 2, 7, l.max_entries, 0),
        insn(JNE_K, 2, 0, TO_WRITE, 1),
        insn(LDX_W, 2, 7, l.btf_value_type_id, 0),
        insn(JEQ_K, 2, 0, TO_WRITE, 0),
        insn(STX_W, 10, 2, at(8), 0),
        insn(ST_W, 10, 0, at(4), 1),
        insn(LDX_W, 8, 7, l.value_size, 0), // r8 = value_size, kept across the call
        insn(STX_W, 10, 8, at(12), 0),
        insn(LDX_B, 9, 7, l.frozen, 0), // r9 = frozen, read before the value
        insn(STX_W, 10, 9, at(16), 0),
        insn(MOV_K, 4, 0, 0, 0),
        insn(LDX_DW, 2, 7, l.btf, 0),
        insn(JEQ_K, 2, 0, 1, 0),
        insn(LDX_W, 4, 2, l.btf_obj_id, 0),
        insn(STX_W, 10, 4, at(20), 0),
        insn(LDX_DW, 2, 7, l.name, 0),
        insn(STX_DW, 10, 2, at(24), 0),
        insn(LDX_DW, 2, 7, l.name + 8, 0),
        insn(STX_DW, 10, 2, at(32), 0),
        insn(MOV_K, 3, 0, 0, LONG as i32),
        // The value, of a frozen map only, 1..=VALUE_MAX bytes.
        insn(JEQ_K, 9, 0, TO_WRITE, 0),
        insn(JEQ_K, 8, 0, TO_WRITE, 0),
        insn(JGT_K, 8, 0, TO_WRITE, VALUE_MAX as i32),
        insn(MOV_X, 1, 10, 0, 0),
        insn(ADD_K, 1, 0, 0, i32::from(at(LONG as i16))),
        insn(MOV_X, 2, 8, 0, 0),
        insn(MOV_X, 3, 7, 0, 0),
        insn(ADD_K, 3, 0, 0, i32::from(l.array_value)),
        insn(CALL, 0, 0, 0, FUNC_PROBE_READ_KERNEL),
        insn(MOV_K, 3, 0, 0, LONG as i32),
        insn(JNE_K, 0, 0, TO_WRITE, 0),
        insn(ST_W, 10, 0, at(4), 2),
        insn(MOV_X, 3, 8, 0, 0),
        insn(ADD_K, 3, 0, 0, LONG as i32),
    ];
    let write = p.len();
    p.extend([
        insn(LDX_DW, 1, 6, 0, 0), // r1 = meta->seq
        insn(MOV_X, 2, 10, 0, 0),
        insn(ADD_K, 2, 0, 0, i32::from(REC)),
        insn(CALL, 0, 0, 0, FUNC_SEQ_WRITE),
    ]);
    let exit = p.len();
    p.extend(RET0);
    iter::resolve_jumps(&mut p, &[(TO_WRITE, write), (TO_EXIT, exit)]);
    p
}

/// Whether a map named `name` could be metadata under either convention: bpftool's
/// ".rodata" rule, or a `.metadata` section map (whose 15-byte name libbpf cuts to
/// "<object prefix>.metada..." at most).
pub fn name_may_be_metadata(name: &str) -> bool {
    name.contains(".rodata") || name.contains(".metada")
}

/// Parses whole records from `buf` into `out`; returns the bytes used (a record cut by
/// the end of `buf` waits for the next read). Err when the census is full.
pub(crate) fn parse_into(out: &mut Census, mut buf: &[u8]) -> Result<usize> {
    let start = buf.len();
    while buf.len() >= SHORT {
        let id = word(buf, 0);
        let len = match word(buf, 4) {
            0 => SHORT,
            1 => LONG,
            2 if buf.len() >= LONG => match word(buf, 12) as usize {
                n @ 1..=VALUE_MAX => LONG + n,
                n => return Err(Error::Invalid(format!("census: value of {n} bytes"))),
            },
            2 => LONG,
            k => return Err(Error::Invalid(format!("census: record kind {k}"))),
        };
        let Some(rec) = buf.get(..len) else {
            break;
        };
        if len >= LONG {
            let mut name = [0u8; 16];
            name.copy_from_slice(&rec[24..40]);
            if name_may_be_metadata(sys::info::name_str(&name)) {
                if out.candidates.len() >= MAX_CANDIDATES {
                    return Err(Error::Invalid("census full".into()));
                }
                let bytes = &rec[LONG..];
                let value = (!bytes.is_empty()
                    && out.values.len() + bytes.len() <= MAX_VALUE_BYTES)
                    .then(|| {
                        out.values.extend_from_slice(bytes);
                        ((out.values.len() - bytes.len()) as u32, bytes.len() as u32)
                    });
                out.candidates.push(Candidate {
                    id,
                    btf_value_type_id: word(rec, 8),
                    value_size: word(rec, 12),
                    frozen: word(rec, 16) != 0,
                    btf_id: word(rec, 20),
                    name,
                    value,
                });
            }
        }
        out.covered_to = out.covered_to.max(id);
        buf = &buf[len..];
    }
    Ok(start - buf.len())
}

const WHAT: &str = "the scan's map census";

/// Takes the census: loads the iterator program, reads it to the end, closes everything.
pub fn take() -> Result<Census> {
    let l = layout()?;
    let mut census = Census {
        taken: Some(std::time::Instant::now()),
        ..Default::default()
    };
    // Records never straddle reads (the iterator writes each map's bytes whole), but
    // parsing keeps any tail for the next round all the same.
    census.prog_id = iter::run(
        "bpfbind_census",
        l.attach_btf_id,
        &program(&l),
        WHAT,
        |_, buf| match parse_into(&mut census, buf) {
            Ok(used) => Ok(Some(used)),
            // Full: what was read so far stands, the rest is classified by fd.
            Err(_) if census.candidates.len() >= MAX_CANDIDATES => Ok(None),
            Err(e) => Err(e),
        },
    )?;
    Ok(census)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as the program writes it: kind 0 (`long` None), 1, or 2 with `value`.
    fn record(id: u32, long: Option<(&str, bool)>, value: &[u8]) -> Vec<u8> {
        let kind = match (long, value.is_empty()) {
            (None, _) => 0u32,
            (Some(_), true) => 1,
            (Some(_), false) => 2,
        };
        let mut r = Vec::new();
        r.extend(id.to_ne_bytes());
        r.extend(kind.to_ne_bytes());
        if let Some((name, frozen)) = long {
            let size = if value.is_empty() {
                64
            } else {
                value.len() as u32
            };
            for v in [7u32, size, u32::from(frozen), 99] {
                r.extend(v.to_ne_bytes());
            }
            let mut n = [0u8; 16];
            n[..name.len()].copy_from_slice(name.as_bytes());
            r.extend(n);
            r.extend(value);
        }
        r
    }

    #[test]
    fn parses_records_and_keeps_only_possible_metadata() {
        let mut data = Vec::new();
        data.extend(record(3, None, &[]));
        data.extend(record(5, Some(("multi.rodata", true)), b"v1.2"));
        data.extend(record(6, Some(("multi.bss", false)), &[]));
        data.extend(record(9, Some(("multi.metada", false)), &[]));
        let tail = record(12, Some(("x.rodata", true)), b"abc");
        data.extend(&tail[..41]);
        let mut c = Census::default();
        let used = parse_into(&mut c, &data).unwrap();
        assert_eq!(
            used,
            data.len() - 41,
            "a partial record waits for more bytes"
        );
        assert_eq!(c.covered_to(), 9);
        let ids: Vec<u32> = c.candidates().iter().map(|c| c.id).collect();
        assert_eq!(ids, [5, 9]);
        let c5 = &c.candidates()[0];
        assert_eq!(
            (c5.btf_value_type_id, c5.value_size, c5.frozen, c5.btf_id),
            (7, 4, true, 99)
        );
        assert_eq!(c.value(c5), Some(&b"v1.2"[..]));
        assert_eq!(c.value(&c.candidates()[1]), None);
        assert!(matches!(c.classify(3), Seen::NotMetadata));
        assert!(matches!(c.classify(6), Seen::NotMetadata));
        assert!(matches!(c.classify(9), Seen::Candidate(x) if x.name() == "multi.metada"));
        assert!(matches!(c.classify(10), Seen::Unknown));

        // The rest of the cut record arrives with the next read.
        let used = parse_into(&mut c, &tail).unwrap();
        assert_eq!(used, tail.len());
        assert!(matches!(c.classify(12), Seen::Candidate(x) if c.value(x) == Some(&b"abc"[..])));
    }

    #[test]
    fn refuses_records_the_program_never_writes() {
        let mut bad_kind = record(3, None, &[]);
        bad_kind[4] = 7;
        assert!(parse_into(&mut Census::default(), &bad_kind).is_err());
        let mut huge = record(5, Some(("a.rodata", true)), b"x");
        huge[12..16].copy_from_slice(&(VALUE_MAX as u32 + 1).to_ne_bytes());
        assert!(parse_into(&mut Census::default(), &huge).is_err());
    }

    #[test]
    fn stops_when_full() {
        let mut c = Census::default();
        let mut data = Vec::new();
        for id in 1..=(MAX_CANDIDATES as u32 + 1) {
            data.extend(record(id, Some(("o.rodata", true)), &[]));
        }
        assert!(parse_into(&mut c, &data).is_err());
        assert_eq!(c.candidates().len(), MAX_CANDIDATES);
        assert_eq!(c.covered_to(), MAX_CANDIDATES as u32);
    }

    #[test]
    fn jumps_land_on_their_labels() {
        let l = Layout {
            attach_btf_id: 1,
            map_type: 1,
            key_size: 2,
            value_size: 3,
            max_entries: 4,
            id: 5,
            btf_value_type_id: 6,
            btf: 7,
            name: 8,
            frozen: 9,
            btf_obj_id: 10,
            array_value: 11,
        };
        let p = program(&l);
        let exit = p.len() - 2;
        let write = exit - 4;
        assert_eq!(p[write + 3] as u8, CALL);
        for (i, ins) in p.iter().enumerate() {
            let code = *ins as u8;
            if code == JEQ_K || code == JNE_K || code == JGT_K {
                let off = (*ins >> 16) as u16 as i16;
                let target = (i as i64 + 1 + off as i64) as usize;
                assert!(target > i && target <= exit, "jump {i} lands at {target}");
            }
        }
        assert_eq!(p[exit + 1] as u8, EXIT);
    }
}
