//! The indexer's hot path outside the GIL: an `eth_getLogs` answer parsed and its logs decoded
//! with the contract ABIs into the same values, and the same canonical JSON, as the Python
//! decoder (gateway/indexer/decode.py). Python objects are made only at the end, in one pass.
//!
//! Exactness is kept by refusal, not by imitation of every corner: an answer this code does not
//! recognise as an ordinary one (an error, a removed log, an escaped or non-ASCII string, a
//! number that is not `0x` and up to 16 hex digits) is not parsed here, and the Python path
//! parses it as before. A log it cannot decode the ordinary way (an event no ABI here knows, an
//! event with array or tuple arguments, malformed data, invalid UTF-8 in a string, an integer a
//! JSON number cannot hold) is handed back, and the Python decoder decodes it. The module is
//! tested against the Python path value for value (tests/gateway/test_indexer_native.py).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::intern;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PySet, PyString, PyTuple};
use serde::Deserialize;
use std::collections::HashMap;

mod pg;
mod sqlite;

// ------------------------------------------------------------------ the answer

#[derive(Deserialize)]
struct Reply<'a> {
    #[serde(borrow)]
    result: Option<Vec<WireLog<'a>>>,
    error: Option<serde::de::IgnoredAny>,
}

/// One log as the node sends it. Borrowed strings: a string with a JSON escape fails the parse,
/// and the answer goes to the Python path.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireLog<'a> {
    address: &'a str,
    #[serde(borrow)]
    topics: Vec<&'a str>,
    data: &'a str,
    block_number: &'a str,
    block_hash: &'a str,
    transaction_hash: &'a str,
    transaction_index: &'a str,
    log_index: &'a str,
    #[serde(default)]
    removed: Option<bool>,
}

#[derive(Clone)]
struct Log {
    address: String,
    topics: Vec<String>,
    data: String,
    block_number: u64,
    block_hash: String,
    tx_hash: String,
    tx_index: u64,
    log_index: u64,
}

/// `0x` and 1 to 16 hex digits: the value `int(s, 16)` gives (None for anything else).
fn quantity(s: &str) -> Option<u64> {
    let digits = s.strip_prefix("0x")?;
    if digits.is_empty() || digits.len() > 16 || !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

fn owned(s: &str) -> Option<String> {
    if s.is_ascii() {
        Some(s.to_owned())
    } else {
        None
    }
}

impl Log {
    fn from_wire(w: &WireLog) -> Option<Log> {
        if w.removed == Some(true) {
            return None;
        }
        let mut topics = Vec::with_capacity(w.topics.len());
        for t in &w.topics {
            topics.push(owned(t)?);
        }
        Some(Log {
            address: owned(w.address)?,
            topics,
            data: owned(w.data)?,
            block_number: quantity(w.block_number)?,
            block_hash: owned(w.block_hash)?,
            tx_hash: owned(w.transaction_hash)?,
            tx_index: quantity(w.transaction_index)?,
            log_index: quantity(w.log_index)?,
        })
    }
}

/// The logs of one `eth_getLogs` answer, parsed (see :func:`parse_reply`).
#[pyclass(module = "gateway.indexer._logs")]
struct LogBatch {
    logs: Vec<Log>,
}

fn parse(body: &[u8]) -> Option<Vec<Log>> {
    let reply: Reply = serde_json::from_slice(body).ok()?;
    if reply.error.is_some() {
        return None;
    }
    let wire = reply.result?;
    let mut logs = Vec::with_capacity(wire.len());
    for w in &wire {
        logs.push(Log::from_wire(w)?);
    }
    Some(logs)
}

/// The logs of a JSON-RPC `eth_getLogs` reply body, parsed without the GIL; None when the body is
/// anything but an ordinary answer (then the caller parses it the Python way).
#[pyfunction]
fn parse_reply(py: Python<'_>, body: &[u8]) -> Option<LogBatch> {
    py.detach(|| parse(body)).map(|logs| LogBatch { logs })
}

#[pymethods]
impl LogBatch {
    fn __len__(&self) -> usize {
        self.logs.len()
    }

    /// {block number: number of its logs}
    fn block_counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let mut counts: Vec<(u64, usize)> = Vec::new();
        for log in &self.logs {
            match counts.last_mut() {
                Some((n, c)) if *n == log.block_number => *c += 1,
                _ => counts.push((log.block_number, 1)),
            }
        }
        let out = PyDict::new(py);
        for (n, c) in counts {
            let prev: usize = match out.get_item(n)? {
                Some(v) => v.extract()?,
                None => 0,
            };
            out.set_item(n, prev + c)?;
        }
        Ok(out)
    }

    /// The logs cut into ``len(cuts) + 1`` batches, in order: a log goes to the batch whose index
    /// is the number of ``cuts`` (sorted block numbers) below its block. This batch is left empty.
    fn split(&mut self, cuts: Vec<u64>) -> PyResult<Vec<LogBatch>> {
        if cuts.windows(2).any(|w| w[0] > w[1]) {
            return Err(PyValueError::new_err("cuts must be sorted"));
        }
        let mut parts: Vec<LogBatch> = (0..=cuts.len()).map(|_| LogBatch { logs: Vec::new() }).collect();
        for log in std::mem::take(&mut self.logs) {
            let i = cuts.partition_point(|&c| c < log.block_number);
            parts[i].logs.push(log);
        }
        Ok(parts)
    }

    /// The log at ``i`` as the node sent it (a dict of hex strings), for the Python decoder.
    fn log_dict<'py>(&self, py: Python<'py>, i: usize) -> PyResult<Bound<'py, PyDict>> {
        let log = self.logs.get(i).ok_or_else(|| PyValueError::new_err("no such log"))?;
        let d = PyDict::new(py);
        d.set_item("address", &log.address)?;
        d.set_item("topics", PyList::new(py, &log.topics)?)?;
        d.set_item("data", &log.data)?;
        d.set_item("blockNumber", format!("0x{:x}", log.block_number))?;
        d.set_item("blockHash", &log.block_hash)?;
        d.set_item("transactionHash", &log.tx_hash)?;
        d.set_item("transactionIndex", format!("0x{:x}", log.tx_index))?;
        d.set_item("logIndex", format!("0x{:x}", log.log_index))?;
        d.set_item("removed", false)?;
        Ok(d)
    }

    /// Whether the logs are in (block number, log index) order, each once.
    fn is_sorted(&self) -> bool {
        self.logs.windows(2).all(|w| (w[0].block_number, w[0].log_index) < (w[1].block_number, w[1].log_index))
    }

    /// Every log as :meth:`log_dict` gives it.
    fn to_dicts<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        (0..self.logs.len()).map(|i| self.log_dict(py, i)).collect()
    }
}

