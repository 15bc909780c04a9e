//! The Prometheus text exposition of scan records: `bpfbind exporter`'s per-program
//! families, written natively and byte for byte as prometheus_client's generate_latest.
//!
//! A program's labels never change in its life (its metadata maps are frozen), so an
//! `Exposition` keeps each program's lines between scrapes and rewrites only the lines
//! of values that moved.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;

use super::format::{joined, prog_type_label, tag_hex, wallclock_secs};
use super::{MetaVar, ProgRecord};
use crate::btf::Value;

/// The per-program families in the order of an entry's lines: (family name, type, help).
/// Counter families are named without `_total`, as prometheus_client names them; their
/// samples carry the suffix.
pub const FAMILIES: [(&str, &str, &str); 8] = [
    (
        "bpf_program_info",
        "gauge",
        "One series per loaded program, = 1: its id, name, type, tag and metadata as labels.",
    ),
    (
        "bpf_program_run_count",
        "counter",
        "Times the program ran (counted while BPF stats are enabled).",
    ),
    (
        "bpf_program_run_time_seconds",
        "counter",
        "Time the program ran (counted while BPF stats are enabled).",
    ),
    (
        "bpf_program_recursion_misses",
        "counter",
        "Runs the kernel skipped because the program was already running on the CPU.",
    ),
    (
        "bpf_program_bytes_xlated",
        "gauge",
        "Size of the program's instructions after the verifier, in bytes.",
    ),
    (
        "bpf_program_bytes_jited",
        "gauge",
        "Size of the program's JIT-compiled code, in bytes.",
    ),
    (
        "bpf_program_loaded_at_seconds",
        "gauge",
        "When the program was loaded, in seconds since the epoch.",
    ),
    (
        "bpf_program_maps",
        "gauge",
        "Maps the program holds, metadata maps included.",
    ),
];

/// Labels of bpf_program_info that are not metadata; `job` and `instance` are the ones
/// Prometheus attaches to every target (a metadata key of that name would be renamed
/// `exported_job` by the server, so it is prefixed here instead).
/// The sample names of `FAMILIES`, counters with their `_total`.
const SAMPLES: [&str; 8] = [
    "bpf_program_info",
    "bpf_program_run_count_total",
    "bpf_program_run_time_seconds_total",
    "bpf_program_recursion_misses_total",
    "bpf_program_bytes_xlated",
    "bpf_program_bytes_jited",
    "bpf_program_loaded_at_seconds",
    "bpf_program_maps",
];

const FIXED: [&str; 6] = ["id", "name", "type", "tag", "job", "instance"];

/// The label a metadata key becomes: snake_case (`gitCommit` -> `git_commit`, the lint
/// Prometheus applies), characters other than [a-zA-Z0-9_] made `_`, no leading digit; a
/// key equal to a fixed label or starting with `__` (reserved to Prometheus) gets the
/// prefix `metadata_`.
pub fn label_name(key: &str) -> String {
    let mut s = String::with_capacity(key.len() + 4);
    let mut prev: Option<char> = None;
    for c in key.chars() {
        if c.is_ascii_uppercase()
            && prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
        {
            s.push('_');
        }
        s.push(if c.is_ascii_alphanumeric() || c == '_' {
            c.to_ascii_lowercase()
        } else {
            '_'
        });
        prev = Some(c);
    }
    if s.is_empty() || s.as_bytes()[0].is_ascii_digit() {
        s.insert(0, '_');
    }
    if FIXED.contains(&s.as_str()) || s.starts_with("__") {
        s.insert_str(0, "metadata_");
    }
    s
}

