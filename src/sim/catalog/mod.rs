//! The simulated portal's procedure catalog: generated per simulator (`generate.rs`, from the
//! words in `words.rs`), then changed on request by tests, the demo and `lienthong sim` users
//! (`/sim/catalog/*`), so the gateway's catalog pull has something real to chew: changed content,
//! withdrawn and removed procedures, objects whose key order moves, a pull cut half-way.
//!
//! It answers `LayDanhSachTTHC`, `LayThuTuc`, `LayDanhMucCoQuan` and `LayDanhMucLinhVuc` for
//! `dvcqg.rs` and must stay cheap per call (the simulator is a peer in benchmarks): one short
//! lock, objects shared behind `Arc` so a call clones a pointer, the list's JSON cached until a
//! change invalidates it. Objects are kept in the key order the portal sends them, which
//! `serde_json`'s `preserve_order` keeps when they are serialised. It knows nothing of the
//! gateway.

mod generate;
#[cfg(test)]
mod tests;
mod words;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// One procedure as the simulated portal holds it.
#[derive(Debug)]
struct Entry {
    code: String,
    name: String,
    /// `TRANGTHAI` `"1"`; a withdrawn procedure stays listed with `"0"`.
    in_force: bool,
    /// In `LayDanhSachTTHC` and answered by `LayThuTuc`; a removed one is neither, but kept so
    /// that [`ProcedureCatalog::restore`] can bring it back.
    listed: bool,
    fixture: bool,
    /// Content changes so far; picks what the next [`ProcedureCatalog::change`] does.
    revision: u32,
    /// The object `LayThuTuc` answers, in its wire key order.
    object: Arc<Value>,
}

#[derive(Debug)]
struct State {
    /// In list order (by code).
    entries: Vec<Entry>,
    by_code: HashMap<String, usize>,
    /// The `LayDanhSachTTHC` result array as sent; `None` after a change to the list.
    list: Option<Bytes>,
    /// `LayThuTuc` calls still answered before they all get 503; `None`: no cut.
    procedure_calls_left: Option<usize>,
}

/// How many procedures the catalog holds, by state (`GET /sim/catalog`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogCounts {
    /// Listed by `LayDanhSachTTHC` (in force or withdrawn).
    pub listed: usize,
    pub in_force: usize,
    /// Listed with `TRANGTHAI` `"0"`.
    pub withdrawn: usize,
    /// Gone from the list (`LayThuTuc` answers `result: []`), restorable.
    pub removed: usize,
}

/// `LayThuTuc` is cut (see [`ProcedureCatalog::fail_procedure_calls_after`]): answer 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ProcedureCallsCut;

/// The procedure catalog of one [`super::Simulator`], reached through
/// [`super::Simulator::catalog`]. Every method takes `&self`; changes are seen by the next call
/// to `/share`.
#[derive(Debug)]
pub struct ProcedureCatalog {
    state: Mutex<State>,
    fields: Value,
    agencies: Value,
    list_calls: AtomicU64,
    procedure_calls: AtomicU64,
}

