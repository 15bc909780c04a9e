//! bpftool's `prog show` output, plain and JSON (compact or pretty), for scan records.
//! Layout, key order and the json_writer's odd pretty indentation are matched exactly.

use std::fmt::Write;

use super::ProgRecord;

/// Program type names as Debian's bpftool 7.1 (libbpf 1.1) prints them; beyond: "type N".
/// The program types bpftool 7.1 names (uapi's first 32; later ones print as "type N").
const BPFTOOL_PROG_TYPES: usize = 32;

pub fn prog_type_names() -> Vec<&'static str> {
    crate::sys::uapi::PROG_TYPES[..BPFTOOL_PROG_TYPES]
        .iter()
        .map(|&(n, _)| n)
        .collect()
}

pub fn prog_type_name(t: u32) -> Option<&'static str> {
    if t as usize >= BPFTOOL_PROG_TYPES {
        return None;
    }
    crate::sys::uapi::name(crate::sys::uapi::PROG_TYPES, t)
}

/// The type as Python shows it: bpftool's name, or "type N" for one it has no name for.
pub fn prog_type_label(t: u32) -> String {
    type_label(prog_type_name(t), t)
}

/// A program, map or link type as bpftool's plain text heads a record with it: its name,
/// or "type N" for one it has no name for.
pub fn type_label(name: Option<&str>, n: impl std::fmt::Display) -> String {
    name.map_or_else(|| format!("type {n}"), str::to_string)
}

/// The same in JSON: the name as a string, or the number.
pub fn type_json(name: Option<&str>, n: impl std::fmt::Display, out: &mut String) {
    match name {
        Some(name) => json_str(name, out),
        None => {
            let _ = write!(out, "{n}");
        }
    }
}

/// A program or variable name as a JSON string: valid JSON whatever it holds (names come
/// from the kernel and from BTF of any origin). bpftool writes control characters in
/// names raw, which no JSON reader accepts; this is the one place output differs.
pub fn json_str(s: &str, out: &mut String) {
    crate::btf::json_escape(s, crate::btf::JsonRules::Strict, out);
}

/// Seconds since the epoch of a boot-relative timestamp, computed as bpftool does.
pub fn wallclock_secs(load_time_ns: u64) -> i64 {
    let mut real = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let mut boot = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: both pointers are to live timespecs.
    unsafe {
        libc::clock_gettime(libc::CLOCK_REALTIME, &mut real);
        libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut boot);
    }
    (real.tv_sec - boot.tv_sec)
        + (real.tv_nsec - boot.tv_nsec + load_time_ns as i64) / 1_000_000_000
}

/// `%FT%T%z` in local time.
fn iso_local(secs: i64) -> String {
    // SAFETY: localtime_r writes into the zeroed tm we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let t: libc::time_t = secs as libc::time_t;
    unsafe { libc::localtime_r(&t, &mut tm) };
    let off = tm.tm_gmtoff;
    let sign = if off < 0 { '-' } else { '+' };
    let off = off.abs();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{:02}{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        sign,
        off / 3600,
        (off % 3600) / 60
    )
}

