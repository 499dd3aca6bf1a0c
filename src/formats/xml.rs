//! Reads an XML ingest body into JSON records, refusing anything unsafe or unreadable.
//!
//! Owns: decoding the body (UTF-8, US-ASCII, UTF-16 with a byte-order mark), checking it is
//! well-formed, enforcing the size limits while streaming, and the shape rule below that turns
//! each record element into a JSON object. It must not resolve DTDs or entities beyond the five
//! predefined ones and numeric character references, touch the network or disk, or keep more
//! than the records themselves in memory (no DOM of the whole document).
//!
//! Well-formed means XML 1.0 here, checked event by event as the document streams by, beyond
//! what quick-xml checks itself: no character XML 1.0 forbids, written raw (U+0000–U+0008,
//! U+000B, U+000C, U+000E–U+001F, U+FFFE, U+FFFF) or as a character reference (`&#0;`,
//! `&#x1F;`, `&#xFFFE;`, ...) in text or attribute values; character references only as
//! `&#DIGITS;` or `&#xHEX;`; no `]]>` in text outside a CDATA section. A refusal names the line
//! and column.
//!
//! # Shape of a record
//!
//! Every element whose local name is the configured record element is one record, wherever it
//! is; a matching element inside a record is part of that record, not another record. A body
//! without one is refused ([`XmlError::NoRecords`]), naming the element expected and the root
//! element found.
//!
//! - A record is always a JSON object: its attributes and child elements become keys, by local
//!   name (prefixes dropped; `xmlns` and `xmlns:*` declarations are not keys).
//! - A child with only text (or nothing) becomes a string: the text unescaped and otherwise
//!   byte-for-byte, CDATA sections as written. Leading and trailing whitespace is data, not
//!   layout: `<TrichYeu> Xin cấp phép </TrichYeu>` is `" Xin cấp phép "` and `<A>  </A>` is
//!   `"  "`. An empty element (`<A/>`, `<A></A>`) becomes `""`.
//! - A child with attributes or child elements becomes an object by the same rule. Text it also
//!   holds goes under the key [`TEXT_KEY`] (`"#text"`, which no XML name can be), left out when
//!   empty:
//!   - without child elements (attributes and text only), the text is kept exactly as for a
//!     text-only child: `<GhiChu loai="x"> a </GhiChu>` is `{"loai": "x", "#text": " a "}`;
//!   - with child elements (mixed content, or just indentation between the children), the
//!     text's pieces are joined in document order and the XML whitespace at both ends is
//!     dropped as layout, but never inside a CDATA section, which is always data. So an element
//!     indented in the usual way has no `#text`, and the text of
//!     `<P>\n  Hello <b>x</b> world\n</P>` is `"Hello  world"`.
//! - A key met more than once in one element becomes an array of all its values in document
//!   order, at the position of the first one. A single child stays a single value: no array is
//!   guessed from the schema, so a container `<DanhSachLePhi><LePhi/>…</DanhSachLePhi>` becomes
//!   `{"DanhSachLePhi": {"LePhi": [{…}, {…}]}}` with two rows and `{"LePhi": {…}}` with one. A
//!   mapping reaches the rows with `each = "DanhSachLePhi.LePhi"` (or `each = "LePhi"` when the
//!   rows sit directly in the record); list fields take one object as a list of one row.

use std::borrow::Cow;
use std::fmt;

use quick_xml::escape::EscapeError;
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesDecl, BytesStart, Event};
use quick_xml::Reader;
use serde_json::{Map, Value};

/// Key of the text of an element that also has attributes or child elements.
pub const TEXT_KEY: &str = "#text";

/// Bounds enforced while reading, so a hostile body is refused in bounded time and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmlLimits {
    /// Element nesting, counting the outermost element as level 1 (as for JSON bodies).
    pub max_depth: usize,
    /// Records per body; more is refused as a whole rather than cut.
    pub max_records: usize,
    /// Attributes on one element, namespace declarations included.
    pub max_attributes_per_element: usize,
    /// Escaped bytes of one element's text (all its text and CDATA pieces together) and of one
    /// attribute value.
    pub max_text_bytes: usize,
}

impl Default for XmlLimits {
    fn default() -> Self {
        Self {
            max_depth: 64,
            max_records: 10_000,
            max_attributes_per_element: 256,
            max_text_bytes: 1024 * 1024,
        }
    }
}

/// Where in the (decoded) document something is; columns count characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// Position of byte `at` of `text`; `at` need not fall on a character boundary.
    fn of(text: &str, at: usize) -> Self {
        let before = &text.as_bytes()[..at.min(text.len())];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        Self {
            line: 1 + before.iter().filter(|&&b| b == b'\n').count(),
            // UTF-8 continuation bytes do not start a character.
            column: 1 + before[line_start..]
                .iter()
                .filter(|&&b| b & 0xC0 != 0x80)
                .count(),
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Why a body cannot be read. Every variant means "nothing from this body is stored";
/// [`XmlError::TooManyRecords`] is the one a caller answers with 413 rather than 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error(
        "the body holds no XML element: it is empty or only a declaration, comments or whitespace"
    )]
    NoRootElement,
    #[error("the body is not valid UTF-8 (invalid byte sequence at {at}); send UTF-8, US-ASCII or UTF-16 with a byte-order mark")]
    InvalidUtf8 { at: Position },
    #[error(
        "the body starts with a UTF-16 byte-order mark but is not valid UTF-16 (at byte {byte})"
    )]
    InvalidUtf16 { byte: usize },
    #[error("the body looks like UTF-16 without a byte-order mark; send UTF-16 with a byte-order mark, or UTF-8")]
    Utf16WithoutBom,
    #[error("the XML declaration names encoding \"{declared}\", which is not read: send UTF-8, US-ASCII or UTF-16 with a byte-order mark")]
    UnsupportedEncoding { declared: String },
    #[error("the XML declaration names encoding \"{declared}\" but the body is {actual}")]
    EncodingMismatch {
        declared: String,
        actual: &'static str,
    },
    #[error("a DTD or entity declaration ({found}) at {at} is not allowed: bodies may use only the predefined entities and character references")]
    Dtd { found: &'static str, at: Position },
    #[error("the entity reference &{name}; at {at} is not allowed: only &lt; &gt; &amp; &quot; &apos; and numeric character references are expanded")]
    UnknownEntity { name: String, at: Position },
    #[error("element <{element}> at {at} is nested deeper than the limit of {limit} levels")]
    TooDeep {
        element: String,
        at: Position,
        limit: usize,
    },
    #[error("element <{element}> at {at} has more than the limit of {limit} attributes")]
    TooManyAttributes {
        element: String,
        at: Position,
        limit: usize,
    },
    #[error("{what} at {at} is longer than the limit of {limit} bytes")]
    TooLong {
        what: String,
        at: Position,
        limit: usize,
    },
    #[error("the body holds more than the limit of {limit} <{element}> records")]
    TooManyRecords { element: String, limit: usize },
    /// `root` is the root element's name as written (with its prefix, if any).
    #[error("no <{expected}> record element in the document (root element <{root}>)")]
    NoRecords { expected: String, root: String },
    #[error("the body is not well-formed XML at {at}: {reason}")]
    Malformed { at: Position, reason: String },
}