// ------------------------------------------------------------------ the ABI

/// How one argument is read (gateway/indexer/decode.py's `_topic_expr` and `_data_expr`).
#[derive(Clone, Copy)]
enum Op {
    Address,
    Bool,
    /// a JSON number: uintN, N <= 53
    UintNumber,
    /// a decimal string: uintN, N > 53
    UintString,
    /// intN: a number when N <= 53 (true), else a decimal string
    Int(bool),
    /// bytesN: the first N bytes
    BytesN(usize),
    /// topic of a dynamic type (bytes, string, array, tuple): its hash as sent
    TopicHash,
    /// data: bytes
    Bytes,
    /// data: string
    Str,
}

fn op_of(typ: &str, topic: bool) -> Option<Op> {
    fn bits(digits: &str) -> Option<u32> {
        if digits.is_empty() {
            Some(256)
        } else {
            digits.parse().ok()
        }
    }
    if typ.ends_with(']') || typ.starts_with('(') {
        return if topic { Some(Op::TopicHash) } else { None };
    }
    Some(match typ {
        "address" => Op::Address,
        "bool" => Op::Bool,
        "bytes" => if topic { Op::TopicHash } else { Op::Bytes },
        "string" => if topic { Op::TopicHash } else { Op::Str },
        t if t.starts_with("uint") => {
            if bits(&t[4..])? <= 53 { Op::UintNumber } else { Op::UintString }
        }
        t if t.starts_with("int") => Op::Int(bits(&t[3..])? <= 53),
        t if t.starts_with("bytes") => {
            let n: usize = t[5..].parse().ok()?;
            if n == 0 || n > 32 {
                return None;
            }
            Op::BytesN(n)
        }
        _ => return None,
    })
}

struct Spec {
    name: String,
    name_py: Py<PyString>,
    /// the arguments' names, indexed ones first, each in ABI order (the args dict's order)
    keys: Vec<Py<PyString>>,
    /// argument positions in the order of their names (the canonical JSON's order), each with
    /// its `"name":` JSON text
    json_order: Vec<(usize, String)>,
    topic_ops: Vec<Op>,
    data_ops: Vec<Op>,
}

/// The followed contracts' events, looked up as gateway.indexer.decode.Decoder looks them up.
#[pyclass(module = "gateway.indexer._logs")]
struct Decoder {
    /// address -> contract name
    names: HashMap<String, (String, Py<PyString>)>,
    /// address -> (topic0, #topics) -> spec
    by_address: HashMap<String, HashMap<(String, usize), usize>>,
    /// (topic0, #topics) -> spec of any followed contract (for a log of another address)
    by_topic: HashMap<(String, usize), usize>,
    /// None: an event this module does not decode (the Python decoder does)
    specs: Vec<Option<Spec>>,
    empty: Py<PyString>,
    event_type: Py<PyAny>,
}

/// Where the decoded values of a batch are kept: every text value in one string, every JSON in
/// another, every value in one vector (no allocation per log).
#[derive(Default)]
struct Arena {
    text: String,
    json: String,
    vals: Vec<Val>,
}

enum Val {
    /// a string: ``text[start..end]``
    Text(usize, usize),
    UInt(u64),
    Int(i64),
    Bool(bool),
}

struct Decoded {
    spec: usize,
    /// ``vals[..]`` of this log
    vals: (usize, usize),
    /// ``json[..]`` of this log
    json: (usize, usize),
    /// whether the log's address has a contract name
    named: bool,
}