pub fn tag_hex(tag: &[u8; 8]) -> String {
    tag.iter().fold(String::with_capacity(16), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Metadata lines: bpftool's `.rodata` metadata first, then `.metadata` section variables.
fn meta_vars(r: &ProgRecord) -> impl Iterator<Item = &super::MetaVar> {
    r.shown_metadata()
}

fn meta_text(v: &super::MetaVar, plain: bool) -> &str {
    let text = if plain { &v.plain } else { &v.json };
    text.as_deref().unwrap_or("null")
}

/// Plain output of one program, with the trailing newline. `metadata_only` prints the
/// header line and the metadata block (the series' `--metadata` view).
pub fn plain(r: &ProgRecord, metadata_only: bool, out: &mut String) {
    let _ = write!(out, "{}: {}  ", r.id, prog_type_label(r.prog_type));
    if !r.kernel_name.is_empty() {
        let _ = write!(out, "name {}  ", r.name);
    }
    let _ = write!(out, "tag {}", tag_hex(&r.tag));
    if r.gpl_compatible {
        out.push_str("  gpl");
    }
    if r.run_time_ns != 0 {
        let _ = write!(out, " run_time_ns {} run_cnt {}", r.run_time_ns, r.run_cnt);
    }
    if r.recursion_misses != 0 {
        let _ = write!(out, " recursion_misses {}", r.recursion_misses);
    }
    out.push('\n');
    if !metadata_only {
        if r.load_time != 0 {
            let _ = writeln!(
                out,
                "\tloaded_at {}  uid {}",
                iso_local(wallclock_secs(r.load_time)),
                r.uid
            );
        }
        let _ = write!(out, "\txlated {}B", r.bytes_xlated);
        if r.bytes_jited != 0 {
            let _ = write!(out, "  jited {}B", r.bytes_jited);
        } else {
            out.push_str("  not jited");
        }
        if let Some(m) = r.bytes_memlock {
            let _ = write!(out, "  memlock {m}B");
        }
        if !r.map_ids.is_empty() {
            out.push_str("  map_ids ");
            joined(out, &r.map_ids, ",", |out, id| {
                let _ = write!(out, "{id}");
            });
        }
        if r.btf_id != 0 {
            let _ = write!(out, "\n\tbtf_id {}", r.btf_id);
        }
        // Upstream bpftool's line (Debian's bpftool, built without skeletons, has none).
        if let Some(pids) = r.pids.as_deref().filter(|p| !p.is_empty()) {
            out.push_str("\n\tpids ");
            joined(out, pids, ", ", |out, h| {
                let _ = write!(out, "{}({})", sanitize_name(&h.comm), h.pid);
            });
        }
        out.push('\n');
    }
    let mut header = false;
    for v in meta_vars(r) {
        if !header {
            out.push_str("\tmetadata:\n");
            header = true;
        }
        let _ = writeln!(
            out,
            "\t\t{} = {}",
            sanitize_name(&v.name),
            meta_text(v, true)
        );
    }
}

/// Writes each of `items` with `write`, `sep` between them.
pub fn joined<T>(
    out: &mut String,
    items: impl IntoIterator<Item = T>,
    sep: &str,
    mut write: impl FnMut(&mut String, T),
) {
    for (i, x) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        write(out, x);
    }
}

/// Variable names come from BTF of any origin: never let one put control bytes on a terminal.
pub fn sanitize_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Compact JSON of one program, keys in bpftool's order; `metadata_only` keeps the id,
/// type, name, tag and metadata (the `--metadata` view).
pub fn json(r: &ProgRecord, metadata_only: bool, out: &mut String) {
    let _ = write!(out, "{{\"id\":{},\"type\":", r.id);
    type_json(prog_type_name(r.prog_type), r.prog_type, out);
    out.push(',');
    if !r.kernel_name.is_empty() {
        out.push_str("\"name\":");
        json_str(&r.name, out);
        out.push(',');
    }
    let _ = write!(out, "\"tag\":\"{}\"", tag_hex(&r.tag));
    if !metadata_only {
        json_details(r, out);
    }
    let mut header = false;
    for v in meta_vars(r) {
        out.push_str(if header { "," } else { ",\"metadata\":{" });
        header = true;
        json_str(&v.name, out);
        out.push(':');
        out.push_str(meta_text(v, false));
    }
    if header {
        out.push('}');
    }
    out.push('}');
}

/// The keys between the tag and the metadata.
fn json_details(r: &ProgRecord, out: &mut String) {
    let _ = write!(out, ",\"gpl_compatible\":{}", r.gpl_compatible);
    if r.run_time_ns != 0 {
        let _ = write!(
            out,
            ",\"run_time_ns\":{},\"run_cnt\":{}",
            r.run_time_ns, r.run_cnt
        );
    }
    if r.recursion_misses != 0 {
        let _ = write!(out, ",\"recursion_misses\":{}", r.recursion_misses);
    }
    if r.load_time != 0 {
        let _ = write!(
            out,
            ",\"loaded_at\":{},\"uid\":{}",
            wallclock_secs(r.load_time),
            r.uid
        );
    }
    let _ = write!(out, ",\"bytes_xlated\":{}", r.bytes_xlated);
    if r.bytes_jited != 0 {
        let _ = write!(out, ",\"jited\":true,\"bytes_jited\":{}", r.bytes_jited);
    } else {
        out.push_str(",\"jited\":false");
    }
    if let Some(m) = r.bytes_memlock {
        let _ = write!(out, ",\"bytes_memlock\":{m}");
    }
    if !r.map_ids.is_empty() {
        out.push_str(",\"map_ids\":[");
        joined(out, &r.map_ids, ",", |out, id| {
            let _ = write!(out, "{id}");
        });
        out.push(']');
    }
    if r.btf_id != 0 {
        let _ = write!(out, ",\"btf_id\":{}", r.btf_id);
    }
    if let Some(pids) = r.pids.as_deref().filter(|p| !p.is_empty()) {
        out.push_str(",\"pids\":[");
        joined(out, pids, ",", |out, h| {
            let _ = write!(out, "{{\"pid\":{},\"comm\":", h.pid);
            json_str(&h.comm, out);
            out.push('}');
        });
        out.push(']');
    }
}

/// A JSON object of `members`, each a name (escaped here) and its value's JSON text;
/// `pretty` lays it out as bpftool's `-p`.
pub fn json_object<'a>(
    members: impl IntoIterator<Item = (&'a str, &'a str)>,
    pretty: bool,
) -> String {
    let mut out = String::from("{");
    joined(&mut out, members, ",", |out, (name, value)| {
        json_str(name, out);
        out.push(':');
        out.push_str(value);
    });
    out.push('}');
    if pretty {
        self::pretty(&out)
    } else {
        out
    }
}

