//! Loaded programs -> records: ids, info, full names and decoded metadata, the way bpftool
//! finds them, with per-scan caches and worker threads; vanished objects are skipped.

pub mod census;
pub mod format;
mod iter;
pub mod links;
pub mod pids;
pub mod prom;

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use self::census::{Census, Seen};
use self::pids::{Holder, Holders};
use crate::btf::{BpftoolVersion, Btf, DumpOptions, Type, Value};
use crate::error::{Error, Result};
use crate::sys::{self, info, IdKind};

const METADATA_PREFIX: &str = "bpf_metadata_";

/// One metadata variable: its name (prefix stripped), decoded value and, when asked for,
/// bpftool's JSON text of it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetaVar {
    pub name: String,
    pub value: Value,
    /// bpftool's `-j` text and plain text of the value (they differ for bitfields, chars,
    /// pointers); None unless the scan asked for them.
    pub json: Option<String>,
    pub plain: Option<String>,
}

/// What a scan reports of a program: bpftool's fields and the metadata of both conventions.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgRecord {
    pub id: u32,
    pub prog_type: u32,
    /// The kernel's (truncated) name, and the full one from BTF func_info where it differs.
    pub kernel_name: String,
    pub name: String,
    pub tag: [u8; 8],
    pub gpl_compatible: bool,
    pub run_time_ns: u64,
    pub run_cnt: u64,
    pub recursion_misses: u64,
    /// Nanoseconds since boot, as the kernel reports it.
    pub load_time: u64,
    pub uid: u32,
    pub bytes_xlated: u32,
    pub bytes_jited: u32,
    pub bytes_memlock: Option<u64>,
    pub map_ids: Vec<u32>,
    pub btf_id: u32,
    /// `bpf_metadata_*` variables of the first `.rodata` map (what bpftool shows).
    pub rodata_metadata: Arc<Vec<MetaVar>>,
    /// `bpf_metadata_*` variables of the program's later `.rodata` maps, which bpftool
    /// does not show. Where metadata is bound after the load (BPF_PROG_BIND_MAP, before
    /// Linux 6.14), a `.rodata.*` map the code reads comes first in `map_ids`.
    pub later_rodata_metadata: Vec<Arc<Vec<MetaVar>>>,
    /// Variables of `.metadata` section maps.
    pub section_metadata: Vec<Arc<Vec<MetaVar>>>,
    /// The processes holding the program, in pid order; None unless the scan asked.
    pub pids: Option<Vec<Holder>>,
}

impl ProgRecord {
    pub fn has_metadata(&self) -> bool {
        self.metadata().next().is_some()
    }

    /// What `prog show` prints: bpftool's `.rodata` metadata, then `.metadata` ones.
    pub fn shown_metadata(&self) -> impl Iterator<Item = &MetaVar> {
        self.rodata_metadata
            .iter()
            .chain(self.section_metadata.iter().flat_map(|v| v.iter()))
    }

    /// Every metadata variable of the program: the `.rodata` maps' in map order (bpftool's
    /// first), then the `.metadata` ones.
    pub fn metadata(&self) -> impl Iterator<Item = &MetaVar> {
        self.rodata_metadata
            .iter()
            .chain(self.later_rodata_metadata.iter().flat_map(|v| v.iter()))
            .chain(self.section_metadata.iter().flat_map(|v| v.iter()))
    }
}

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    pub name: Option<String>,
    pub prog_type: Option<u32>,
    pub tag: Option<[u8; 8]>,
    pub with_metadata_only: bool,
    /// Render bpftool's JSON for each variable (the CLI wants it, Python records don't).
    pub json: bool,
    /// Read `memlock` from /proc/self/fdinfo (bpftool prints it; it costs three syscalls).
    pub memlock: bool,
    /// Worker threads for a batch; 0 = one per CPU.
    pub threads: usize,
    /// Take a map census (see `census`) once a full scan outgrows its first batch.
    pub census: bool,
    /// Say which processes hold each program (see `pids`): one pass over every
    /// process's fds per scan, retaken when older than `census::MAX_AGE`.
    pub pids: bool,
}