#[pymethods]
impl Decoder {
    /// ``names``: {address: contract name}; ``specs``: [(event name, decodable here, [(arg name,
    /// ABI type)] of the indexed arguments, of the data arguments)]; ``by_address``: [(address,
    /// topic0, #topics, spec index)]; ``by_topic``: [(topic0, #topics, spec index)]; ``event_type``:
    /// the class of a decoded event, called with the nine fields of ``DecodedEvent`` in its order.
    #[new]
    fn new(
        py: Python<'_>,
        names: HashMap<String, String>,
        specs: Vec<(String, bool, Vec<(String, String)>, Vec<(String, String)>)>,
        by_address: Vec<(String, String, usize, usize)>,
        by_topic: Vec<(String, usize, usize)>,
        event_type: Py<PyAny>,
    ) -> PyResult<Self> {
        let mut built = Vec::with_capacity(specs.len());
        for (name, decodable, indexed, data) in specs {
            let topic_ops: Option<Vec<Op>> = indexed.iter().map(|(_, t)| op_of(t, true)).collect();
            let data_ops: Option<Vec<Op>> = data.iter().map(|(_, t)| op_of(t, false)).collect();
            let names: Vec<&String> = indexed.iter().chain(data.iter()).map(|(n, _)| n).collect();
            let mut order: Vec<usize> = (0..names.len()).collect();
            order.sort_by(|&a, &b| names[a].cmp(names[b]));
            // a name given twice: the Python decoder decodes it (a dict keeps one of the two)
            let unique = order.windows(2).all(|w| names[w[0]] != names[w[1]]);
            built.push(match (topic_ops, data_ops) {
                (Some(topic_ops), Some(data_ops)) if decodable && unique => Some(Spec {
                    name_py: PyString::intern(py, &name).unbind(),
                    name,
                    keys: names.iter().map(|n| PyString::intern(py, n).unbind()).collect(),
                    json_order: order
                        .iter()
                        .enumerate()
                        .map(|(k, &i)| {
                            let mut key = String::from(if k == 0 { "" } else { "," });
                            json_string(&mut key, names[i]);
                            key.push(':');
                            (i, key)
                        })
                        .collect(),
                    topic_ops,
                    data_ops,
                }),
                _ => None,
            });
        }
        let check = |i: usize| {
            if i < built.len() { Ok(i) } else { Err(PyValueError::new_err("spec index out of range")) }
        };
        let mut table: HashMap<String, HashMap<(String, usize), usize>> = HashMap::new();
        for (address, topic0, n, i) in by_address {
            table.entry(address).or_default().insert((topic0, n), check(i)?);
        }
        let mut any = HashMap::new();
        for (topic0, n, i) in by_topic {
            any.insert((topic0, n), check(i)?);
        }
        Ok(Decoder {
            names: names.into_iter().map(|(a, n)| {
                let py_name = PyString::intern(py, &n).unbind();
                (a, (n, py_name))
            }).collect(),
            by_address: table,
            by_topic: any,
            specs: built,
            empty: PyString::intern(py, "").unbind(),
            event_type,
        })
    }

    /// Decode every log of ``batch``: ``(events, args_json, left, copy_text)``, in the batch's
    /// order. ``events[i]`` is the ``DecodedEvent`` of log ``i`` and ``args_json[i]`` the canonical
    /// JSON of its arguments, or both None for a log this module leaves to the Python decoder;
    /// ``left`` lists those logs' indexes.
    ///
    /// With ``copy`` set, when no log is left and the logs are in (block, log index) order,
    /// ``copy_text`` is the ``events`` table's rows in PostgreSQL's COPY text format (as
    /// gateway.indexer.rows.event_rows makes them) and ``args_json`` is None; otherwise
    /// ``copy_text`` is None.
    #[pyo3(signature = (batch, copy=false))]
    #[allow(clippy::type_complexity)]
    fn decode<'py>(
        &self,
        py: Python<'py>,
        batch: &LogBatch,
        copy: bool,
    ) -> PyResult<(Bound<'py, PyList>, Option<Bound<'py, PyList>>, Vec<usize>, Option<Bound<'py, PyBytes>>)> {
        let logs = &batch.logs;
        let (decoded, arena, text) = py.detach(|| {
            let mut arena = Arena::default();
            let mut cache = Vec::new();
            let decoded: Vec<Option<Decoded>> = logs.iter().map(|log| self.decode_log(&mut arena, &mut cache, log)).collect();
            let text = if copy && decoded.iter().all(|d| d.is_some()) && batch.is_sorted() {
                Some(self.copy_text(logs, &decoded, &arena))
            } else {
                None
            };
            (decoded, arena, text)
        });
        let events = PyList::empty(py);
        let jsons = if text.is_none() { Some(PyList::empty(py)) } else { None };
        let (mut last_block, mut last_tx) = (None, None);
        // the few addresses: one string each
        let mut addresses: Vec<(&str, Bound<'py, PyString>)> = Vec::new();
        let event_type = self.event_type.bind(py);
        let mut left = Vec::new();
        for (i, (log, d)) in logs.iter().zip(decoded).enumerate() {
            let Some(d) = d else {
                left.push(i);
                events.append(py.None())?;
                if let Some(jsons) = &jsons {
                    jsons.append(py.None())?;
                }
                continue;
            };
            let spec = self.specs[d.spec].as_ref().expect("decoded by a spec");
            let args = PyDict::new(py);
            for (key, val) in spec.keys.iter().zip(&arena.vals[d.vals.0..d.vals.1]) {
                let key = key.bind(py);
                match *val {
                    Val::Text(a, b) => args.set_item(key, PyString::new(py, &arena.text[a..b]))?,
                    Val::UInt(v) => args.set_item(key, v)?,
                    Val::Int(v) => args.set_item(key, v)?,
                    Val::Bool(v) => args.set_item(key, v)?,
                }
            }
            let block_hash = lowered(py, &mut last_block, &log.block_hash);
            let tx_hash = lowered(py, &mut last_tx, &log.tx_hash);
            let address = match addresses.iter().find(|a| a.0 == log.address) {
                Some((_, address)) => address.clone(),
                None => {
                    let address = PyString::new(py, &log.address.to_ascii_lowercase());
                    if addresses.len() < 256 {
                        addresses.push((&log.address, address.clone()));
                    }
                    address
                }
            };
            let contract = if d.named { self.names[address.to_str()?].1.bind(py).clone() } else { self.empty.bind(py).clone() };
            let fields = PyTuple::new(
                py,
                [
                    log.block_number.into_pyobject(py)?.into_any(),
                    block_hash.into_any(),
                    tx_hash.into_any(),
                    log.tx_index.into_pyobject(py)?.into_any(),
                    log.log_index.into_pyobject(py)?.into_any(),
                    address.into_any(),
                    contract.into_any(),
                    spec.name_py.bind(py).clone().into_any(),
                    args.into_any(),
                ],
            )?;
            events.append(event_type.call1(fields)?)?;
            if let Some(jsons) = &jsons {
                jsons.append(PyString::new(py, &arena.json[d.json.0..d.json.1]))?;
            }
        }
        let text = text.map(|t| PyBytes::new(py, t.as_bytes()));
        Ok((events, jsons, left, text))
    }
}