/// A label value in the text format: `\`, newline and `"` escaped, the rest as it is.
fn escape_into(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Python's `repr(float)`: the shortest digits that read back as `v`, fixed notation
/// for exponents -4..16, else `d.ddde+XX`.
pub fn py_float_repr(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    // `{:e}` gives as many digits as the shortest round trip needs ("-1.2345e6",
    // "0e0"), but breaks a tie between two such strings upwards; Python takes the
    // correctly rounded one, which exact formatting at that precision gives.
    let shortest = format!("{v:e}");
    let n = shortest
        .split_once('e')
        .map_or(1, |(m, _)| m.bytes().filter(u8::is_ascii_digit).count());
    let e = format!("{:.*e}", n - 1, v);
    let (mantissa, exp) = e.split_once('e').expect("LowerExp has an exponent");
    let exp: i32 = exp.parse().expect("LowerExp exponent is a number");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::from(sign);
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    out
}

/// prometheus_client's `floatToGoString`: Python's repr, with Go's earlier switch to an
/// exponent for positive values of seven or more integer digits.
pub fn go_number(v: f64) -> String {
    let mut out = String::new();
    push_number(v, &mut out);
    out
}

/// `go_number` into `out`; integral values (most samples: counts, sizes, times in
/// seconds) without a float formatting round.
fn push_number(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v.fract() == 0.0 && v.abs() < 1e16 && !(v == 0.0 && v.is_sign_negative()) {
        // repr of an integral float below 1e16 is its digits and ".0".
        let i = v as i64;
        if i < 1_000_000 {
            let _ = write!(out, "{i}.0");
            return;
        }
        let digits = i.to_string();
        let m = digits[1..].trim_end_matches('0');
        out.push_str(&digits[..1]);
        if !m.is_empty() {
            out.push('.');
            out.push_str(m);
        }
        let _ = write!(out, "e+{:02}", digits.len() - 1);
        return;
    }
    let s = py_float_repr(v);
    match s.find('.') {
        Some(dot) if v > 0.0 && dot > 6 => {
            let mut m = format!("{}.{}{}", &s[..1], &s[1..dot], &s[dot + 1..]);
            let keep = m.trim_end_matches(['0', '.']).len();
            m.truncate(keep);
            let _ = write!(out, "{m}e+{:02}", dot - 1);
        }
        _ => out.push_str(&s),
    }
}

/// A value as bpftool's JSON would show it, where bpftool's own text is not to be had.
fn value_text(v: &Value, out: &mut String) {
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i)
        | Value::Enum {
            name: None,
            value: i,
        } => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&py_float_repr(*f)),
        Value::Str(s) | Value::Enum { name: Some(s), .. } => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Value::Bytes(b) => {
            out.push('[');
            joined(out, b, ",", |out, x| {
                let _ = write!(out, "{x}");
            });
            out.push(']');
        }
        Value::Array(items) => {
            out.push('[');
            joined(out, items, ",", |out, x| value_text(x, out));
            out.push(']');
        }
        Value::Struct(fields) => {
            out.push('{');
            joined(out, fields, ",", |out, (k, x)| {
                let _ = write!(out, "\"{k}\":");
                value_text(x, out);
            });
            out.push('}');
        }
    }
}

/// A metadata value as a label value: strings (and named enum values) as they are, other
/// values as bpftool prints them.
fn label_value(v: &MetaVar) -> String {
    match &v.value {
        Value::Str(s) | Value::Enum { name: Some(s), .. } => s.clone(),
        other => match v.plain.as_deref() {
            Some(text) if text != "null" => text.to_string(),
            _ => {
                let mut s = String::new();
                value_text(other, &mut s);
                s
            }
        },
    }
}

/// What decides whether a kept entry still stands: run count, run time (ns), recursion
/// misses, map count, and the BTF id (ids come round again after 2**31 loads: with its
/// BTF's id, a program that got a gone one's id is never taken for it).
type Vals = [u64; 5];

fn vals(r: &ProgRecord) -> Vals {
    [
        r.run_cnt,
        r.run_time_ns,
        r.recursion_misses,
        r.map_ids.len() as u64,
        r.btf_id as u64,
    ]
}

/// One program's lines, one per family, in one buffer.
struct Entry {
    vals: Vals,
    text: String,
    ends: [usize; 8],
    /// `id="..",name=".."`: the labels of every family but bpf_program_info.
    base: String,
    typ: String,
    keys: Vec<String>,
}

impl Entry {
    fn line(&self, k: usize) -> &str {
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        &self.text[start..self.ends[k]]
    }
}

/// The text of one collection: every per-program family, and the counts of the small
/// families (`bpf_programs` by type, `bpf_metadata_programs` by key).
pub struct Rendered {
    /// The family's whole text (HELP and TYPE lines first), None where it is the same
    /// as in the last finished collection.
    pub families: Vec<Option<String>>,
    pub by_type: Vec<(String, u64)>,
    pub by_key: Vec<(String, u64)>,
}

/// The exporter's renderer: label settings, the label names of the keys met, and each
/// program's lines from the last collection.
pub struct Exposition {
    wanted: Option<HashSet<String>>,
    names: HashMap<String, Option<String>>,
    entries: HashMap<u32, Entry>,
    last: Vec<String>,
    scrape: Option<Scrape>,
}

struct Scrape {
    bodies: Vec<String>,
    seen: HashMap<u32, Entry>,
}