/// Reads `body` and returns one JSON object per `record_element` (matched by local name), in
/// document order; a body without one is refused. See the module docs for the shape.
pub fn parse_records(
    body: &[u8],
    record_element: &str,
    limits: &XmlLimits,
) -> Result<Vec<Value>, XmlError> {
    // Matching is by local name, so a prefix in the configured name means nothing.
    let record_element = record_element
        .rsplit_once(':')
        .map_or(record_element, |(_, local)| local);
    let (text, found) = decode(body)?;
    let mut doc = Document {
        text: &text,
        found,
        record_element,
        limits,
        records: Vec::new(),
        open: Vec::new(),
        record: Vec::new(),
        root: None,
    };
    doc.read()?;
    if doc.records.is_empty() {
        return Err(XmlError::NoRecords {
            expected: record_element.to_owned(),
            root: doc.root.unwrap_or_default(),
        });
    }
    Ok(doc.records)
}

/// What the bytes turned out to be, to hold the XML declaration to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    Utf8,
    Utf16Le,
    Utf16Be,
}

impl Found {
    fn describe(self) -> &'static str {
        match self {
            Found::Utf8 => "UTF-8",
            Found::Utf16Le => "UTF-16 little-endian (by its byte-order mark)",
            Found::Utf16Be => "UTF-16 big-endian (by its byte-order mark)",
        }
    }
}

/// Turns the body into text. quick-xml here reads UTF-8 only (its `encoding` feature is off),
/// so UTF-16 is decoded first; the XML declaration is checked against the result later.
fn decode(body: &[u8]) -> Result<(Cow<'_, str>, Found), XmlError> {
    let utf16 = |bytes: &[u8], to_unit: fn([u8; 2]) -> u16, found| {
        if bytes.len() % 2 != 0 {
            return Err(XmlError::InvalidUtf16 {
                byte: body.len() - 1,
            });
        }
        let units = bytes.chunks_exact(2).map(|c| to_unit([c[0], c[1]]));
        let mut out = String::with_capacity(bytes.len());
        let mut byte = 2;
        for c in char::decode_utf16(units) {
            let c = c.map_err(|_| XmlError::InvalidUtf16 { byte })?;
            byte += 2 * c.len_utf16();
            out.push(c);
        }
        Ok((Cow::Owned(out), found))
    };
    if let Some(rest) = body.strip_prefix(b"\xFF\xFE") {
        return utf16(rest, u16::from_le_bytes, Found::Utf16Le);
    }
    if let Some(rest) = body.strip_prefix(b"\xFE\xFF") {
        return utf16(rest, u16::from_be_bytes, Found::Utf16Be);
    }
    let bytes = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if bytes.starts_with(b"<\0") || bytes.starts_with(b"\0<") {
        return Err(XmlError::Utf16WithoutBom);
    }
    // A declared legacy encoding usually comes with bytes that are not UTF-8: name the
    // encoding rather than the first bad byte.
    if let Some(declared) = sniff_declared_encoding(bytes) {
        if !is_supported(&declared) {
            return Err(XmlError::UnsupportedEncoding { declared });
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok((Cow::Borrowed(s), Found::Utf8)),
        Err(e) => {
            let valid = &bytes[..e.valid_up_to()];
            // The valid prefix is UTF-8, so this cannot fail; fall back to line 1 anyway.
            let at = std::str::from_utf8(valid)
                .map(|s| Position::of(s, s.len()))
                .unwrap_or(Position { line: 1, column: 1 });
            Err(XmlError::InvalidUtf8 { at })
        }
    }
}

/// The `encoding` pseudo-attribute of a leading `<?xml …?>`, read from raw bytes (the
/// declaration is ASCII in every ASCII-compatible encoding).
fn sniff_declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(512)];
    let decl = head.strip_prefix(b"<?xml")?;
    let end = decl.windows(2).position(|w| w == b"?>")?;
    let decl = &decl[..end];
    let at = decl.windows(8).position(|w| w == b"encoding")?;
    let rest = decl[at + 8..].trim_ascii_start();
    let rest = rest.strip_prefix(b"=")?.trim_ascii_start();
    let quote = *rest.first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let value = &rest[1..];
    let len = value.iter().position(|&b| b == quote)?;
    Some(String::from_utf8_lossy(&value[..len]).into_owned())
}