/// ``raw`` lowercased: the string object of the last value of its kind when ``raw`` is that
/// value again (a block's hash, or a transaction's, repeats on each of its consecutive logs)
fn lowered<'a, 'py>(py: Python<'py>, last: &mut Option<(&'a str, Bound<'py, PyString>)>, raw: &'a str) -> Bound<'py, PyString> {
    if let Some((prev, s)) = last {
        if *prev == raw {
            return s.clone();
        }
    }
    let s = PyString::new(py, &raw.to_ascii_lowercase());
    *last = Some((raw, s.clone()));
    s
}

// ------------------------------------------------------------------ decoding one log

fn nibble(c: u8) -> Option<u64> {
    match c {
        b'0'..=b'9' => Some((c - b'0') as u64),
        b'a'..=b'f' => Some((c - b'a' + 10) as u64),
        b'A'..=b'F' => Some((c - b'A' + 10) as u64),
        _ => None,
    }
}

/// A 32-byte word as four big-endian u64 limbs, from exactly 64 hex digits.
fn word(hex: &str) -> Option<[u64; 4]> {
    let b = hex.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut limbs = [0u64; 4];
    for (i, limb) in limbs.iter_mut().enumerate() {
        let mut v = 0u64;
        for &c in &b[16 * i..16 * i + 16] {
            v = (v << 4) | nibble(c)?;
        }
        *limb = v;
    }
    Some(limbs)
}

fn is_zero(w: &[u64; 4]) -> bool {
    w.iter().all(|&l| l == 0)
}

fn push_u64(out: &mut String, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[i..]).expect("ASCII digits"));
}

/// The decimal digits of a 256-bit word.
fn push_decimal(out: &mut String, mut w: [u64; 4]) {
    if w[0] == 0 && w[1] == 0 && w[2] == 0 {
        push_u64(out, w[3]);
        return;
    }
    const TEN19: u128 = 10_000_000_000_000_000_000;
    let mut chunks: Vec<u64> = Vec::new();
    while !is_zero(&w) {
        let mut rem: u128 = 0;
        for limb in w.iter_mut() {
            let cur = (rem << 64) | (*limb as u128);
            *limb = (cur / TEN19) as u64;
            rem = cur % TEN19;
        }
        chunks.push(rem as u64);
    }
    push_u64(out, chunks.pop().expect("a non-zero word has digits"));
    for &c in chunks.iter().rev() {
        let start = out.len();
        push_u64(out, c);
        let pad = 19 - (out.len() - start);
        out.insert_str(start, &"0".repeat(pad));
    }
}

fn negate(w: [u64; 4]) -> [u64; 4] {
    let mut out = [0u64; 4];
    let mut carry = 1u64;
    for i in (0..4).rev() {
        let (v, c) = (!w[i]).overflowing_add(carry);
        out[i] = v;
        carry = c as u64;
    }
    out
}

/// The lowercase of ``s``, appended.
fn push_lower(out: &mut String, s: &str) {
    if s.bytes().any(|c| c.is_ascii_uppercase()) {
        out.extend(s.chars().map(|c| c.to_ascii_lowercase()));
    } else {
        out.push_str(s);
    }
}

impl Arena {
    fn text_val(&mut self, write: impl FnOnce(&mut String)) -> Val {
        let start = self.text.len();
        write(&mut self.text);
        Val::Text(start, self.text.len())
    }

    /// Python's value of a word read as ``uint`` (None: a JSON number cannot hold it).
    fn uint(&mut self, w: [u64; 4], number: bool) -> Option<Val> {
        if number {
            if w[0] == 0 && w[1] == 0 && w[2] == 0 {
                Some(Val::UInt(w[3]))
            } else {
                None
            }
        } else {
            Some(self.text_val(|t| push_decimal(t, w)))
        }
    }

    /// Python's value of a word read as ``int`` (two's complement).
    fn int(&mut self, w: [u64; 4], number: bool) -> Option<Val> {
        let negative = w[0] >> 63 == 1;
        if !negative {
            return self.uint(w, number);
        }
        let m = negate(w);
        if number {
            if m[0] == 0 && m[1] == 0 && m[2] == 0 && m[3] <= 1u64 << 63 {
                Some(Val::Int((m[3] as i64).wrapping_neg()))
            } else {
                None
            }
        } else {
            Some(self.text_val(|t| {
                t.push('-');
                push_decimal(t, m)
            }))
        }
    }

    /// One indexed argument; ``t`` is "0x" and 64 hex digits (checked by the caller).
    fn topic(&mut self, op: Op, t: &str) -> Option<Val> {
        let hex = &t[2..];
        Some(match op {
            Op::Address => self.text_val(|o| {
                o.push_str("0x");
                push_lower(o, &hex[24..]);
            }),
            Op::Bool => Val::Bool(hex.bytes().any(|c| c != b'0')),
            Op::UintNumber => return self.uint(word(hex)?, true),
            Op::UintString => return self.uint(word(hex)?, false),
            Op::Int(number) => return self.int(word(hex)?, number),
            Op::BytesN(n) => self.text_val(|o| push_lower(o, &t[..2 + 2 * n])),
            Op::TopicHash => self.text_val(|o| push_lower(o, t)),
            Op::Bytes | Op::Str => return None,
        })
    }