/// What a metadata map looked like when first met in this scan. Ids cannot be reused while
/// a program that holds the map is open, and each entry is only used under such a program.
#[derive(Clone)]
enum MapEntry {
    NotMetadata,
    Rodata(Arc<Vec<MetaVar>>),
    Section(Arc<Vec<MetaVar>>),
}

/// Caches shared by the workers of one batch, and the scan's census if it has one.
#[derive(Default)]
struct Caches {
    btf: Mutex<HashMap<u32, Option<Arc<Btf>>>>,
    /// Parsed BTF by its bytes: copies of one object loaded many times have equal BTF
    /// under different ids, and parsing is most of a scan's time in user space.
    btf_parsed: Mutex<HashMap<Vec<u8>, Option<Arc<Btf>>>>,
    maps: Mutex<HashMap<u32, MapEntry>>,
    census: Option<Arc<Census>>,
    holders: Option<Arc<Holders>>,
}

pub struct Scanner {
    opts: ScanOptions,
    caches: Caches,
    /// The next id to look from (exclusive), for the enumerating walk.
    cursor: u32,
    /// An explicit id list instead of the walk.
    ids: Option<std::vec::IntoIter<u32>>,
    /// The next batch's ids, walked while the workers read the previous batch.
    prefetched: Option<Vec<u32>>,
    done: bool,
    /// None until the census is tried; then what it gave.
    census: Option<Result<Arc<Census>>>,
    /// The holders table, when the scan asked for pids.
    holders: Option<Arc<Holders>>,
    /// Ids of the scan's own iterator programs, which live a moment after their pass.
    own_ids: Vec<u32>,
}

fn load_btf(caches: &Caches, id: u32) -> Result<Option<Arc<Btf>>> {
    if id == 0 {
        return Ok(None);
    }
    if let Some(b) = caches
        .btf
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
    {
        return Ok(b.clone());
    }
    let btf = match sys::fd_by_id(IdKind::Btf, id)? {
        Some(fd) => {
            let data = info::btf_data(fd.as_fd())?;
            drop(fd);
            let parsed = || caches.btf_parsed.lock().unwrap_or_else(|p| p.into_inner());
            let known = parsed().get(data.as_slice()).cloned();
            match known {
                Some(b) => b,
                None => {
                    // Parsed unlocked, so that workers parse different BTF at once. A
                    // BTF object the kernel accepted but we cannot parse shows no
                    // metadata rather than failing the whole scan.
                    let b = Btf::parse(&data).ok().map(Arc::new);
                    parsed().insert(data, b.clone());
                    b
                }
            }
        }
        None => None,
    };
    caches
        .btf
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, btf.clone());
    Ok(btf)
}

fn datasec_name(btf: &Btf, id: u32) -> Option<&str> {
    match btf.type_by_id(id)? {
        Type::Datasec { name, .. } => Some(name.as_str()),
        _ => None,
    }
}