fn is_supported(declared: &str) -> bool {
    matches!(
        declared.to_ascii_lowercase().as_str(),
        "utf-8" | "utf8" | "us-ascii" | "ascii" | "utf-16" | "utf-16le" | "utf-16be"
    )
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// XML 1.0's `Char` production: what a document may hold, raw or by reference.
fn is_xml_char(code: u32) -> bool {
    matches!(code, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// The first character of `bytes` (UTF-8) that XML 1.0 forbids, with its byte offset. In
/// UTF-8 text these are the C0 controls but tab, line feed and carriage return, and U+FFFE and
/// U+FFFF (`EF BF BE`, `EF BF BF`); surrogates cannot occur in a Rust string.
fn forbidden_raw_char(bytes: &[u8]) -> Option<(usize, u32)> {
    bytes.iter().enumerate().find_map(|(i, &b)| match b {
        b'\t' | b'\n' | b'\r' => None,
        0..=0x1F => Some((i, u32::from(b))),
        0xEF => match bytes.get(i + 1..i + 3) {
            Some([0xBF, 0xBE]) => Some((i, 0xFFFE)),
            Some([0xBF, 0xBF]) => Some((i, 0xFFFF)),
            _ => None,
        },
        _ => None,
    })
}

/// Checks every character reference in `raw` (text or an attribute value as written): its form
/// (`&#` digits `;` or `&#x` hex digits `;`) and that it stands for a character XML 1.0 allows
/// (quick-xml's unescaping refuses only `&#0;` and what is no Unicode scalar value). On a bad
/// one, returns the offset of its `&` and why.
fn check_char_refs(raw: &str) -> Result<(), (usize, String)> {
    let mut from = 0;
    while let Some(found) = raw[from..].find("&#") {
        let at = from + found;
        let digits_at = at + 2;
        // Without a `;` this is no reference at all, which the unescaping reports.
        let Some(len) = raw[digits_at..].find(';') else {
            return Ok(());
        };
        let body = &raw[digits_at..digits_at + len];
        let code = match body.strip_prefix('x') {
            Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                u32::from_str_radix(hex, 16).ok()
            }
            None if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) => {
                body.parse::<u32>().ok()
            }
            _ => return Err((
                at,
                "a character reference must read &#DIGITS; or &#xHEX; (write a literal & as &amp;)"
                    .to_owned(),
            )),
        };
        if !code.is_some_and(is_xml_char) {
            let what = match code {
                Some(c) if c <= 0x10FFFF => format!("U+{c:04X}"),
                _ => "a number beyond Unicode".to_owned(),
            };
            // Digits only, so the reference is safe to echo; long ones are cut.
            let reference: String = raw[at..=digits_at + len].chars().take(24).collect();
            return Err((
                at,
                format!("the character reference {reference} stands for {what}, which XML 1.0 does not allow"),
            ));
        }
        from = digits_at + len + 1;
    }
    Ok(())
}

/// A name as XML allows it (simplified: the exact Unicode ranges are not checked, but ASCII
/// punctuation that cannot be in a name is refused, which also keeps `#text` free).
pub fn is_xml_name(name: &str) -> bool {
    let ok_start = |c: char| c.is_alphabetic() || c == '_' || !c.is_ascii();
    let ok_rest = |c: char| ok_start(c) || c.is_ascii_digit() || c == '-' || c == '.';
    let mut parts = name.splitn(2, ':');
    parts.all(|p| {
        let mut chars = p.chars();
        chars.next().is_some_and(ok_start) && chars.all(ok_rest)
    })
}

/// One element inside a record, being filled.
struct Frame {
    name: String,
    fields: Map<String, Value>,
    /// Whether a child element was met: then whitespace at the ends of `text` is layout.
    has_children: bool,
    text: String,
    text_bytes: usize,
    /// Where in `text` the first CDATA section starts and the last one ends: trimming layout
    /// stops there.
    cdata: Option<(usize, usize)>,
}

impl Frame {
    fn new(name: String) -> Self {
        Self {
            name,
            fields: Map::new(),
            has_children: false,
            text: String::new(),
            text_bytes: 0,
            cdata: None,
        }
    }

    fn add(&mut self, key: String, value: Value) {
        match self.fields.get_mut(&key) {
            None => {
                self.fields.insert(key, value);
            }
            // Values added here are never arrays themselves, so an array is a group already.
            Some(Value::Array(items)) => items.push(value),
            Some(first) => {
                let first = first.take();
                self.fields.insert(key, Value::Array(vec![first, value]));
            }
        }
    }

    fn push_text(&mut self, text: &str, is_cdata: bool) {
        let start = self.text.len();
        self.text.push_str(text);
        if is_cdata {
            let end = self.text.len();
            self.cdata = Some(self.cdata.map_or((start, end), |(first, _)| (first, end)));
        }
    }

    fn into_value(self, is_record: bool) -> Value {
        let text = if self.has_children {
            trim_layout(self.text, self.cdata)
        } else {
            self.text
        };
        if self.fields.is_empty() && !is_record {
            return Value::String(text);
        }
        let mut fields = self.fields;
        if !text.is_empty() {
            fields.insert(TEXT_KEY.to_owned(), Value::String(text));
        }
        Value::Object(fields)
    }
}

/// The text of an element with child elements less the XML whitespace at its ends (the
/// indentation around the children), never cutting into a CDATA section (`cdata`: where the
/// first one starts and the last one ends).
fn trim_layout(text: String, cdata: Option<(usize, usize)>) -> String {
    let lead = text.len() - text.trim_start_matches(is_xml_space).len();
    let tail = text.trim_end_matches(is_xml_space).len();
    let (start, end) = match cdata {
        Some((first, last_end)) => (lead.min(first), tail.max(last_end)),
        None => (lead, tail),
    };
    if start == 0 && end == text.len() {
        text
    } else if start >= end {
        String::new()
    } else {
        text[start..end].to_owned()
    }
}

struct Document<'a> {
    text: &'a str,
    found: Found,
    record_element: &'a str,
    limits: &'a XmlLimits,
    records: Vec<Value>,
    /// Local names of the open elements (bounded by `max_depth`), for messages.
    open: Vec<String>,
    /// The open elements of the current record, the record first; empty outside records.
    record: Vec<Frame>,
    /// The root element's name as written, once met.
    root: Option<String>,
}

impl<'a> Document<'a> {
    fn at(&self, byte: usize) -> Position {
        Position::of(self.text, byte)
    }

    fn malformed(&self, byte: usize, reason: impl Into<String>) -> XmlError {
        XmlError::Malformed {
            at: self.at(byte),
            reason: reason.into(),
        }
    }