    /// One data argument; ``d``: the lowercased data, "0x" and hex digits, long enough for every
    /// head word; ``start``: the argument's head word offset in ``d``.
    fn data(&mut self, op: Op, d: &str, start: usize) -> Option<Val> {
        let w = &d[start..start + 64];
        Some(match op {
            Op::Address => self.text_val(|o| {
                o.push_str("0x");
                o.push_str(&w[24..]);
            }),
            Op::Bool => Val::Bool(w.bytes().any(|c| c != b'0')),
            Op::UintNumber => return self.uint(word(w)?, true),
            Op::UintString => return self.uint(word(w)?, false),
            Op::Int(number) => return self.int(word(w)?, number),
            Op::BytesN(n) => self.text_val(|o| {
                o.push_str("0x");
                o.push_str(&w[..2 * n]);
            }),
            Op::Bytes | Op::Str => {
                // the offset and length words, read as Python's _dyn_hex reads them, when both are whole
                let small = |w: [u64; 4]| if w[0] == 0 && w[1] == 0 && w[2] == 0 && w[3] <= d.len() as u64 { Some(w[3] as usize) } else { None };
                let ptr = 2 + 2 * small(word(w)?)?;
                if ptr + 64 > d.len() {
                    return None;
                }
                let len = small(word(&d[ptr..ptr + 64])?)?;
                let end = ptr + 64 + 2 * len;
                if end > d.len() {
                    return None;
                }
                let raw = &d[ptr + 64..end];
                if let Op::Bytes = op {
                    self.text_val(|o| {
                        o.push_str("0x");
                        o.push_str(raw);
                    })
                } else {
                    let raw = raw.as_bytes();
                    let bytes: Vec<u8> = (0..raw.len() / 2)
                        .map(|i| nibble(raw[2 * i]).zip(nibble(raw[2 * i + 1])).map(|(h, l)| (h << 4 | l) as u8))
                        .collect::<Option<_>>()?;
                    // invalid UTF-8: Python's errors="replace" is left to Python
                    let s = std::str::from_utf8(&bytes).ok()?;
                    self.text_val(|o| o.push_str(s))
                }
            }
            Op::TopicHash => return None,
        })
    }
}

fn is_topic(t: &str) -> bool {
    t.len() == 66 && t.starts_with("0x") && t[2..].bytes().all(|c| c.is_ascii_hexdigit())
}

/// (raw address, raw topic0, #topics) -> (spec, whether the address has a contract name)
type RouteCache<'a> = Vec<(&'a str, &'a str, usize, Option<(usize, bool)>)>;

impl Decoder {
    fn route(&self, address: &str, topic0: &str, n: usize) -> Option<usize> {
        let key = (topic0.to_owned(), n);
        if let Some(table) = self.by_address.get(address) {
            if let Some(&i) = table.get(&key) {
                return Some(i);
            }
        }
        self.by_topic.get(&key).copied()
    }

    /// The spec of ``log`` (:meth:`route`) and whether its address is a followed contract's,
    /// memoised in ``cache`` by the raw address and topic0.
    fn cached_route<'a>(&self, cache: &mut RouteCache<'a>, log: &'a Log) -> Option<(usize, bool)> {
        let topic0 = log.topics.first()?.as_str();
        let n = log.topics.len();
        let address = log.address.as_str();
        if let Some(hit) = cache.iter().find(|c| c.2 == n && c.1 == topic0 && c.0 == address) {
            return hit.3;
        }
        let lower = address.to_ascii_lowercase();
        let index = self.route(&lower, &topic0.to_ascii_lowercase(), n).map(|i| (i, self.names.contains_key(&lower)));
        if cache.len() < 256 {
            cache.push((address, topic0, n, index));
        }
        index
    }

    /// ``log`` decoded into ``arena`` (None, and the arena as it was: left to Python).
    fn decode_log<'a>(&self, arena: &mut Arena, cache: &mut RouteCache<'a>, log: &'a Log) -> Option<Decoded> {
        let (index, named) = self.cached_route(cache, log)?;
        let spec = self.specs[index].as_ref()?;
        if !log.topics[1..].iter().all(|t| is_topic(t)) {
            return None;
        }
        let (text0, vals0, json0) = (arena.text.len(), arena.vals.len(), arena.json.len());
        let decoded = self.decode_values(arena, spec, log);
        if decoded.is_none() {
            arena.text.truncate(text0);
            arena.vals.truncate(vals0);
            arena.json.truncate(json0);
            return None;
        }
        Some(Decoded { spec: index, vals: (vals0, arena.vals.len()), json: (json0, arena.json.len()), named })
    }

    fn decode_values(&self, arena: &mut Arena, spec: &Spec, log: &Log) -> Option<()> {
        let vals0 = arena.vals.len();
        for (op, t) in spec.topic_ops.iter().zip(&log.topics[1..]) {
            let v = arena.topic(*op, t)?;
            arena.vals.push(v);
        }
        if !spec.data_ops.is_empty() {
            let d = &log.data;
            if d.len() < 2 + 64 * spec.data_ops.len() || !d.starts_with("0x") || !d[2..].bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            let lower;
            let d = if d.bytes().any(|c| c.is_ascii_uppercase()) {
                lower = d.to_ascii_lowercase();
                lower.as_str()
            } else {
                d.as_str()
            };
            for (i, op) in spec.data_ops.iter().enumerate() {
                let v = arena.data(*op, d, 2 + 64 * i)?;
                arena.vals.push(v);
            }
        }
        // decode.canonical_json of the arguments dict: sorted keys, no whitespace, UTF-8 as is
        let Arena { text, json, vals } = arena;
        let vals = &vals[vals0..];
        json.push('{');
        for (i, key) in &spec.json_order {
            json.push_str(key);
            match vals[*i] {
                Val::Text(a, b) => json_string(json, &text[a..b]),
                Val::UInt(n) => push_u64(json, n),
                Val::Int(n) => {
                    if n < 0 {
                        json.push('-');
                    }
                    push_u64(json, n.unsigned_abs());
                }
                Val::Bool(b) => json.push_str(if b { "true" } else { "false" }),
            }
        }
        json.push('}');
        Some(())
    }

    /// The ``events`` rows of ``logs`` (every one decoded) in COPY's text format: the same bytes
    /// as gateway.indexer.rows.event_rows.
    fn copy_text(&self, logs: &[Log], decoded: &[Option<Decoded>], arena: &Arena) -> String {
        let mut out = String::with_capacity(logs.len() * 480);
        let mut address = String::new();
        for (log, d) in logs.iter().zip(decoded) {
            let d = d.as_ref().expect("every log decoded");
            let spec = self.specs[d.spec].as_ref().expect("decoded by a spec");
            address.clear();
            push_lower(&mut address, &log.address);
            push_u64(&mut out, log.block_number);
            out.push('\t');
            push_u64(&mut out, log.log_index);
            out.push('\t');
            copy_escaped(&mut out, &log.block_hash, true);
            out.push('\t');
            copy_escaped(&mut out, &log.tx_hash, true);
            out.push('\t');
            push_u64(&mut out, log.tx_index);
            out.push('\t');
            copy_escaped(&mut out, &address, false);
            out.push('\t');
            if d.named {
                copy_escaped(&mut out, &self.names[&address].0, false);
            }
            out.push('\t');
            copy_escaped(&mut out, &spec.name, false);
            out.push('\t');
            copy_escaped(&mut out, &arena.json[d.json.0..d.json.1], false);
            out.push('\n');
        }
        out
    }
}