fn decode_vars(
    btf: &Btf,
    datasec: u32,
    value: &[u8],
    prefix: Option<&str>,
    json: bool,
) -> Result<Vec<MetaVar>> {
    let vals = btf.decode_datasec(datasec, value, prefix)?;
    let (jsons, plains) = if json {
        (
            render(btf, datasec, value, prefix, false),
            render(btf, datasec, value, prefix, true),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(vals
        .into_iter()
        .enumerate()
        .map(|(i, (name, value))| MetaVar {
            json: jsons.get(i).map(|(_, s)| s.clone()),
            plain: plains.get(i).map(|(_, s)| s.clone()),
            name,
            value,
        })
        .collect())
}

/// bpftool's text of each variable. Values follow the newest bpftool's escaping, which is
/// valid JSON (7.1 wrote `'` as `\'`); a variable bpftool could not print ends the list.
fn render(
    btf: &Btf,
    datasec: u32,
    value: &[u8],
    prefix: Option<&str>,
    plain: bool,
) -> Vec<(String, String)> {
    let opts = DumpOptions {
        plain,
        bpftool: BpftoolVersion::LATEST,
    };
    btf.dump_datasec(datasec, value, prefix, opts)
        .unwrap_or_default()
}

/// What a scan needs to know of a map that may hold metadata.
struct Shape {
    btf_id: u32,
    btf_value_type_id: u32,
    value_size: u32,
    rodata: bool,
    frozen: bool,
}

/// Classifies one map of a program, reading it when it is a metadata map: by the census
/// where it knows the map, else by opening it.
fn inspect_map(caches: &Caches, map_id: u32, json: bool) -> Result<Option<MapEntry>> {
    let maps = || caches.maps.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = maps().get(&map_id) {
        return Ok(Some(e.clone()));
    }
    let census = caches.census.as_deref();
    let seen = census.map_or(Seen::Unknown, |c| c.classify(map_id));
    // A frozen map's value, read by the census: no fd needed at all. The program being
    // read holds the map, so it is the map the census saw.
    let read_by_census = match seen {
        Seen::NotMetadata => return Ok(Some(MapEntry::NotMetadata)),
        Seen::Candidate(c) => census.and_then(|k| k.value(c)).map(|v| (c, v)),
        Seen::Unknown => None,
    };
    let (frozen, entry) = if let Some((c, value)) = read_by_census {
        let shape = Shape::of_candidate(c);
        (shape.frozen, decode_metadata(caches, &shape, value, json)?)
    } else {
        let Some(fd) = sys::fd_by_id(IdKind::Map, map_id)? else {
            return Ok(None);
        };
        let shape = match seen {
            Seen::Candidate(c) => Some(Shape::of_candidate(c)),
            _ => Shape::of_map(fd.as_fd())?,
        };
        match shape {
            None => (false, MapEntry::NotMetadata),
            Some(shape) => {
                let mut value = vec![0u8; shape.value_size as usize];
                let entry = match sys::map_lookup(fd.as_fd(), &0u32.to_ne_bytes(), &mut value) {
                    Err(Error::Sys {
                        errno: libc::ENOENT,
                        ..
                    }) => MapEntry::NotMetadata,
                    Err(e) => return Err(e),
                    Ok(()) => decode_metadata(caches, &shape, &value, json)?,
                };
                (shape.frozen, entry)
            }
        }
    };
    // Only frozen maps never change; cache the rest only as "not metadata", whose
    // classification rests on immutable attributes.
    if frozen || matches!(entry, MapEntry::NotMetadata) {
        maps().insert(map_id, entry.clone());
    }
    Ok(Some(entry))
}

impl Shape {
    fn of_candidate(c: &census::Candidate) -> Shape {
        Shape {
            btf_id: c.btf_id,
            btf_value_type_id: c.btf_value_type_id,
            value_size: c.value_size,
            rodata: c.name().contains(".rodata"),
            frozen: c.frozen,
        }
    }

    /// The shape of an open map, or None when it cannot hold metadata.
    fn of_map(fd: BorrowedFd<'_>) -> Result<Option<Shape>> {
        let mi = info::map_info(fd)?;
        let name = info::name_str(&mi.name);
        let shaped = mi.map_type == sys::BPF_MAP_TYPE_ARRAY
            && mi.key_size == 4
            && mi.max_entries == 1
            && mi.btf_value_type_id != 0;
        if !shaped || !census::name_may_be_metadata(name) {
            return Ok(None);
        }
        Ok(Some(Shape {
            btf_id: mi.btf_id,
            btf_value_type_id: mi.btf_value_type_id,
            value_size: mi.value_size,
            rodata: name.contains(".rodata"),
            // Read before the value: a map frozen after our read could still have
            // changed in between, and must not be cached as if its value were final.
            frozen: info::fdinfo_field(fd, "frozen:") == Some(1),
        }))
    }
}

/// Decodes the value of a map of metadata shape: bpftool's `.rodata` variables, or every
/// variable of a `.metadata` section.
fn decode_metadata(caches: &Caches, shape: &Shape, value: &[u8], json: bool) -> Result<MapEntry> {
    let Some(btf) = load_btf(caches, shape.btf_id)? else {
        return Ok(MapEntry::NotMetadata);
    };
    let datasec = shape.btf_value_type_id;
    let sec = datasec_name(&btf, datasec);
    Ok(if shape.rodata && sec.is_some() {
        let vars =
            decode_vars(&btf, datasec, value, Some(METADATA_PREFIX), json).unwrap_or_default();
        MapEntry::Rodata(Arc::new(vars))
    } else if sec == Some(".metadata") {
        let vars = decode_vars(&btf, datasec, value, None, json).unwrap_or_default();
        MapEntry::Section(Arc::new(vars))
    } else {
        MapEntry::NotMetadata
    })
}

fn full_name(caches: &Caches, fd: BorrowedFd<'_>, pi: &info::ProgInfo) -> Result<Option<String>> {
    let kname = info::name_str(&pi.name);
    if pi.btf_id == 0 || pi.nr_func_info == 0 || kname.len() < 15 {
        return Ok(None);
    }
    let (fi, recs) = info::prog_func_info(fd, 1)?;
    let Some([_, type_id]) = recs.first().copied() else {
        return Ok(None);
    };
    let Some(btf) = load_btf(caches, fi.btf_id)? else {
        return Ok(None);
    };
    Ok(match btf.type_by_id(type_id) {
        Some(Type::Func { name, .. }) => Some(name.clone()),
        _ => None,
    })
}

/// The program's full name: the kernel's, or from BTF func_info where it was truncated.
pub fn program_name(fd: BorrowedFd<'_>, pi: &info::ProgInfo) -> String {
    full_name(&Caches::default(), fd, pi)
        .ok()
        .flatten()
        .unwrap_or_else(|| info::name_str(&pi.name).to_string())
}

/// Reads one program, or None when it vanished (or a filter excludes it).
fn read_prog(caches: &Caches, opts: &ScanOptions, fd: &OwnedFd) -> Result<Option<ProgRecord>> {
    let mut map_ids = Vec::new();
    let pi = info::prog_info(fd.as_fd(), &mut map_ids)?;
    if opts.prog_type.is_some_and(|t| t != pi.prog_type) {
        return Ok(None);
    }
    if opts.tag.is_some_and(|t| t != pi.tag) {
        return Ok(None);
    }
    let kernel_name = info::name_str(&pi.name).to_string();
    let name = full_name(caches, fd.as_fd(), &pi)?.unwrap_or_else(|| kernel_name.clone());
    if let Some(want) = &opts.name {
        if *want != name && *want != kernel_name {
            return Ok(None);
        }
    }
    // Shared with the per-batch cache and the other programs of the object: no copies.
    let mut rodata_metadata = Arc::new(Vec::new());
    let mut later_rodata_metadata = Vec::new();
    let mut section_metadata = Vec::new();
    let mut rodata_seen = false;
    for &mid in &map_ids {
        match inspect_map(caches, mid, opts.json)? {
            // bpftool stops at the first .rodata-shaped map, metadata or not.
            Some(MapEntry::Rodata(v)) if !rodata_seen => {
                rodata_seen = true;
                rodata_metadata = v;
            }
            Some(MapEntry::Rodata(v)) if !v.is_empty() => later_rodata_metadata.push(v),
            Some(MapEntry::Section(v)) => section_metadata.push(v),
            _ => {}
        }
    }
    let rec = ProgRecord {
        id: pi.id,
        prog_type: pi.prog_type,
        kernel_name,
        name,
        tag: pi.tag,
        gpl_compatible: pi.gpl_compatible & 1 != 0,
        run_time_ns: pi.run_time_ns,
        run_cnt: pi.run_cnt,
        recursion_misses: pi.recursion_misses,
        load_time: pi.load_time,
        uid: pi.created_by_uid,
        bytes_xlated: pi.xlated_prog_len,
        bytes_jited: pi.jited_prog_len,
        bytes_memlock: if opts.memlock {
            info::fdinfo_memlock(fd.as_fd())
        } else {
            None
        },
        map_ids,
        btf_id: pi.btf_id,
        rodata_metadata,
        later_rodata_metadata,
        section_metadata,
        pids: caches.holders.as_ref().map(|h| h.get(pi.id).to_vec()),
    };
    if opts.with_metadata_only && !rec.has_metadata() {
        return Ok(None);
    }
    Ok(Some(rec))
}

/// Reads the program behind `fd` (one the caller holds); `holders`, taken before the fd
/// was opened, gives its pids.
pub fn read_fd(
    fd: &OwnedFd,
    opts: &ScanOptions,
    holders: Option<Arc<Holders>>,
) -> Result<ProgRecord> {
    let caches = Caches {
        holders,
        ..Caches::default()
    };
    let all = ScanOptions {
        name: None,
        prog_type: None,
        tag: None,
        with_metadata_only: false,
        ..opts.clone()
    };
    read_prog(&caches, &all, fd)?.ok_or_else(|| Error::NotFound("program vanished".into()))
}

fn read_id(caches: &Caches, opts: &ScanOptions, id: u32) -> Result<Option<ProgRecord>> {
    match sys::fd_by_id(IdKind::Prog, id)? {
        Some(fd) => read_prog(caches, opts, &fd),
        None => Ok(None),
    }
}

impl Scanner {
    pub fn new(opts: ScanOptions, ids: Option<Vec<u32>>) -> Self {
        Scanner {
            opts,
            caches: Caches::default(),
            cursor: 0,
            // Records come in id order, once each, whatever order the caller gave.
            ids: ids.map(|mut v| {
                v.sort_unstable();
                v.dedup();
                v.into_iter()
            }),
            prefetched: None,
            done: false,
            census: None,
            holders: None,
            own_ids: Vec::new(),
        }
    }

    /// The holders table this scan uses, once its first batch is read with `pids`.
    pub fn holders(&self) -> Option<&Arc<Holders>> {
        self.holders.as_ref()
    }

    /// Whether this scan is classifying maps by a census (false until its second batch).
    pub fn uses_census(&self) -> bool {
        matches!(self.census, Some(Ok(_)))
    }

    /// Why the census could not be taken, if it was tried and failed.
    pub fn census_error(&self) -> Option<&Error> {
        self.census.as_ref().and_then(|c| c.as_ref().err())
    }

    fn next_ids(&mut self, n: usize) -> Result<Vec<u32>> {
        match &mut self.ids {
            Some(it) => Ok(it.by_ref().take(n).collect()),
            None => walk_ids(&mut self.cursor, n),
        }
    }

    /// The next up to `n` programs, in id order; empty when the scan is over. The batch is
    /// read by worker threads; memory is bounded by `n`, whatever the number of programs.
    pub fn next_batch(&mut self, n: usize) -> Result<Vec<ProgRecord>> {
        let n = n.max(1);
        let mut out = Vec::new();
        while out.is_empty() && !self.done {
            let ids = match self.prefetched.take() {
                // A walk that met the end early is topped up now: programs loaded
                // since then are in this scan, as they would be without the prefetch.
                Some(mut ids) if ids.len() < n => {
                    ids.extend(walk_ids(&mut self.cursor, n - ids.len())?);
                    ids
                }
                Some(ids) => ids,
                None => self.next_ids(n)?,
            };
            if ids.len() < n {
                self.done = true;
            }
            // Before any program is opened: the scan's own fds must not count as
            // holders. A table past its age is retaken.
            let stale = self
                .holders
                .as_ref()
                .is_some_and(|h| h.taken.is_some_and(|t| t.elapsed() > census::MAX_AGE));
            if self.opts.pids && (self.holders.is_none() || stale) {
                let h = Arc::new(pids::gather(pids::Want::Auto)?);
                if h.prog_id != 0 {
                    self.own_ids.push(h.prog_id);
                }
                self.holders = Some(h);
            }
            // The census and pids programs live a moment after their pass: never
            // report them.
            let mut ids = ids;
            if let Some(Ok(c)) = &self.census {
                ids.retain(|&id| id != c.prog_id);
            }
            ids.retain(|id| !self.own_ids.contains(id));
            if ids.is_empty() {
                continue;
            }
            // A census past its age is retaken (and not used meanwhile).
            let stale = self.census.as_ref().is_some_and(|c| {
                c.as_ref()
                    .is_ok_and(|c| c.taken.is_some_and(|t| t.elapsed() > census::MAX_AGE))
            });
            if stale {
                self.census = None;
            }
            // Caches live for one batch: memory stays bounded by the batch, and an
            // object's programs (adjacent ids) still share one BTF and map read.
            self.caches = Caches {
                census: self.census.as_ref().and_then(|c| c.as_ref().ok()).cloned(),
                holders: self.holders.clone(),
                ..Caches::default()
            };
            let walking = !self.done && self.ids.is_none();
            // A full scan that fills its first batch has more to come: a census is then
            // worth its cost, and is taken while this batch is read.
            let take_census = walking && self.opts.census && self.census.is_none();
            let cursor = &mut self.cursor;
            let side = walking.then_some(move || -> Result<_> {
                let next = walk_ids(cursor, n)?;
                let census = take_census.then(|| census::take().map(Arc::new));
                Ok((next, census))
            });
            let (recs, side) = read_ids(&self.caches, &self.opts, &ids, side)?;
            if let Some((next, census)) = side.transpose()? {
                self.prefetched = Some(next);
                if census.is_some() {
                    self.census = census;
                }
            }
            out = recs;
        }
        Ok(out)
    }
}

/// Up to `n` program ids after `*cursor`, advancing it: a chain of GET_NEXT_ID calls.
fn walk_ids(cursor: &mut u32, n: usize) -> Result<Vec<u32>> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match sys::next_id(IdKind::Prog, *cursor)? {
            Some(id) => {
                *cursor = id;
                out.push(id);
            }
            None => break,
        }
    }
    Ok(out)
}