impl Scrape {
    fn new() -> Self {
        Scrape {
            bodies: FAMILIES
                .iter()
                .zip(SAMPLES)
                .map(|((_, typ, help), sample)| {
                    let mut h = String::new();
                    // HELP text escapes `\` and newline, as generate_latest does.
                    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
                    let _ = write!(h, "# HELP {sample} {help}\n# TYPE {sample} {typ}\n");
                    h
                })
                .collect(),
            seen: HashMap::new(),
        }
    }
}

impl Exposition {
    /// `wanted` limits which metadata keys become labels (raw keys or their label
    /// names); None: all of them.
    pub fn new(wanted: Option<HashSet<String>>) -> Self {
        Exposition {
            wanted,
            names: HashMap::new(),
            entries: HashMap::new(),
            last: Vec::new(),
            scrape: None,
        }
    }

    fn label(&mut self, key: &str) -> Option<String> {
        if let Some(n) = self.names.get(key) {
            return n.clone();
        }
        let name = label_name(key);
        let name = match &self.wanted {
            Some(w) if !w.contains(key) && !w.contains(&name) => None,
            _ => Some(name),
        };
        if self.names.len() > 65536 {
            self.names.clear(); // keys of programs long gone
        }
        self.names.insert(key.to_string(), name.clone());
        name
    }

    /// Adds records to the collection in progress (one is begun if none is), in the
    /// order they are to appear (id order).
    pub fn add(&mut self, recs: &[&ProgRecord]) {
        let mut scrape = self.scrape.take().unwrap_or_else(Scrape::new);
        for r in recs {
            let v = vals(r);
            let entry = match self.entries.remove(&r.id) {
                Some(old) if old.vals == v => old,
                Some(old) if old.vals[3..] == v[3..] => self.moved(r, v, old),
                _ => self.make(r, v),
            };
            for (k, body) in scrape.bodies.iter_mut().enumerate() {
                body.push_str(entry.line(k));
            }
            scrape.seen.insert(r.id, entry);
        }
        self.scrape = Some(scrape);
    }

    /// Ends the collection in progress: programs not added since are forgotten.
    pub fn finish(&mut self) -> Rendered {
        let scrape = self.scrape.take().unwrap_or_else(Scrape::new);
        let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
        let mut by_key: BTreeMap<&str, u64> = BTreeMap::new();
        for e in scrape.seen.values() {
            *by_type.entry(&e.typ).or_default() += 1;
            for k in &e.keys {
                *by_key.entry(k).or_default() += 1;
            }
        }
        let by_type = by_type
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect();
        let by_key = by_key
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect();
        self.entries = scrape.seen;
        let families = scrape
            .bodies
            .into_iter()
            .enumerate()
            .map(|(k, body)| {
                if self.last.get(k) == Some(&body) {
                    None
                } else {
                    Some(body)
                }
            })
            .collect::<Vec<_>>();
        for (k, f) in families.iter().enumerate() {
            if let Some(body) = f {
                if self.last.len() <= k {
                    self.last.resize(k + 1, String::new());
                }
                self.last[k].clone_from(body);
            }
        }
        Rendered {
            families,
            by_type,
            by_key,
        }
    }

    /// Drops the collection in progress (a scan that failed); kept entries stay.
    pub fn abandon(&mut self) {
        if let Some(s) = self.scrape.take() {
            self.entries.extend(s.seen);
        }
    }

    fn make(&mut self, r: &ProgRecord, v: Vals) -> Entry {
        let id = r.id.to_string();
        let typ = prog_type_label(r.prog_type);
        // The metadata as a dict of it reads: each key once, in first place, last value.
        let mut keys: Vec<String> = Vec::new();
        let mut at: HashMap<&str, usize> = HashMap::new();
        let mut vars: Vec<&MetaVar> = Vec::new();
        for var in r.metadata() {
            match at.get(var.name.as_str()) {
                Some(&i) => vars[i] = var,
                None => {
                    at.insert(&var.name, vars.len());
                    vars.push(var);
                    keys.push(var.name.clone());
                }
            }
        }
        // (label, value): the first key to claim a label name keeps it.
        let mut labels: Vec<(String, String)> = vec![
            ("id".into(), id.clone()),
            ("name".into(), r.name.clone()),
            ("tag".into(), tag_hex(&r.tag)),
            ("type".into(), typ.clone()),
        ];
        let mut taken: HashSet<String> = HashSet::new();
        for var in vars {
            if let Some(label) = self.label(&var.name) {
                if taken.insert(label.clone()) {
                    labels.push((label, label_value(var)));
                }
            }
        }
        labels.sort();
        let mut text = String::with_capacity(512);
        text.push_str("bpf_program_info{");
        joined(&mut text, &labels, ",", |text, (k, val)| {
            text.push_str(k);
            text.push_str("=\"");
            escape_into(val, text);
            text.push('"');
        });
        text.push_str("} 1.0\n");
        let info_end = text.len();
        let mut base = format!("id=\"{id}\",name=\"");
        escape_into(&r.name, &mut base);
        base.push('"');
        let mut entry = Entry {
            vals: v,
            text,
            ends: [info_end; 8],
            base,
            typ,
            keys,
        };
        let fixed = [
            r.bytes_xlated as f64,
            r.bytes_jited as f64,
            wallclock_secs(r.load_time) as f64,
            r.map_ids.len() as f64,
        ];
        self.write_lines(&mut entry, v, &fixed);
        entry
    }