/// ``s`` (lowercased) in PostgreSQL's COPY text format: backslash, tab, newline and CR escaped
/// (gateway.indexer.rows.copy_escape).
fn copy_escaped(out: &mut String, s: &str, lower: bool) {
    if !s.bytes().any(|c| c == b'\\' || c == b'\t' || c == b'\n' || c == b'\r' || (lower && c.is_ascii_uppercase())) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if lower => out.push(c.to_ascii_lowercase()),
            c => out.push(c),
        }
    }
}

// ------------------------------------------------------------------ canonical JSON

/// A JSON string as orjson writes it: ``"``, ``\`` and control characters escaped, the rest as is.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(s);
        out.push('"');
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

// ------------------------------------------------------------------ voucher projections

/// ``int(value)`` for the values the decoder gives a uint argument: an exact ``int`` as it is, a
/// string of 1 to 18 ASCII digits as its number. None for anything else (a bool, a longer or
/// unusual string...): the caller leaves the event to the Python projection, which calls ``int``.
fn voucher_int<'py>(py: Python<'py>, value: &Bound<'py, PyAny>) -> Option<Bound<'py, PyAny>> {
    if value.is_exact_instance_of::<PyInt>() {
        return Some(value.clone());
    }
    let s = value.cast_exact::<PyString>().ok()?.to_str().ok()?;
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: u64 = s.parse().ok()?;
    Some(n.into_pyobject(py).ok()?.into_any())
}