    fn read(&mut self) -> Result<(), XmlError> {
        let mut reader = Reader::from_str(self.text);
        let config = reader.config_mut();
        config.check_comments = true;
        config.check_end_names = true;
        config.allow_unmatched_ends = false;
        config.expand_empty_elements = false;
        config.trim_text(false);
        loop {
            let start = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            let event = match reader.read_event() {
                Ok(e) => e,
                Err(e) => {
                    let at = usize::try_from(reader.error_position()).unwrap_or(start);
                    return Err(self.reader_error(at, &e));
                }
            };
            let end = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
            self.check_raw_chars(start, end)?;
            match event {
                Event::Decl(decl) => {
                    if start != 0 {
                        return Err(self.malformed(
                            start,
                            "the XML declaration must be at the very start of the body",
                        ));
                    }
                    self.check_declaration(&decl)?;
                }
                Event::DocType(_) => {
                    return Err(XmlError::Dtd {
                        found: "<!DOCTYPE",
                        at: self.at(start),
                    })
                }
                Event::Start(e) => self.open(&e, start)?,
                Event::Empty(e) => {
                    self.open(&e, start)?;
                    self.close();
                }
                Event::End(_) => self.close(),
                Event::Text(t) => {
                    let raw = self.utf8(&t, start)?;
                    if let Some(i) = raw.find("]]>") {
                        return Err(self.malformed(
                            start + i,
                            "`]]>` may not appear in text outside a CDATA section (write ]]&gt;)",
                        ));
                    }
                    check_char_refs(raw).map_err(|(i, why)| self.malformed(start + i, why))?;
                    let unescaped = quick_xml::escape::unescape(raw)
                        .map_err(|e| self.escape_error(start, e))?;
                    self.text(raw, &unescaped, start, false)?;
                }
                Event::CData(c) => {
                    let raw = self.utf8(&c, start)?;
                    self.text(raw, raw, start, true)?;
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::Eof => break,
            }
        }
        if let Some(name) = self.open.last() {
            // quick-xml reports this itself; kept so an unclosed root can never pass.
            return Err(self.malformed(
                self.text.len(),
                format!("the body ends before element <{name}> is closed"),
            ));
        }
        if self.root.is_none() {
            return Err(XmlError::NoRootElement);
        }
        Ok(())
    }

    /// Refuses a character XML 1.0 forbids anywhere in the event that spans `start..end` (its
    /// markup, text, attribute values, comments alike).
    fn check_raw_chars(&self, start: usize, end: usize) -> Result<(), XmlError> {
        let span = self.text.as_bytes().get(start..end.min(self.text.len()));
        match span.and_then(forbidden_raw_char) {
            None => Ok(()),
            Some((i, code)) => Err(self.malformed(
                start + i,
                format!("the character U+{code:04X} is not allowed in XML 1.0"),
            )),
        }
    }

    /// Where `part`, a slice of the document, starts in it.
    fn offset_of(&self, part: &[u8]) -> Option<usize> {
        let offset = (part.as_ptr() as usize).checked_sub(self.text.as_ptr() as usize)?;
        (offset + part.len() <= self.text.len()).then_some(offset)
    }

    /// Event contents are slices of the input cut at ASCII markup, so they are UTF-8.
    fn utf8<'b>(&self, bytes: &'b [u8], at: usize) -> Result<&'b str, XmlError> {
        std::str::from_utf8(bytes).map_err(|_| self.malformed(at, "text is not valid UTF-8"))
    }

    fn reader_error(&self, at: usize, e: &quick_xml::Error) -> XmlError {
        let rest = self.text.get(at..).unwrap_or("");
        for found in [
            "<!ENTITY",
            "<!DOCTYPE",
            "<!ATTLIST",
            "<!ELEMENT",
            "<!NOTATION",
        ] {
            if rest.starts_with(found) {
                return XmlError::Dtd {
                    found,
                    at: self.at(at),
                };
            }
        }
        self.malformed(at, e.to_string())
    }

    /// quick-xml counts attribute positions from just after the tag's `<`.
    fn attr_error(&self, start: usize, element: &str, err: AttrError) -> XmlError {
        let (pos, what) = match err {
            AttrError::ExpectedEq(p) => (p, "an attribute name must be followed by `=`"),
            AttrError::ExpectedValue(p) => (p, "an attribute needs a quoted value"),
            AttrError::UnquotedValue(p) => (p, "an attribute value must be in quotes"),
            AttrError::ExpectedQuote(p, _) => (p, "an attribute value is not closed by its quote"),
            AttrError::Duplicated(p, _) => (p, "an attribute appears twice"),
        };
        let at = start + 1 + pos;
        let attribute: String = self
            .text
            .get(at..)
            .unwrap_or("")
            .chars()
            .take_while(|&c| !is_xml_space(c) && c != '=')
            .take(64)
            .collect();
        self.malformed(
            at,
            format!("in element <{element}>, at \"{attribute}\": {what}"),
        )
    }

    fn escape_error(&self, start: usize, e: EscapeError) -> XmlError {
        match e {
            // The range is the name's; point at its `&`.
            EscapeError::UnrecognizedEntity(range, name) => XmlError::UnknownEntity {
                name,
                at: self.at(start + range.start.saturating_sub(1)),
            },
            EscapeError::UnterminatedEntity(range) => self.malformed(
                start + range.start,
                "`&` must start an entity reference ending in `;` (write a literal & as &amp;)",
            ),
            other => self.malformed(start, other.to_string()),
        }
    }

    fn check_declaration(&self, decl: &BytesDecl<'_>) -> Result<(), XmlError> {
        decl.version()
            .map_err(|e| self.malformed(0, e.to_string()))?;
        let declared = match decl.encoding() {
            None => return Ok(()),
            Some(Err(e)) => return Err(self.malformed(0, e.to_string())),
            Some(Ok(v)) => String::from_utf8_lossy(&v).into_owned(),
        };
        let fits = match declared.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => self.found == Found::Utf8,
            "us-ascii" | "ascii" => {
                if self.found == Found::Utf8 {
                    if let Some(i) = self.text.bytes().position(|b| !b.is_ascii()) {
                        return Err(self.malformed(
                            i,
                            format!("the declaration names encoding \"{declared}\" but this character is not ASCII"),
                        ));
                    }
                    true
                } else {
                    false
                }
            }
            "utf-16" => self.found != Found::Utf8,
            "utf-16le" => self.found == Found::Utf16Le,
            "utf-16be" => self.found == Found::Utf16Be,
            _ => return Err(XmlError::UnsupportedEncoding { declared }),
        };
        if fits {
            Ok(())
        } else {
            Err(XmlError::EncodingMismatch {
                declared,
                actual: self.found.describe(),
            })
        }
    }

    fn open(&mut self, e: &BytesStart<'_>, start: usize) -> Result<(), XmlError> {
        let qname = self.utf8(e.name().into_inner(), start)?;
        if !is_xml_name(qname) {
            return Err(self.malformed(start, format!("\"{qname}\" is not an element name")));
        }
        let name = self.utf8(e.local_name().into_inner(), start)?.to_owned();
        if self.root.is_some() && self.open.is_empty() {
            return Err(self.malformed(
                start,
                format!("a second root element <{name}> follows the first one"),
            ));
        }
        if self.root.is_none() {
            self.root = Some(qname.to_owned());
        }
        if self.open.len() >= self.limits.max_depth {
            return Err(XmlError::TooDeep {
                element: name,
                at: self.at(start),
                limit: self.limits.max_depth,
            });
        }
        let starts_record = self.record.is_empty() && name == self.record_element;
        if starts_record && self.records.len() >= self.limits.max_records {
            return Err(XmlError::TooManyRecords {
                element: name,
                limit: self.limits.max_records,
            });
        }
        let keep = starts_record || !self.record.is_empty();
        let mut frame = keep.then(|| Frame::new(name.clone()));
        // Attributes are checked everywhere, not only in records: well-formedness is the
        // document's, and the count bounds quick-xml's duplicate check (quadratic in it).
        let mut count = 0;
        for attr in e.attributes() {
            let attr = attr.map_err(|err| self.attr_error(start, &name, err))?;
            count += 1;
            if count > self.limits.max_attributes_per_element {
                return Err(XmlError::TooManyAttributes {
                    element: name,
                    at: self.at(start),
                    limit: self.limits.max_attributes_per_element,
                });
            }
            let key = self.utf8(attr.key.as_ref(), start)?;
            if !is_xml_name(key) {
                return Err(self.malformed(
                    start,
                    format!("\"{key}\" in element <{name}> is not an attribute name"),
                ));
            }
            if attr.value.len() > self.limits.max_text_bytes {
                return Err(XmlError::TooLong {
                    what: format!("attribute \"{key}\" of element <{name}>"),
                    at: self.at(start),
                    limit: self.limits.max_text_bytes,
                });
            }
            let raw = self.utf8(&attr.value, start)?;
            check_char_refs(raw).map_err(|(i, why)| {
                let at = self.offset_of(raw.as_bytes()).map_or(start, |o| o + i);
                self.malformed(
                    at,
                    format!("attribute \"{key}\" of element <{name}>: {why}"),
                )
            })?;
            let value = quick_xml::escape::unescape(raw).map_err(|e| match e {
                EscapeError::UnrecognizedEntity(_, entity) => XmlError::UnknownEntity {
                    name: entity,
                    at: self.at(start),
                },
                other => self.malformed(
                    start,
                    format!("attribute \"{key}\" of element <{name}>: {other}"),
                ),
            })?;
            if let Some(frame) = frame.as_mut() {
                if attr.key.as_namespace_binding().is_none() {
                    let local = self.utf8(attr.key.local_name().into_inner(), start)?;
                    frame.add(local.to_owned(), Value::String(value.into_owned()));
                }
            }
        }
        self.open.push(name);
        if let Some(frame) = frame {
            self.record.push(frame);
        }
        Ok(())
    }

    /// quick-xml has already matched the end tag to its start tag.
    fn close(&mut self) {
        self.open.pop();
        if let Some(frame) = self.record.pop() {
            let name = frame.name.clone();
            let value = frame.into_value(self.record.is_empty());
            match self.record.last_mut() {
                Some(parent) => {
                    parent.has_children = true;
                    parent.add(name, value);
                }
                None => self.records.push(value),
            }
        }
    }

    fn text(
        &mut self,
        raw: &str,
        unescaped: &str,
        start: usize,
        is_cdata: bool,
    ) -> Result<(), XmlError> {
        if self.open.is_empty() {
            if raw.chars().all(is_xml_space) {
                return Ok(());
            }
            let place = if self.root.is_some() {
                "after"
            } else {
                "before"
            };
            return Err(self.malformed(
                start,
                format!("text {place} the root element (is the body XML?)"),
            ));
        }
        // Inside a record the pieces of one element's text add up (comments and CDATA split
        // it); outside, each piece is checked and dropped.
        let total = match self.record.last_mut() {
            Some(frame) => {
                frame.text_bytes += raw.len();
                frame.text_bytes
            }
            None => raw.len(),
        };
        if total > self.limits.max_text_bytes {
            let element = self.open.last().map_or("", String::as_str);
            return Err(XmlError::TooLong {
                what: format!("the text of element <{element}>"),
                at: self.at(start),
                limit: self.limits.max_text_bytes,
            });
        }
        if let Some(frame) = self.record.last_mut() {
            frame.push_text(unescaped, is_cdata);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::*;

    fn records(body: &[u8]) -> Result<Vec<Value>, XmlError> {
        parse_records(body, "HoSo", &XmlLimits::default())
    }

    fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
        let mut out = if big_endian {
            vec![0xFE, 0xFF]
        } else {
            vec![0xFF, 0xFE]
        };
        for unit in text.encode_utf16() {
            out.extend(if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        }
        out
    }

    fn nested(levels: usize) -> String {
        "<a>".repeat(levels - 1) + "<HoSo/>" + &"</a>".repeat(levels - 1)
    }

    /// Shaped like one vendor's export: a namespace prefix, attributes, an empty element, two
    /// supplements directly in the record and fee rows in a container.
    const EXPORT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- changed rows -->
<ex:DanhSachHoSo xmlns:ex="urn:example:motcua" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" phienBan="2">
  <ex:HoSo ex:id="7" trangThai="moi">
    <ex:MaHoSo> 000.00.56.H56-261105-0007 </ex:MaHoSo>
    <ex:TrichYeu>Xin cấp phép xây dựng nhà ở riêng lẻ "Minh &amp; Anh" &lt; 100 triệu</ex:TrichYeu>
    <ex:NguoiNop>Nguy&#7877;n Th&#x1ECB; Hoa</ex:NguoiNop>
    <ex:NgayXong />
    <ex:NgayTra></ex:NgayTra>
    <ex:BoSung><ex:Lan>1</ex:Lan></ex:BoSung>
    <ex:BoSung><ex:Lan>2</ex:Lan></ex:BoSung>
    <ex:DanhSachLePhi>
      <ex:LePhi MaPhi="LP.GPXD.01"><ex:SoTien>75000</ex:SoTien></ex:LePhi>
      <ex:LePhi MaPhi="LP.GPXD.02"><ex:SoTien>25000</ex:SoTien><!-- note --></ex:LePhi>
    </ex:DanhSachLePhi>
    <ex:GhiChu loai="noi-bo">cần <![CDATA[<xác minh> & đo đạc]]></ex:GhiChu>
  </ex:HoSo>
  <HoSo><MaHoSo>000.00.56.H56-261028-0004</MaHoSo><DanhSachLePhi><LePhi><SoTien>50000</SoTien></LePhi></DanhSachLePhi></HoSo>
</ex:DanhSachHoSo>
"#;

    fn export_records() -> Value {
        json!([
            {
                "id": "7",
                "trangThai": "moi",
                "MaHoSo": " 000.00.56.H56-261105-0007 ",
                "TrichYeu": "Xin cấp phép xây dựng nhà ở riêng lẻ \"Minh & Anh\" < 100 triệu",
                "NguoiNop": "Nguyễn Thị Hoa",
                "NgayXong": "",
                "NgayTra": "",
                "BoSung": [{ "Lan": "1" }, { "Lan": "2" }],
                "DanhSachLePhi": {
                    "LePhi": [
                        { "MaPhi": "LP.GPXD.01", "SoTien": "75000" },
                        { "MaPhi": "LP.GPXD.02", "SoTien": "25000" }
                    ]
                },
                "GhiChu": { "loai": "noi-bo", "#text": "cần <xác minh> & đo đạc" }
            },
            {
                "MaHoSo": "000.00.56.H56-261028-0004",
                "DanhSachLePhi": { "LePhi": { "SoTien": "50000" } }
            }
        ])
    }

    #[test]
    fn export_becomes_the_documented_shape() {
        let got = records(EXPORT.as_bytes()).unwrap();
        assert_eq!(Value::Array(got), export_records());
    }

    #[test]
    fn keys_keep_document_order() {
        let got = records(EXPORT.as_bytes()).unwrap();
        let keys: Vec<&str> = got[0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "trangThai",
                "MaHoSo",
                "TrichYeu",
                "NguoiNop",
                "NgayXong",
                "NgayTra",
                "BoSung",
                "DanhSachLePhi",
                "GhiChu"
            ]
        );
    }

    #[test]
    fn utf8_bom_and_utf16_with_bom_read_like_utf8() {
        let plain = Value::Array(records(EXPORT.as_bytes()).unwrap());
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), EXPORT.as_bytes()].concat();
        assert_eq!(Value::Array(records(&with_bom).unwrap()), plain);
        let as_utf16 = EXPORT.replace("encoding=\"UTF-8\"", "encoding=\"UTF-16\"");
        for big_endian in [false, true] {
            let got = records(&utf16(&as_utf16, big_endian)).unwrap();
            assert_eq!(Value::Array(got), plain, "big endian: {big_endian}");
        }
        // No declaration at all is fine with a byte-order mark too.
        let got = records(&utf16("<HoSo><A>ệ</A></HoSo>", false)).unwrap();
        assert_eq!(got, [json!({"A": "ệ"})]);
    }

    #[test]
    fn us_ascii_is_read_and_holds_to_ascii() {
        let ok = br#"<?xml version="1.0" encoding="US-ASCII"?><HoSo><A>Nguy&#7877;n</A></HoSo>"#;
        assert_eq!(records(ok).unwrap(), [json!({"A": "Nguyễn"})]);
        let bad = "<?xml version=\"1.0\" encoding=\"us-ascii\"?>\n<HoSo><A>Nguyễn</A></HoSo>";
        let e = records(bad.as_bytes()).unwrap_err();
        assert!(
            matches!(
                e,
                XmlError::Malformed {
                    at: Position { line: 2, .. },
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn declaration_must_match_the_bytes() {
        let e = records(&utf16(
            r#"<?xml version="1.0" encoding="UTF-8"?><HoSo/>"#,
            true,
        ))
        .unwrap_err();
        assert!(matches!(e, XmlError::EncodingMismatch { .. }), "{e}");
        assert!(e.to_string().contains("\"UTF-8\""), "{e}");
        let e = records(br#"<?xml version="1.0" encoding="UTF-16"?><HoSo/>"#).unwrap_err();
        assert!(matches!(e, XmlError::EncodingMismatch { .. }), "{e}");
        let e = records(&b"<HoSo/>".iter().flat_map(|&b| [b, 0]).collect::<Vec<u8>>()).unwrap_err();
        assert_eq!(e, XmlError::Utf16WithoutBom);
    }

    #[test]
    fn other_declared_encodings_are_refused_by_name() {
        // Valid UTF-8 bytes and real windows-1258 bytes (0xD0 is "Đ") both name the encoding.
        let ascii = br#"<?xml version="1.0" encoding="windows-1258"?><HoSo><A>x</A></HoSo>"#;
        let legacy = b"<?xml version='1.0' encoding='windows-1258'?><HoSo><A>\xD0\xF4ng</A></HoSo>";
        for body in [ascii.as_slice(), legacy.as_slice()] {
            let e = records(body).unwrap_err();
            assert_eq!(
                e,
                XmlError::UnsupportedEncoding {
                    declared: "windows-1258".into()
                }
            );
            assert!(e.to_string().contains("\"windows-1258\""), "{e}");
        }
        let e = records(br#"<?xml version="1.0" encoding="ISO-8859-1"?><HoSo/>"#).unwrap_err();
        assert!(e.to_string().contains("ISO-8859-1"), "{e}");
    }

    #[test]
    fn invalid_utf8_is_refused_with_its_line() {
        let e = records(b"<HoSo>\n<A>ok</A>\n<B>\xC3\x28</B></HoSo>").unwrap_err();
        assert_eq!(
            e,
            XmlError::InvalidUtf8 {
                at: Position { line: 3, column: 4 }
            }
        );
    }

    #[test]
    fn billion_laughs_is_refused_fast() {
        let mut body =
            String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
        for i in 1..=9 {
            let prev = if i == 1 {
                "lol".to_string()
            } else {
                format!("lol{}", i - 1)
            };
            body += &format!("<!ENTITY lol{i} \"{}\">\n", format!("&{prev};").repeat(10));
        }
        body += "]>\n<HoSo><A>&lol9;</A></HoSo>";
        let started = Instant::now();
        let e = records(body.as_bytes()).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(
            e,
            XmlError::Dtd {
                found: "<!DOCTYPE",
                at: Position { line: 2, column: 1 }
            }
        );
    }

    #[test]
    fn external_and_undeclared_entities_are_refused() {
        let xxe = br#"<?xml version="1.0"?><!DOCTYPE HoSo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><HoSo><A>&xxe;</A></HoSo>"#;
        assert!(matches!(records(xxe).unwrap_err(), XmlError::Dtd { .. }));
        let e = records(b"<HoSo>\n<A>a &xxe; b</A></HoSo>").unwrap_err();
        assert_eq!(
            e,
            XmlError::UnknownEntity {
                name: "xxe".into(),
                at: Position { line: 2, column: 6 }
            }
        );
        let e = records(br#"<HoSo A="&nbsp;"/>"#).unwrap_err();
        assert!(matches!(e, XmlError::UnknownEntity { .. }), "{e}");
        // An entity declaration outside a DTD is no way around it.
        let e = records(br#"<!ENTITY x "y"><HoSo/>"#).unwrap_err();
        assert!(
            matches!(
                e,
                XmlError::Dtd {
                    found: "<!ENTITY",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn depth_64_is_allowed_and_65_is_not() {
        assert_eq!(records(nested(64).as_bytes()).unwrap(), [json!({})]);
        let e = records(nested(65).as_bytes()).unwrap_err();
        assert!(
            matches!(&e, XmlError::TooDeep { element, limit: 64, .. } if element == "HoSo"),
            "{e}"
        );
        // A million levels: refused at level 65 without reading on.
        let started = Instant::now();
        let deep = "<a>".repeat(1_000_000);
        assert!(matches!(
            records(deep.as_bytes()),
            Err(XmlError::TooDeep { .. })
        ));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn mismatched_and_unclosed_tags_are_refused_with_position() {
        let e = records(b"<DanhSach>\n  <HoSo><A>x</B></HoSo>\n</DanhSach>").unwrap_err();
        let XmlError::Malformed { at, reason } = &e else {
            panic!("{e}")
        };
        assert_eq!(at.line, 2, "{e}");
        assert!(reason.contains("</B>") || reason.contains("`B`"), "{e}");
        assert!(
            e.to_string()
                .starts_with("the body is not well-formed XML at line 2"),
            "{e}"
        );
        for body in [
            "<DanhSach><HoSo/>",
            "<HoSo/><HoSo/>",
            "<HoSo/>garbage",
            "<HoSo></HoSo></DanhSach>",
            "<HoSo A=\"1\" A=\"2\"/>",
            "<HoSo A=\"1\" B>",
            "<HoSo A=1/>",
            "<1HoSo/>",
            "<HoSo><!-- a -- b --></HoSo>",
            "<HoSo><A>Minh & Anh</A></HoSo>",
            " <?xml version=\"1.0\"?><HoSo/>",
        ] {
            let e = records(body.as_bytes()).unwrap_err();
            assert!(matches!(e, XmlError::Malformed { .. }), "{body}: {e}");
        }
    }

    #[test]
    fn attribute_errors_point_at_the_attribute() {
        let e = records(b"<D>\n<HoSo Ma=\"1\" Ma=\"2\"/></D>").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the body is not well-formed XML at line 2, column 14: in element <HoSo>, \
             at \"Ma\": an attribute appears twice"
        );
    }

    #[test]
    fn empty_and_text_only_bodies_are_refused() {
        for body in ["", "  \n", "<?xml version=\"1.0\"?>", "<!-- nothing -->"] {
            assert_eq!(
                records(body.as_bytes()).unwrap_err(),
                XmlError::NoRootElement
            );
        }
        let e = records(b"MaHoSo=1").unwrap_err();
        assert!(e.to_string().contains("before the root element"), "{e}");
        let e = records(br#"{"MaHoSo": "1"}"#).unwrap_err();
        assert!(matches!(e, XmlError::Malformed { .. }), "{e}");
    }

    #[test]
    fn a_prefixed_record_name_matches_by_local_name() {
        let body = br#"<x:HoSo xmlns:x="urn:x"><A>1</A></x:HoSo>"#;
        let got = parse_records(body, "y:HoSo", &XmlLimits::default()).unwrap();
        assert_eq!(got, [json!({"A": "1"})]);
    }

    #[test]
    fn a_body_without_the_record_element_is_refused_naming_both() {
        let e = parse_records(
            b"<HoSo><MaHoSo>1</MaHoSo></HoSo>",
            "QuaTrinhXuLy",
            &XmlLimits::default(),
        )
        .unwrap_err();
        assert_eq!(
            e,
            XmlError::NoRecords {
                expected: "QuaTrinhXuLy".into(),
                root: "HoSo".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "no <QuaTrinhXuLy> record element in the document (root element <HoSo>)"
        );
        // The root as written, prefix and all; an empty container is refused too.
        let e = records(br#"<x:DanhSach xmlns:x="urn:x"><x:Khac/></x:DanhSach>"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no <HoSo> record element in the document (root element <x:DanhSach>)"
        );
        let e = records(b"<DanhSach>\n</DanhSach>").unwrap_err();
        assert!(matches!(e, XmlError::NoRecords { .. }), "{e}");
    }

    #[test]
    fn record_limit_is_enforced() {
        let limits = XmlLimits {
            max_records: 3,
            ..XmlLimits::default()
        };
        let body = |n: usize| format!("<D>{}</D>", "<HoSo/>".repeat(n));
        assert_eq!(
            parse_records(body(3).as_bytes(), "HoSo", &limits)
                .unwrap()
                .len(),
            3
        );
        let e = parse_records(body(4).as_bytes(), "HoSo", &limits).unwrap_err();
        assert_eq!(
            e,
            XmlError::TooManyRecords {
                element: "HoSo".into(),
                limit: 3
            }
        );
    }

    #[test]
    fn attribute_and_text_limits_are_enforced() {
        let limits = XmlLimits {
            max_attributes_per_element: 2,
            max_text_bytes: 8,
            ..XmlLimits::default()
        };
        let read = |b: &str| parse_records(b.as_bytes(), "HoSo", &limits);
        assert!(read(r#"<HoSo a="1" b="2"><A>12345678</A></HoSo>"#).is_ok());
        assert!(matches!(
            read(r#"<HoSo a="1" b="2" c="3"/>"#),
            Err(XmlError::TooManyAttributes { .. })
        ));
        assert!(matches!(
            read("<HoSo><A>123456789</A></HoSo>"),
            Err(XmlError::TooLong { .. })
        ));
        // Pieces of one element's text add up.
        assert!(matches!(
            read("<HoSo><A>12345<!-- -->6789</A></HoSo>"),
            Err(XmlError::TooLong { .. })
        ));
        assert!(matches!(
            read(r#"<HoSo a="123456789"/>"#),
            Err(XmlError::TooLong { .. })
        ));
        // Outside records too.
        assert!(matches!(
            read("<D><X>123456789</X></D>"),
            Err(XmlError::TooLong { .. })
        ));
    }

    #[test]
    fn ten_megabyte_attribute_is_refused_fast() {
        let body = format!("<D><HoSo A=\"{}\"/></D>", "x".repeat(10 * 1024 * 1024));
        let started = Instant::now();
        let e = records(body.as_bytes()).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(
            e.to_string().contains("attribute \"A\" of element <HoSo>"),
            "{e}"
        );
    }

    #[test]
    fn text_is_unescaped_and_otherwise_byte_for_byte() {
        let body = "<HoSo><A>Tạp hóa Minh &amp; Anh &#7897; &#x1EC7; &quot;&apos;&lt;&gt;</A>\
                    <B>  Phòng  Kinh\ttế\n</B></HoSo>";
        assert_eq!(
            records(body.as_bytes()).unwrap(),
            [json!({"A": "Tạp hóa Minh & Anh ộ ệ \"'<>", "B": "  Phòng  Kinh\ttế\n"})]
        );
    }

    #[test]
    fn namespace_declarations_are_not_keys_and_names_collide_into_arrays() {
        let body = br#"<p:HoSo xmlns="urn:a" xmlns:p="urn:p" p:Ma="1"><Ma>2</Ma><q:Ma xmlns:q="urn:q">3</q:Ma></p:HoSo>"#;
        assert_eq!(records(body).unwrap(), [json!({"Ma": ["1", "2", "3"]})]);
    }

    #[test]
    fn a_record_inside_a_record_belongs_to_it() {
        let body = b"<HoSo><Ma>1</Ma><Con><HoSo><Ma>2</Ma></HoSo></Con></HoSo>";
        assert_eq!(
            records(body).unwrap(),
            [json!({"Ma": "1", "Con": {"HoSo": {"Ma": "2"}}})]
        );
    }

    #[test]
    fn errors_read_as_one_sentence_for_an_operator() {
        let e = records(nested(65).as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "element <HoSo> at line 1, column 193 is nested deeper than the limit of 64 levels"
        );
    }
    #[test]
    fn text_only_elements_keep_their_whitespace_and_cdata_as_sent() {
        let body = "<HoSo>\n  <A> a </A>\n  <B>  </B>\n  <C><![CDATA[  x  ]]></C>\n  \
                    <D> <![CDATA[ y ]]> </D>\n  <E/>\n  <F></F>\n  <G>\t&#32;z&#10;</G>\n  \
                    <H><![CDATA[]]></H>\n</HoSo>";
        assert_eq!(
            records(body.as_bytes()).unwrap(),
            [json!({
                "A": " a ",
                "B": "  ",
                "C": "  x  ",
                "D": "  y  ",
                "E": "",
                "F": "",
                "G": "\t z\n",
                "H": ""
            })]
        );
    }

    #[test]
    fn a_thousand_character_summary_ending_in_a_space_keeps_every_character() {
        let summary = "Xin cấp phép xây dựng nhà ở "
            .repeat(40)
            .chars()
            .take(999)
            .collect::<String>()
            + " ";
        assert_eq!(summary.chars().count(), 1000);
        let body = format!("<HoSo>\n  <TrichYeu>{summary}</TrichYeu>\n</HoSo>");
        let got = records(body.as_bytes()).unwrap();
        assert_eq!(got, [json!({ "TrichYeu": summary })]);
    }

    #[test]
    fn indentation_between_child_elements_is_layout() {
        let body = "<HoSo a=\"1\">\n  <NguoiNop Loai=\"CONG_DAN\">\n    <HoTen> Hoa </HoTen>\n  </NguoiNop>\n\
                    \x20 <GhiChu loai=\"x\"> ghi chú </GhiChu>\n  <Trong loai=\"y\">\n  </Trong>\n\
                    \x20 <Rong loai=\"z\"/>\n</HoSo>";
        assert_eq!(
            records(body.as_bytes()).unwrap(),
            [json!({
                "a": "1",
                "NguoiNop": { "Loai": "CONG_DAN", "HoTen": " Hoa " },
                // Attributes and text only: the text is data, as in a text-only element.
                "GhiChu": { "loai": "x", "#text": " ghi chú " },
                "Trong": { "loai": "y", "#text": "\n  " },
                "Rong": { "loai": "z" }
            })]
        );
        // A record with text only keeps it too; one with nothing has no `#text`.
        assert_eq!(
            records(b"<D><HoSo> 1 </HoSo><HoSo/></D>").unwrap(),
            [json!({ "#text": " 1 " }), json!({})]
        );
    }

    #[test]
    fn mixed_content_text_is_joined_and_trimmed_outside_cdata() {
        let body = "<HoSo><P>\n  Hello <b>x</b> world\n</P>\
                    <Q>\n  <b/><![CDATA[ z ]]>\n</Q>\
                    <R><![CDATA[ ]]><b/> </R></HoSo>";
        assert_eq!(
            records(body.as_bytes()).unwrap(),
            [json!({
                "P": { "b": "x", "#text": "Hello  world" },
                "Q": { "b": "", "#text": " z " },
                "R": { "b": "", "#text": " " }
            })]
        );
    }

    /// Every kind of character XML 1.0 forbids, by its code.
    const FORBIDDEN: [u32; 14] = [
        0x0,
        0x1,
        0x7,
        0x8,
        0xB,
        0xC,
        0xE,
        0x1F,
        0xFFFE,
        0xFFFF,
        0xD800,
        0xDFFF,
        0x110000,
        0xFFFF_FFFF,
    ];

    #[test]
    fn character_references_to_forbidden_characters_are_refused_where_they_are() {
        for code in FORBIDDEN {
            for reference in [
                format!("&#{code};"),
                format!("&#x{code:X};"),
                format!("&#x{code:x};"),
            ] {
                let in_text = format!("<HoSo>\n<A>ab{reference}</A></HoSo>");
                let e = records(in_text.as_bytes()).unwrap_err();
                let XmlError::Malformed { at, reason } = &e else {
                    panic!("{reference}: {e}")
                };
                assert_eq!(*at, Position { line: 2, column: 6 }, "{reference}: {e}");
                assert!(reason.contains(&reference), "{e}");
                assert!(reason.contains("XML 1.0 does not allow"), "{e}");

                let in_attribute = format!("<D>\n<HoSo Ma=\"x{reference}\"/></D>");
                let e = records(in_attribute.as_bytes()).unwrap_err();
                let XmlError::Malformed { at, reason } = &e else {
                    panic!("{reference}: {e}")
                };
                assert_eq!(
                    *at,
                    Position {
                        line: 2,
                        column: 12
                    },
                    "{reference}: {e}"
                );
                assert!(
                    reason.starts_with("attribute \"Ma\" of element <HoSo>"),
                    "{e}"
                );
            }
        }
        let e = records(b"<HoSo><A>&#1;</A></HoSo>").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the body is not well-formed XML at line 1, column 10: the character reference \
             &#1; stands for U+0001, which XML 1.0 does not allow"
        );
    }

    #[test]
    fn character_references_to_allowed_characters_are_expanded() {
        let body = "<HoSo A=\"&#9;&#x41;\"><B>a&#9;&#10;&#13;&#x20;&#xD7FF;&#xE000;&#xFFFD;&#x10000;&#x10FFFF;&#0065;</B></HoSo>";
        assert_eq!(
            records(body.as_bytes()).unwrap(),
            [json!({
                "A": "\tA",
                "B": "a\t\n\r \u{D7FF}\u{E000}\u{FFFD}\u{10000}\u{10FFFF}A"
            })]
        );
    }

    #[test]
    fn character_references_must_have_their_form() {
        for reference in [
            "&#;", "&#x;", "&#X41;", "&#+65;", "&#-1;", "&#12a;", "&#x4G;", "&# 65;",
        ] {
            let e = records(format!("<HoSo><A>{reference}</A></HoSo>").as_bytes()).unwrap_err();
            let XmlError::Malformed { at, reason } = &e else {
                panic!("{reference}: {e}")
            };
            assert_eq!(at.column, 10, "{reference}: {e}");
            assert!(reason.contains("&#DIGITS;"), "{reference}: {e}");
        }
    }

    #[test]
    fn raw_forbidden_characters_are_refused_anywhere_with_position() {
        for code in [0x0, 0x1, 0x7, 0x8, 0xB, 0xC, 0xE, 0x1F, 0xFFFE, 0xFFFF] {
            let c = char::from_u32(code).unwrap();
            let hex = format!("U+{code:04X}");
            for (body, column) in [
                (format!("<HoSo>\n<A>ab{c}</A></HoSo>"), 6),
                (format!("<HoSo>\n<A>ệ<![CDATA[{c}]]></A></HoSo>"), 14),
                (format!("<HoSo>\n<A B=\"{c}\"/></HoSo>"), 7),
                (format!("<HoSo>\n<!-- {c} --></HoSo>"), 6),
                (format!("<HoSo>\n<A{c}/></HoSo>"), 3),
                (format!("<HoSo/>\n{c}"), 1),
            ] {
                let e = records(body.as_bytes()).unwrap_err();
                let XmlError::Malformed { at, reason } = &e else {
                    panic!("{body:?}: {e}")
                };
                assert_eq!(*at, Position { line: 2, column }, "{body:?}: {e}");
                assert!(reason.contains(&hex), "{body:?}: {e}");
            }
        }
        let e = records(b"<HoSo><A>a\0b</A></HoSo>").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the body is not well-formed XML at line 1, column 11: the character U+0000 is not \
             allowed in XML 1.0"
        );
        // In UTF-16 as in UTF-8; tab, line feed and carriage return are fine.
        let e = records(&utf16("<HoSo><A>a\u{1}</A></HoSo>", false)).unwrap_err();
        assert!(e.to_string().contains("U+0001"), "{e}");
        assert_eq!(
            records(b"<HoSo><A>a\tb\rc\nd</A></HoSo>").unwrap(),
            [json!({"A": "a\tb\rc\nd"})]
        );
    }

    #[test]
    fn cdata_end_in_text_is_refused_but_not_in_cdata_or_attributes() {
        let e = records(b"<HoSo>\n<A>a ]]> b</A></HoSo>").unwrap_err();
        let XmlError::Malformed { at, reason } = &e else {
            panic!("{e}")
        };
        assert_eq!(*at, Position { line: 2, column: 6 }, "{e}");
        assert!(reason.contains("]]>"), "{e}");
        let e = records(b"<D>]]></D>").unwrap_err();
        assert!(matches!(e, XmlError::Malformed { .. }), "{e}");
        let body =
            br#"<HoSo A="]]>"><B><![CDATA[a]]]]><![CDATA[>b]]></B><C>]]&gt; ]] ></C></HoSo>"#;
        assert_eq!(
            records(body).unwrap(),
            [json!({"A": "]]>", "B": "a]]>b", "C": "]]> ]] >"})]
        );
    }
}