/// Re-indents compact JSON the way bpftool's json_writer pretty-prints: a newline and four
/// spaces per level before each object key and before the closing bracket of a non-empty
/// container; array elements stay on the line (hence bpftool's `[33\n    ]`).
pub fn pretty(compact: &str) -> String {
    let mut out = String::with_capacity(compact.len() * 2);
    // (is_object, is_empty) per open container
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let mut in_str = false;
    let mut escaped = false;
    let mut expect_key = false;
    let indent = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("    ");
        }
    };
    for c in compact.chars() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '"' => {
                if expect_key {
                    indent(&mut out, stack.len());
                    expect_key = false;
                }
                if let Some(top) = stack.last_mut() {
                    top.1 = false;
                }
                in_str = true;
                out.push(c);
            }
            '{' | '[' => {
                if let Some(top) = stack.last_mut() {
                    top.1 = false;
                }
                out.push(c);
                stack.push((c == '{', true));
                expect_key = c == '{';
            }
            '}' | ']' => {
                let (_, empty) = stack.pop().unwrap_or((false, true));
                if !empty {
                    indent(&mut out, stack.len());
                }
                expect_key = false;
                out.push(c);
            }
            ',' => {
                out.push(',');
                expect_key = stack.last().is_some_and(|t| t.0);
            }
            ':' => out.push_str(": "),
            c => {
                if let Some(top) = stack.last_mut() {
                    top.1 = false;
                }
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_matches_json_writer() {
        assert_eq!(
            pretty(r#"[{"id":1,"map_ids":[3,4],"m":{"a":"x,y"}},{}]"#),
            "[{\n        \"id\": 1,\n        \"map_ids\": [3,4\n        ],\n        \"m\": {\n            \"a\": \"x,y\"\n        }\n    },{}\n]"
        );
    }

    #[test]
    fn pretty_indents_pids_as_json_writer() {
        assert_eq!(
            pretty(r#"{"btf_id":3,"pids":[{"pid":7,"comm":"a"},{"pid":9,"comm":"b"}]}"#),
            "{\n    \"btf_id\": 3,\n    \"pids\": [{\n            \"pid\": 7,\n            \"comm\": \"a\"\n        },{\n            \"pid\": 9,\n            \"comm\": \"b\"\n        }\n    ]\n}"
        );
    }

    #[test]
    fn escapes_control_characters() {
        let mut s = String::new();
        json_str("a\u{1b}[31m\"", &mut s);
        assert_eq!(s, "\"a\\u001b[31m\\\"\"");
    }
}