/// The projections of DataVoucher's ``VoucherIssued`` and ``Transfer`` (projections.voucher_issued
/// and projections.voucher_transfer, with BatchRows.get / put / append), compiled: from
/// ``events[start]`` on, as long as the event is one of those two and an ordinary one. Returns
/// ``(next, projected)``: the index of the first event it left (another event, or one of those two
/// whose arguments are not all there and of the usual types, or whose voucher row is not loaded
/// yet), which the caller projects the Python way, and the number it projected. It changes
/// nothing for the event it leaves. ``cache``: BatchRows.rows["vouchers"]; ``undo``: BatchRows.undo;
/// ``dirty``: BatchRows.dirty["vouchers"]; ``transfers``: BatchRows.appended["voucher_transfers"].
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn project_vouchers<'py>(
    py: Python<'py>,
    events: &Bound<'py, PyList>,
    start: usize,
    cache: &Bound<'py, PyDict>,
    undo: &Bound<'py, PyDict>,
    dirty: &Bound<'py, PySet>,
    transfers: &Bound<'py, PyList>,
    record_undo: bool,
) -> PyResult<(usize, usize)> {
    let n = events.len();
    let mut i = start;
    let mut projected = 0usize;
    let rows = VoucherRows { cache, undo, dirty, record_undo };
    let voucher_template = PyDict::new(py);
    for k in ["voucher_id", "asset_id", "issuer", "holder", "right", "scope_hash", "valid_from", "valid_until",
              "max_uses", "uses", "transferable", "status", "issued_block", "issued_tx", "issued_at", "updated_block"] {
        voucher_template.set_item(PyString::intern(py, k), py.None())?;
    }
    let transfer_template = PyDict::new(py);
    for k in ["block_number", "log_index", "voucher_id", "from_address", "to_address", "tx_hash"] {
        transfer_template.set_item(PyString::intern(py, k), py.None())?;
    }
    while i < n {
        let ev = events.get_item(i)?;
        let contract = ev.getattr(intern!(py, "contract"))?;
        match contract.cast_exact::<PyString>() {
            Ok(c) if c.to_str()? == "DataVoucher" => {}
            _ => break,
        }
        let name = ev.getattr(intern!(py, "name"))?;
        let issued = match name.cast_exact::<PyString>() {
            Ok(s) => match s.to_str()? {
                "VoucherIssued" => true,
                "Transfer" => false,
                _ => break,
            },
            Err(_) => break,
        };
        let args = ev.getattr(intern!(py, "args"))?;
        let Ok(args) = args.cast_exact::<PyDict>() else { break };
        let arg = |k: &Bound<'py, PyString>| args.get_item(k);
        let block = ev.getattr(intern!(py, "block_number"))?;
        if issued {
            let (Some(vid), Some(asset), Some(issuer), Some(holder), Some(right), Some(scope), Some(from), Some(until),
                 Some(max_uses), Some(transferable)) = (
                arg(intern!(py, "voucherId"))?, arg(intern!(py, "assetId"))?, arg(intern!(py, "issuer"))?,
                arg(intern!(py, "holder"))?, arg(intern!(py, "right"))?, arg(intern!(py, "scopeHash"))?,
                arg(intern!(py, "validFrom"))?, arg(intern!(py, "validUntil"))?, arg(intern!(py, "maxUses"))?,
                arg(intern!(py, "transferable"))?,
            ) else { break };
            let (Some(vid), Some(asset)) = (voucher_int(py, &vid), voucher_int(py, &asset)) else { break };
            let key = PyTuple::new(py, [&vid])?;
            let Some(existing) = cache.get_item(&key)? else { break }; // not loaded: Python loads it
            let holder = if existing.is_none() {
                holder
            } else {
                let Ok(existing) = existing.cast_exact::<PyDict>() else { break };
                let Some(h) = existing.get_item(intern!(py, "holder"))? else { break };
                h
            };
            let row = voucher_template.copy()?; // (its keys in place: no table growth)
            row.set_item(intern!(py, "voucher_id"), &vid)?;
            row.set_item(intern!(py, "asset_id"), &asset)?;
            row.set_item(intern!(py, "issuer"), issuer)?;
            row.set_item(intern!(py, "holder"), holder)?;
            row.set_item(intern!(py, "right"), right)?;
            row.set_item(intern!(py, "scope_hash"), scope)?;
            row.set_item(intern!(py, "valid_from"), from)?;
            row.set_item(intern!(py, "valid_until"), until)?;
            row.set_item(intern!(py, "max_uses"), max_uses)?;
            row.set_item(intern!(py, "uses"), 0)?;
            row.set_item(intern!(py, "transferable"), transferable)?;
            row.set_item(intern!(py, "status"), intern!(py, "active"))?;
            row.set_item(intern!(py, "issued_block"), &block)?;
            row.set_item(intern!(py, "issued_tx"), ev.getattr(intern!(py, "tx_hash"))?)?;
            row.set_item(intern!(py, "issued_at"), ev.getattr(intern!(py, "timestamp"))?)?;
            row.set_item(intern!(py, "updated_block"), &block)?;
            rows.put(py, &block, &key, &existing, row)?;
        } else {
            let (Some(token), Some(to), Some(from)) =
                (arg(intern!(py, "tokenId"))?, arg(intern!(py, "to"))?, arg(intern!(py, "from"))?) else { break };
            let Some(vid) = voucher_int(py, &token) else { break };
            let key = PyTuple::new(py, [&vid])?;
            let Some(voucher) = cache.get_item(&key)? else { break };
            if !voucher.is_none() {
                let Ok(old) = voucher.cast_exact::<PyDict>() else { break };
                let row = old.copy()?;
                row.set_item(intern!(py, "holder"), &to)?;
                row.set_item(intern!(py, "updated_block"), &block)?;
                rows.put(py, &block, &key, &voucher, row)?;
            }
            let t = transfer_template.copy()?;
            t.set_item(intern!(py, "block_number"), &block)?;
            t.set_item(intern!(py, "log_index"), ev.getattr(intern!(py, "log_index"))?)?;
            t.set_item(intern!(py, "voucher_id"), &vid)?;
            t.set_item(intern!(py, "from_address"), from)?;
            t.set_item(intern!(py, "to_address"), to)?;
            t.set_item(intern!(py, "tx_hash"), ev.getattr(intern!(py, "tx_hash"))?)?;
            transfers.append(t)?;
        }
        projected += 1;
        i += 1;
    }
    Ok((i, projected))
}

/// The ``vouchers`` rows DataVoucher's ``VoucherIssued`` and ``Transfer`` events read
/// (projections.reads_of for those two handlers), added to ``keys`` in the order of the events;
/// returns the other events (and those two with unusual arguments), for the Python loop.
#[pyfunction]
fn voucher_reads<'py>(py: Python<'py>, events: &Bound<'py, PyList>, keys: &Bound<'py, PySet>) -> PyResult<Bound<'py, PyList>> {
    let rest = PyList::empty(py);
    for ev in events.iter() {
        if let Some(vid) = voucher_read(py, &ev)? {
            keys.add(PyTuple::new(py, [vid])?)?;
        } else {
            rest.append(ev)?;
        }
    }
    Ok(rest)
}

fn voucher_read<'py>(py: Python<'py>, ev: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    match ev.getattr(intern!(py, "contract"))?.cast_exact::<PyString>() {
        Ok(c) if c.to_str()? == "DataVoucher" => {}
        _ => return Ok(None),
    }
    let id_arg = match ev.getattr(intern!(py, "name"))?.cast_exact::<PyString>() {
        Ok(s) => match s.to_str()? {
            "VoucherIssued" => intern!(py, "voucherId"),
            "Transfer" => intern!(py, "tokenId"),
            _ => return Ok(None),
        },
        Err(_) => return Ok(None),
    };
    let args = ev.getattr(intern!(py, "args"))?;
    let Ok(args) = args.cast_exact::<PyDict>() else { return Ok(None) };
    Ok(args.get_item(id_arg)?.and_then(|v| voucher_int(py, &v)))
}