impl ProcedureCatalog {
    /// `count` procedures (at least those of `fixtures/procedures.json`, which are always
    /// included, in force), reproducibly from `seed`.
    pub fn generate(count: usize, seed: u64) -> Self {
        let entries: Vec<Entry> = generate::generate(count, seed)
            .into_iter()
            .map(|g| Entry {
                code: g.code,
                name: g.name,
                in_force: true,
                listed: true,
                fixture: g.fixture,
                revision: 0,
                object: Arc::new(g.object),
            })
            .collect();
        let by_code = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.code.clone(), i))
            .collect();
        Self {
            state: Mutex::new(State {
                entries,
                by_code,
                list: None,
                procedure_calls_left: None,
            }),
            fields: generate::fields(),
            agencies: generate::agencies(),
            list_calls: AtomicU64::new(0),
            procedure_calls: AtomicU64::new(0),
        }
    }

    /// How many procedures `LayDanhSachTTHC` lists (withdrawn ones included).
    pub fn len(&self) -> usize {
        self.state().entries.iter().filter(|e| e.listed).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The listed codes, in list order.
    pub fn codes(&self) -> Vec<String> {
        self.state()
            .entries
            .iter()
            .filter(|e| e.listed)
            .map(|e| e.code.clone())
            .collect()
    }

    /// The codes of `fixtures/procedures.json`, which every generated catalog holds.
    pub fn fixture_codes() -> Vec<String> {
        generate::fixture_codes().to_vec()
    }

    /// Whether `code` is one of [`Self::fixture_codes`].
    pub fn is_fixture(code: &str) -> bool {
        generate::fixture_codes().iter().any(|c| c == code)
    }

    /// What `LayThuTuc` answers for `code` now (`None`: unknown or removed).
    pub fn procedure(&self, code: &str) -> Option<Value> {
        let state = self.state();
        let i = *state.by_code.get(code)?;
        let entry = &state.entries[i];
        entry.listed.then(|| (*entry.object).clone())
    }

    /// Whether dossiers may name `code`: it is listed (in force or withdrawn).
    pub fn knows(&self, code: &str) -> bool {
        let state = self.state();
        state
            .by_code
            .get(code)
            .is_some_and(|&i| state.entries[i].listed)
    }

    pub fn counts(&self) -> CatalogCounts {
        let state = self.state();
        let mut counts = CatalogCounts::default();
        for e in &state.entries {
            match (e.listed, e.in_force) {
                (false, _) => counts.removed += 1,
                (true, true) => {
                    counts.listed += 1;
                    counts.in_force += 1;
                }
                (true, false) => {
                    counts.listed += 1;
                    counts.withdrawn += 1;
                }
            }
        }
        counts
    }

    /// Changes the content of `code` as a new publishing decision would: alternately a fee raised
    /// (when it has one) and a deadline lengthened, with `QUYETDINH` naming the new decision.
    /// `false` if the code is unknown or removed. The list does not move (names do not change).
    pub fn change(&self, code: &str) -> bool {
        let mut state = self.state();
        let Some(&i) = state.by_code.get(code) else {
            return false;
        };
        let entry = &mut state.entries[i];
        if !entry.listed {
            return false;
        }
        entry.revision += 1;
        let revision = entry.revision;
        let object = Arc::make_mut(&mut entry.object);
        if revision % 2 == 0 || !raise_fees(object) {
            lengthen_deadlines(object);
        }
        if let Some(q) = object.get_mut("QUYETDINH") {
            *q = Value::String(format!(
                "Quyết định số {}/QĐ-UBND về việc công bố thủ tục hành chính được sửa đổi, bổ sung (lần {revision}) của {code}",
                4000 + revision
            ));
        }
        true
    }

    /// Sets the processing time of `code` on every channel (`THOIGIANGIAIQUYET`, `DONVITINH`),
    /// as a new publishing decision would. `false` if the code is unknown or removed.
    pub fn set_processing_time(&self, code: &str, amount: u32, unit: &str) -> bool {
        let mut state = self.state();
        let Some(&i) = state.by_code.get(code) else {
            return false;
        };
        let entry = &mut state.entries[i];
        if !entry.listed {
            return false;
        }
        entry.revision += 1;
        let object = Arc::make_mut(&mut entry.object);
        if let Some(ways) = object
            .get_mut("CACHTHUCTHUCHIEN")
            .and_then(Value::as_array_mut)
        {
            for way in ways {
                if let Some(times) = way.get_mut("THOIGIAN").and_then(Value::as_array_mut) {
                    for t in times {
                        t["THOIGIANGIAIQUYET"] = Value::String(amount.to_string());
                        t["DONVITINH"] = Value::String(unit.to_string());
                    }
                }
            }
        }
        true
    }

    /// Changes `n` distinct listed, in-force procedures picked reproducibly from `seed` (fewer
    /// if there are not that many); returns their codes in list order.
    pub fn change_some(&self, n: usize, seed: u64) -> Vec<String> {
        let candidates: Vec<String> = {
            let state = self.state();
            state
                .entries
                .iter()
                .filter(|e| e.listed && e.in_force)
                .map(|e| e.code.clone())
                .collect()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut picked: Vec<usize> =
            rand::seq::index::sample(&mut rng, candidates.len(), n.min(candidates.len()))
                .into_vec();
        picked.sort_unstable();
        picked
            .into_iter()
            .map(|i| candidates[i].clone())
            .filter(|code| self.change(code))
            .collect()
    }

    /// `TRANGTHAI` becomes `"0"`, in the list and in the object. `false` if unknown or removed.
    pub fn withdraw(&self, code: &str) -> bool {
        self.update(code, |entry| {
            if !entry.listed {
                return false;
            }
            set_status(entry, false);
            true
        })
    }

    /// Gone from the list; `LayThuTuc` answers `result: []`. `false` if unknown or already gone.
    pub fn remove(&self, code: &str) -> bool {
        self.update(code, |entry| std::mem::replace(&mut entry.listed, false))
    }

    /// Removes `n` listed procedures that are not fixtures (dossier checks and mappings use
    /// those), spread evenly over the list; returns their codes in list order.
    pub fn remove_many(&self, n: usize) -> Vec<String> {
        let candidates: Vec<String> = {
            let state = self.state();
            state
                .entries
                .iter()
                .filter(|e| e.listed && !e.fixture)
                .map(|e| e.code.clone())
                .collect()
        };
        let n = n.min(candidates.len());
        let picked: Vec<String> = (0..n)
            .map(|k| candidates[k * candidates.len() / n].clone())
            .collect();
        picked.into_iter().filter(|c| self.remove(c)).collect()
    }

    /// Back in force and listed, with the content it had (changes included). `false` if unknown
    /// or already listed in force.
    pub fn restore(&self, code: &str) -> bool {
        self.update(code, |entry| {
            if entry.listed && entry.in_force {
                return false;
            }
            entry.listed = true;
            set_status(entry, true);
            true
        })
    }

    /// Reverses the key order of every object in `code`'s procedure, at every level: the same
    /// content, other bytes on the wire (canonical JSON, hence the gateway's hash, unchanged).
    /// `false` if unknown.
    pub fn reorder_keys(&self, code: &str) -> bool {
        let mut state = self.state();
        let Some(&i) = state.by_code.get(code) else {
            return false;
        };
        reverse_keys(Arc::make_mut(&mut state.entries[i].object));
        true
    }

    /// After `n` more successful `LayThuTuc` answers, every further `LayThuTuc` gets HTTP 503
    /// (with `Retry-After`) until this is called with `None`. `Some(0)` cuts at once.
    pub fn fail_procedure_calls_after(&self, n: Option<usize>) {
        self.state().procedure_calls_left = n;
    }

    /// `LayDanhSachTTHC` calls answered.
    pub fn list_calls(&self) -> u64 {
        self.list_calls.load(Ordering::Relaxed)
    }

    /// `LayThuTuc` calls answered with envelope 0 (an unknown code included; cut calls not).
    pub fn procedure_calls(&self) -> u64 {
        self.procedure_calls.load(Ordering::Relaxed)
    }

    // -----------------------------------------------------------------------------------------
    // What `/share` answers.

    /// The `LayDanhSachTTHC` result array, serialised; built once per change of the list.
    pub(super) fn list_json(&self) -> Bytes {
        let mut state = self.state();
        self.list_calls.fetch_add(1, Ordering::Relaxed);
        if let Some(list) = &state.list {
            return list.clone();
        }
        let rows: Vec<Value> = state
            .entries
            .iter()
            .filter(|e| e.listed)
            .map(|e| {
                json!({"MATTHC": e.code, "TENTTHC": e.name, "TRANGTHAI": if e.in_force { "1" } else { "0" }})
            })
            .collect();
        let bytes = Bytes::from(serde_json::to_vec(&rows).unwrap_or_default());
        state.list = Some(bytes.clone());
        bytes
    }

    /// The `LayThuTuc` object for `code` (`None`: unknown or removed), or the cut.
    pub(super) fn answer_procedure(
        &self,
        code: &str,
    ) -> Result<Option<Arc<Value>>, ProcedureCallsCut> {
        let mut state = self.state();
        match &mut state.procedure_calls_left {
            Some(0) => return Err(ProcedureCallsCut),
            Some(left) => *left -= 1,
            None => {}
        }
        self.procedure_calls.fetch_add(1, Ordering::Relaxed);
        let object = state.by_code.get(code).and_then(|&i| {
            let entry = &state.entries[i];
            entry.listed.then(|| Arc::clone(&entry.object))
        });
        Ok(object)
    }

    /// `LayDanhMucLinhVuc`.
    pub(super) fn fields(&self) -> &Value {
        &self.fields
    }

    /// `LayDanhMucCoQuan`.
    pub(super) fn agencies(&self) -> &Value {
        &self.agencies
    }

    /// The answer to a `/sim/catalog/*` control call: the status and a JSON body.
    pub(super) fn control(&self, action: &str, body: &[u8]) -> (u16, Value) {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Request {
            #[serde(default)]
            codes: Option<Vec<String>>,
            #[serde(default)]
            count: Option<usize>,
            #[serde(default)]
            seed: Option<u64>,
        }
        if !matches!(action, "change" | "withdraw" | "restore" | "remove") {
            return (404, json!({"error": "unknown catalog action"}));
        }
        let request: Request = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => return (400, json!({"error": format!("invalid body: {e}")})),
        };
        let done: Vec<String> = match (action, request.codes, request.count) {
            (_, Some(_), Some(_)) => {
                return (
                    400,
                    json!({"error": "give either codes or count, not both"}),
                )
            }
            ("change", None, Some(n)) => self.change_some(n, request.seed.unwrap_or(0)),
            ("remove", None, Some(n)) => self.remove_many(n),
            (_, None, None) | ("withdraw" | "restore", None, Some(_)) => {
                return (
                    400,
                    json!({"error": "give codes (change and remove also take count)"}),
                )
            }
            (_, Some(codes), None) => {
                let apply = |code: &String| match action {
                    "change" => self.change(code),
                    "withdraw" => self.withdraw(code),
                    "restore" => self.restore(code),
                    _ => self.remove(code),
                };
                let (done, skipped): (Vec<String>, Vec<String>) =
                    codes.into_iter().partition(|c| apply(c));
                return (200, json!({"codes": done, "skipped": skipped}));
            }
            _ => return (404, json!({"error": "unknown catalog action"})),
        };
        (200, json!({"codes": done, "skipped": []}))
    }

    fn update(&self, code: &str, f: impl FnOnce(&mut Entry) -> bool) -> bool {
        let mut state = self.state();
        let Some(&i) = state.by_code.get(code) else {
            return false;
        };
        let changed = f(&mut state.entries[i]);
        if changed {
            state.list = None;
        }
        changed
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing here is left half-written by a panic that matters to a simulator.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn set_status(entry: &mut Entry, in_force: bool) {
    entry.in_force = in_force;
    let status = if in_force { "1" } else { "0" };
    if let Some(v) = Arc::make_mut(&mut entry.object).get_mut("TRANGTHAI") {
        *v = Value::String(status.into());
    }
}

/// Every `PHILEPHI[].SOTIEN` up by a tenth, rounded up to a thousand đồng; `false` if the
/// procedure is free.
fn raise_fees(object: &mut Value) -> bool {
    let mut raised = false;
    for fee in fee_amounts(object) {
        if let Some(amount) = fee.as_str().and_then(|s| s.parse::<u64>().ok()) {
            let up = (amount / 10).div_ceil(1000).max(1) * 1000;
            *fee = Value::String((amount + up).to_string());
            raised = true;
        }
    }
    raised
}

fn fee_amounts(object: &mut Value) -> Vec<&mut Value> {
    let mut out = Vec::new();
    for channel in array_mut(object, "CACHTHUCTHUCHIEN") {
        for time in array_mut(channel, "THOIGIAN") {
            for fee in array_mut(time, "PHILEPHI") {
                if let Some(v) = fee.get_mut("SOTIEN") {
                    out.push(v);
                }
            }
        }
    }
    out
}

/// Every `THOIGIANGIAIQUYET` up by two days.
fn lengthen_deadlines(object: &mut Value) {
    for channel in array_mut(object, "CACHTHUCTHUCHIEN") {
        for time in array_mut(channel, "THOIGIAN") {
            if let Some(v) = time.get_mut("THOIGIANGIAIQUYET") {
                let days = v.as_str().and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
                *v = Value::String((days + 2).to_string());
            }
        }
    }
}

fn array_mut<'a>(value: &'a mut Value, key: &str) -> impl Iterator<Item = &'a mut Value> {
    value
        .get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

fn reverse_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let old = std::mem::take(map);
            let mut reversed: Vec<(String, Value)> = old.into_iter().collect();
            reversed.reverse();
            *map = reversed
                .into_iter()
                .map(|(k, mut v)| {
                    reverse_keys(&mut v);
                    (k, v)
                })
                .collect::<Map<String, Value>>();
        }
        Value::Array(items) => items.iter_mut().for_each(reverse_keys),
        _ => {}
    }
}