    /// Only counters moved: labels and the other lines stand.
    fn moved(&mut self, r: &ProgRecord, v: Vals, old: Entry) -> Entry {
        let fixed: Vec<String> = (4..8).map(|k| old.line(k).to_string()).collect();
        let text = old.line(0).to_string();
        let info_end = text.len();
        let mut entry = Entry {
            vals: v,
            base: old.base,
            text,
            ends: [info_end; 8],
            typ: old.typ,
            keys: old.keys,
        };
        self.write_counters(&mut entry, r.run_cnt, r.run_time_ns, r.recursion_misses);
        for (k, line) in (4..8).zip(fixed) {
            entry.text.push_str(&line);
            entry.ends[k] = entry.text.len();
        }
        entry
    }

    fn write_lines(&self, entry: &mut Entry, v: Vals, fixed: &[f64; 4]) {
        self.write_counters(entry, v[0], v[1], v[2]);
        for (k, x) in (4..8).zip(fixed) {
            push_line(entry, k, *x);
        }
    }

    fn write_counters(&self, entry: &mut Entry, run_cnt: u64, run_ns: u64, misses: u64) {
        push_line(entry, 1, run_cnt as f64);
        push_line(entry, 2, run_ns as f64 / 1e9);
        push_line(entry, 3, misses as f64);
    }
}

/// Appends family `k`'s line of the entry, and its end.
fn push_line(entry: &mut Entry, k: usize, value: f64) {
    let t = &mut entry.text;
    t.push_str(SAMPLES[k]);
    t.push('{');
    t.push_str(&entry.base);
    t.push_str("} ");
    push_number(value, t);
    t.push('\n');
    entry.ends[k] = entry.text.len();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_names_are_the_families_with_counters_suffixed() {
        for ((name, typ, _), sample) in FAMILIES.iter().zip(SAMPLES) {
            let want = if *typ == "counter" {
                format!("{name}_total")
            } else {
                name.to_string()
            };
            assert_eq!(sample, want);
        }
    }

    #[test]
    fn label_names_follow_the_python_rule() {
        assert_eq!(label_name("commit_hash"), "commit_hash");
        assert_eq!(label_name("gitCommit"), "git_commit");
        assert_eq!(label_name("HTTPServer"), "httpserver");
        assert_eq!(label_name("a.b-c d"), "a_b_c_d");
        assert_eq!(label_name("9lives"), "_9lives");
        assert_eq!(label_name(""), "_");
        assert_eq!(label_name("Name"), "metadata_name");
        assert_eq!(label_name("__x"), "metadata___x");
        assert_eq!(label_name("v2Beta"), "v2_beta");
        assert_eq!(label_name("é"), "_");
    }

    #[test]
    fn numbers_as_prometheus_client_writes_them() {
        let cases: [(f64, &str); 16] = [
            (0.0, "0.0"),
            (1.0, "1.0"),
            (-1.0, "-1.0"),
            (999_999.0, "999999.0"),
            (1_000_000.0, "1e+06"),
            (1_764_612_345.0, "1.764612345e+09"),
            (1.5, "1.5"),
            (1e-9, "1e-09"),
            (0.000_123, "0.000123"),
            (1.23e-5, "1.23e-05"),
            (2f64.powi(64), "1.8446744073709552e+19"),
            (1e16, "1e+16"),
            (-2.5e20, "-2.5e+20"),
            (123_456.789, "123456.789"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(go_number(v), want, "{v}");
        }
        for (v, want) in [
            (10_000_000.0, "1e+07"),
            (1_200_000.0, "1.2e+06"),
            (-5_000_000.0, "-5000000.0"),
            (-0.0, "-0.0"),
        ] {
            assert_eq!(go_number(v), want, "{v}");
        }
        assert_eq!(py_float_repr(1e22), "1e+22");
        assert_eq!(py_float_repr(123456789012345.6), "123456789012345.6");
        assert_eq!(py_float_repr(-0.0), "-0.0");
    }
}