/// The ``vouchers`` parts of a BatchRows that a put changes.
struct VoucherRows<'a, 'py> {
    cache: &'a Bound<'py, PyDict>,
    undo: &'a Bound<'py, PyDict>,
    dirty: &'a Bound<'py, PySet>,
    record_undo: bool,
}

impl<'py> VoucherRows<'_, 'py> {
    /// BatchRows.put of a ``vouchers`` row whose key is loaded (``before``: the row it replaces).
    fn put(
        &self,
        py: Python<'py>,
        block: &Bound<'py, PyAny>,
        key: &Bound<'py, PyTuple>,
        before: &Bound<'py, PyAny>,
        row: Bound<'py, PyDict>,
    ) -> PyResult<()> {
        if self.record_undo {
            let group_key = PyTuple::new(py, [block.clone(), intern!(py, "vouchers").clone().into_any()])?;
            let group = match self.undo.get_item(&group_key)? {
                Some(g) => g.cast_into::<PyDict>()?,
                None => {
                    let g = PyDict::new(py);
                    self.undo.set_item(&group_key, &g)?;
                    g
                }
            };
            if !group.contains(key)? {
                group.set_item(key, before)?;
            }
        }
        self.cache.set_item(key, row)?;
        self.dirty.add(key)
    }
}

// ------------------------------------------------------------------ COPY rows

/// The values of ``row`` into ``out``: a tuple's, or a dict's in the order of ``columns``;
/// false for a dict without one of them (or a dict with no ``columns``).
pub(crate) fn row_values<'py>(
    row: &Bound<'py, PyAny>,
    columns: Option<&[Bound<'py, PyString>]>,
    out: &mut Vec<Bound<'py, PyAny>>,
) -> PyResult<bool> {
    out.clear();
    if let Ok(d) = row.cast_exact::<PyDict>() {
        let Some(columns) = columns else { return Ok(false) };
        for c in columns {
            match d.get_item(c)? {
                Some(v) => out.push(v),
                None => return Ok(false),
            }
        }
        return Ok(true);
    }
    out.extend(row.cast::<PyTuple>()?.iter());
    Ok(true)
}

/// Rows of Python values (``None``, ``bool``, ``int``, ``str``) in PostgreSQL's COPY text format,
/// as psycopg's ``Copy.write_row`` writes them (the same bytes), in one call instead of a Python
/// call per row; None when a value is of another type or a string holds a NUL (psycopg's
/// ``write_row`` then handles the rows, and reports what it reports).
///
/// A row is a tuple, or, with ``columns``, a dict whose values are taken in the order of
/// ``columns`` (a dict without one of them: None, and the caller's ``itemgetter`` reports it).
#[pyfunction]
#[pyo3(signature = (rows, columns=None))]
fn copy_rows<'py>(
    py: Python<'py>,
    rows: &Bound<'py, PyList>,
    columns: Option<Vec<Bound<'py, PyString>>>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let mut out = String::with_capacity(rows.len() * 160);
    let mut values = Vec::new();
    for row in rows.iter() {
        if !row_values(&row, columns.as_deref(), &mut values)? {
            return Ok(None);
        }
        for (i, value) in values.drain(..).enumerate() {
            if i > 0 {
                out.push('\t');
            }
            if value.is_none() {
                out.push_str("\\N");
            } else if let Ok(b) = value.cast::<PyBool>() {
                out.push(if b.is_true() { 't' } else { 'f' });
            } else if value.is_instance_of::<PyInt>() {
                match value.extract::<i64>() {
                    Ok(n) => {
                        if n < 0 {
                            out.push('-');
                        }
                        push_u64(&mut out, n.unsigned_abs());
                    }
                    Err(_) => out.push_str(value.str()?.to_str()?),
                }
            } else if let Ok(s) = value.cast::<PyString>() {
                let s = s.to_str()?;
                if s.contains('\0') {
                    return Ok(None);
                }
                if !s.bytes().any(|c| matches!(c, 8..=13 | b'\\')) {
                    out.push_str(s);
                    continue;
                }
                for c in s.chars() {
                    match c {
                        '\u{08}' => out.push_str("\\b"),
                        '\t' => out.push_str("\\t"),
                        '\n' => out.push_str("\\n"),
                        '\u{0b}' => out.push_str("\\v"),
                        '\u{0c}' => out.push_str("\\f"),
                        '\r' => out.push_str("\\r"),
                        '\\' => out.push_str("\\\\"),
                        c => out.push(c),
                    }
                }
            } else {
                return Ok(None);
            }
        }
        out.push('\n');
    }
    Ok(Some(PyBytes::new(py, out.as_bytes())))
}

#[pymodule]
fn _logs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(parse_reply, m)?)?;
    m.add_function(wrap_pyfunction!(copy_rows, m)?)?;
    m.add_function(wrap_pyfunction!(project_vouchers, m)?)?;
    m.add_function(wrap_pyfunction!(voucher_reads, m)?)?;
    m.add_function(wrap_pyfunction!(pg::pg_run, m)?)?;
    m.add("PG_FUNCTIONS", pg::FUNCTIONS.to_vec())?;
    m.add_function(wrap_pyfunction!(sqlite::sqlite_run, m)?)?;
    m.add_function(wrap_pyfunction!(sqlite::sqlite_rows, m)?)?;
    m.add("SQLITE_FUNCTIONS", sqlite::FUNCTIONS.to_vec())?;
    m.add_class::<LogBatch>()?;
    m.add_class::<Decoder>()?;
    Ok(())
}