type Runs = Vec<(usize, Vec<ProgRecord>)>;

/// Reads `ids` with worker threads, in runs of ids taken from a shared counter (a worker
/// slowed by another process does not hold the batch up). When there is `side` work
/// (walking the next batch's ids, taking the census), this thread does it meanwhile
/// instead of reading: the serial chain of GET_NEXT_ID calls then overlaps the reads
/// rather than preceding them.
fn read_ids<S: Send>(
    caches: &Caches,
    opts: &ScanOptions,
    ids: &[u32],
    side: Option<impl FnOnce() -> S + Send>,
) -> Result<(Vec<ProgRecord>, Option<S>)> {
    const RUN: usize = 8;
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    }
    .min(ids.len().div_ceil(RUN))
    .max(1);
    let next = AtomicUsize::new(0);
    let work = || -> Result<Runs> {
        let mut done = Vec::new();
        loop {
            let start = next.fetch_add(RUN, Ordering::Relaxed);
            if start >= ids.len() {
                return Ok(done);
            }
            let mut recs = Vec::with_capacity(RUN);
            for &id in &ids[start..(start + RUN).min(ids.len())] {
                if let Some(r) = read_id(caches, opts, id)? {
                    recs.push(r);
                }
            }
            done.push((start, recs));
        }
    };
    let helpers = if side.is_some() { threads } else { threads - 1 };
    let (mut runs, side) = std::thread::scope(|s| -> Result<(Runs, Option<S>)> {
        let helpers: Vec<_> = (0..helpers).map(|_| s.spawn(work)).collect();
        let side = side.map(|f| f());
        // Without side work, this thread reads too.
        let mut all = if side.is_some() {
            Ok(Vec::new())
        } else {
            work()
        };
        for h in helpers {
            let part = h
                .join()
                .unwrap_or_else(|_| Err(Error::Invalid("scan worker panicked".into())));
            match (&mut all, part) {
                (Ok(all), Ok(part)) => all.extend(part),
                (Ok(_), Err(e)) => all = Err(e),
                (Err(_), _) => {}
            }
        }
        Ok((all?, side))
    })?;
    runs.sort_unstable_by_key(|(start, _)| *start);
    Ok((runs.into_iter().flat_map(|(_, recs)| recs).collect(), side))
}
