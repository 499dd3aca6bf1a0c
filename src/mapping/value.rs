//! Normalising and checking single values by the Edge rules of codes.md: text, dates, money,
//! phones, e-mails, identifiers, and masking personal values for issues. No allocation on the
//! common path where the input is already clean.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike};
use serde_json::Value;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

pub use crate::time::vietnam;

/// `null`, `[]` and empty or whitespace-only strings carry no value (codes.md).
pub fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// A scalar as text: strings as they are, numbers and booleans in their JSON spelling.
/// Objects and arrays are not text.
pub fn scalar_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// NFC and removal of control characters other than tab, LF and CR. Returns the cleaned text
/// and whether characters were removed (the caller keeps a warning).
pub fn clean_text(s: &str) -> (Cow<'_, str>, bool) {
    let (has_ctrl, maybe_denormal) = scan(s);
    let nfc = !maybe_denormal || matches!(is_nfc_quick(s.chars()), IsNormalized::Yes);
    if nfc && !has_ctrl {
        return (Cow::Borrowed(s), false);
    }
    let keep = |c: &char| !c.is_control() || matches!(c, '\t' | '\n' | '\r');
    let out: String = if nfc {
        s.chars().filter(keep).collect()
    } else {
        s.nfc().filter(keep).collect()
    };
    (Cow::Owned(out), has_ctrl)
}

/// One pass: are there control characters to remove, and could the text be other than NFC?
/// Below U+0300 and in Latin Extended Additional (U+1E00..U+1EFF, the precomposed Vietnamese
/// letters) every character is NFC on its own and starts no composition, so the full NFC
/// check only runs for text with other characters (combining marks, other scripts).
fn scan(s: &str) -> (bool, bool) {
    let mut ctrl = false;
    let mut other = false;
    if s.is_ascii() {
        for b in s.bytes() {
            if (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0x7f {
                ctrl = true;
                break;
            }
        }
        return (ctrl, false);
    }
    for c in s.chars() {
        let u = u32::from(c);
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
            ctrl = true;
        }
        if u >= 0x300 && !(0x1E00..=0x1EFF).contains(&u) {
            other = true;
        }
        if ctrl && other {
            break;
        }
    }
    (ctrl, other)
}

/// Cuts to `n` characters (Unicode scalar values), if longer.
pub fn cut_chars(s: &str, n: usize) -> Option<&str> {
    s.char_indices().nth(n).map(|(i, _)| &s[..i])
}

/// One token of a date pattern such as `dd/MM/yyyy HH:mm:ss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Lit(u8),
}

/// A date format a source uses, compiled once at load.
#[derive(Debug, Clone)]
pub enum DateFormat {
    /// A local Vietnam-time pattern; fractional seconds after `ss` are accepted and dropped.
    Pattern { text: String, toks: Vec<Tok> },
    /// Milliseconds since 1970-01-01 UTC (number or digit string).
    EpochMs,
    /// ISO 8601 / RFC 3339 with an offset.
    Iso8601,
}

impl DateFormat {
    /// Compiles a format name from a mapping file; `None` when it is not one we read.
    pub fn compile(name: &str) -> Option<DateFormat> {
        match name {
            "epoch_ms" => return Some(DateFormat::EpochMs),
            "iso8601" => return Some(DateFormat::Iso8601),
            _ => {}
        }
        let mut toks = Vec::new();
        let b = name.as_bytes();
        let mut i = 0;
        let mut seen = [false; 6];
        while i < b.len() {
            let rest = &name[i..];
            let (tok, n) = if rest.starts_with("yyyy") {
                (Tok::Year, 4)
            } else if rest.starts_with("MM") {
                (Tok::Month, 2)
            } else if rest.starts_with("dd") {
                (Tok::Day, 2)
            } else if rest.starts_with("HH") {
                (Tok::Hour, 2)
            } else if rest.starts_with("mm") {
                (Tok::Minute, 2)
            } else if rest.starts_with("ss") {
                (Tok::Second, 2)
            } else if b[i].is_ascii_alphanumeric() || !b[i].is_ascii() {
                return None;
            } else {
                (Tok::Lit(b[i]), 1)
            };
            let slot = match tok {
                Tok::Year => Some(0),
                Tok::Month => Some(1),
                Tok::Day => Some(2),
                Tok::Hour => Some(3),
                Tok::Minute => Some(4),
                Tok::Second => Some(5),
                Tok::Lit(_) => None,
            };
            if let Some(s) = slot {
                if seen[s] {
                    return None;
                }
                seen[s] = true;
            }
            toks.push(tok);
            i += n;
        }
        // A date needs at least its day; times may be left out (midnight).
        if !(seen[0] && seen[1] && seen[2]) {
            return None;
        }
        Some(DateFormat::Pattern {
            text: name.to_string(),
            toks,
        })
    }

    pub fn name(&self) -> &str {
        match self {
            DateFormat::Pattern { text, .. } => text,
            DateFormat::EpochMs => "epoch_ms",
            DateFormat::Iso8601 => "iso8601",
        }
    }

    /// Reads a value as Vietnam local time, seconds precision (sub-seconds dropped).
    pub fn parse(&self, v: &Value) -> Option<NaiveDateTime> {
        match self {
            DateFormat::EpochMs => {
                let ms = match v {
                    Value::Number(n) => n.as_i64()?,
                    Value::String(s) => {
                        let t = s.trim();
                        if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
                            return None;
                        }
                        t.parse::<i64>().ok()?
                    }
                    _ => return None,
                };
                let dt = DateTime::from_timestamp(ms.div_euclid(1000), 0)?;
                Some(dt.with_timezone(&vietnam()).naive_local())
            }
            DateFormat::Iso8601 => {
                let s = v.as_str()?.trim();
                let dt = DateTime::parse_from_rfc3339(s).ok()?;
                let local = dt.with_timezone(&vietnam()).naive_local();
                local.with_nanosecond(0)
            }
            DateFormat::Pattern { toks, .. } => parse_pattern(toks, v.as_str()?.trim()),
        }
    }
}

fn parse_pattern(toks: &[Tok], s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    let mut i = 0;
    let (mut y, mut mo, mut d, mut h, mut mi, mut se) = (0i32, 0u32, 0u32, 0u32, 0u32, 0u32);
    let mut last_second = false;
    for t in toks {
        last_second = false;
        let width = match t {
            Tok::Year => 4,
            Tok::Lit(c) => {
                if b.get(i) != Some(c) {
                    return None;
                }
                i += 1;
                continue;
            }
            _ => 2,
        };
        let digits = b.get(i..i + width)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = digits
            .iter()
            .fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0'));
        i += width;
        match t {
            Tok::Year => y = i32::try_from(n).ok()?,
            Tok::Month => mo = n,
            Tok::Day => d = n,
            Tok::Hour => h = n,
            Tok::Minute => mi = n,
            Tok::Second => {
                se = n;
                last_second = true;
            }
            Tok::Lit(_) => {}
        }
    }
    if i < b.len() {
        // Fractional seconds are dropped (not rounded); nothing else may follow.
        let rest = &b[i..];
        let frac_ok = last_second
            && rest.len() >= 2
            && (rest[0] == b'.' || rest[0] == b',')
            && rest[1..].iter().all(u8::is_ascii_digit);
        if !frac_ok {
            return None;
        }
    }
    NaiveDate::from_ymd_opt(y, mo, d)?.and_hms_opt(h, mi, se)
}

/// Renders a Vietnam local time on the wire: `yyyyMMddHHmmss`.
pub fn wire_date(t: &NaiveDateTime) -> String {
    let mut s = String::with_capacity(14);
    let _ = write!(
        s,
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    s
}

/// Money: a non-negative decimal in VND as a string with no grouping and no trailing zeros.
pub fn money(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                return Some(u.to_string());
            }
            let f = n.as_f64()?;
            if !f.is_finite() || f < 0.0 {
                return None;
            }
            // Display of f64 is the shortest round-trip form: no trailing zeros, no exponent.
            Some(format!("{f}"))
        }
        Value::String(s) => decimal_string(s.trim()),
        _ => None,
    }
}

fn decimal_string(s: &str) -> Option<String> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    if int.is_empty() || !int.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if let Some(f) = frac {
        if f.is_empty() || !f.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = frac.map(|f| f.trim_end_matches('0')).unwrap_or("");
    Some(if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    })
}

/// A month `"M-YYYY"` (no leading zero) from `M-YYYY`, `MM-YYYY`, `M/YYYY` or `YYYY-MM`.
pub fn month(s: &str) -> Option<String> {
    let s = s.trim();
    let (a, b) = s.split_once(['-', '/'])?;
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return None;
    }
    let (m, y) = match (a.len(), b.len()) {
        (1 | 2, 4) => (a, b),
        (4, 1 | 2) => (b, a),
        _ => return None,
    };
    let m: u32 = m.parse().ok()?;
    let y: u32 = y.parse().ok()?;
    ((1..=12).contains(&m) && y >= 1000).then(|| format!("{m}-{y}"))
}

/// A whole number ≥ 0 from a JSON number or a string of digits.
pub fn count(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let t = s.trim();
            (!t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()))
                .then(|| t.parse().ok())
                .flatten()
        }
        _ => None,
    }
}

/// A percentage 0..100 as `"85%"` from `85`, `"85"`, `"85%"`, `"12.50 %"` (→ `"12.5%"`).
pub fn percent(v: &Value) -> Option<String> {
    let d = match v {
        Value::String(s) => {
            let t = s.trim();
            decimal_string(t.strip_suffix('%').unwrap_or(t).trim_end())?
        }
        other => money(other)?,
    };
    let f: f64 = d.parse().ok()?;
    (f <= 100.0).then(|| format!("{d}%"))
}

/// Digits only, as text, from a JSON whole number or a string of digits.
pub fn digits(v: &Value) -> Option<String> {
    count(v).and(match v {
        Value::Number(n) => n.as_u64().map(|u| u.to_string()),
        Value::String(s) => Some(s.trim().to_string()),
        _ => None,
    })
}

/// Whether XML 1.0 can carry the character (its `Char` production).
pub fn xml_char_ok(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Normalises a phone (spaces, dots, dashes removed, `+84` → `0`) and checks it: 10 digits
/// starting with 0, or 11 digits starting with 02.
pub fn phone(s: &str) -> Option<String> {
    let mut out: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '\t'))
        .collect();
    if let Some(rest) = out.strip_prefix("+84") {
        out = format!("0{rest}");
    }
    let ok = out.bytes().all(|c| c.is_ascii_digit())
        && ((out.len() == 10 && out.starts_with('0'))
            || (out.len() == 11 && out.starts_with("02")));
    ok.then_some(out)
}

/// E-mail: one `@`, a non-empty local part, a domain with a dot; no spaces.
pub fn email_ok(s: &str) -> bool {
    let mut parts = s.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

/// Tax code: 10 digits, or 10 digits, `-`, 3 digits.
pub fn tax_code_ok(s: &str) -> bool {
    let digits = |t: &str, n: usize| t.len() == n && t.bytes().all(|c| c.is_ascii_digit());
    match s.split_once('-') {
        None => digits(s, 10),
        Some((a, b)) => digits(a, 10) && digits(b, 3),
    }
}

/// All ASCII digits, exactly `n` of them.
pub fn digits_ok(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|c| c.is_ascii_digit())
}

/// Agency identifier `NNN.NN.NN.LNN` (soft check of codes.md).
pub fn agency_id_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 13
        && b[..3].iter().all(u8::is_ascii_digit)
        && b[3] == b'.'
        && b[4..6].iter().all(u8::is_ascii_digit)
        && b[6] == b'.'
        && b[7..9].iter().all(u8::is_ascii_digit)
        && b[9] == b'.'
        && b[10].is_ascii_uppercase()
        && b[11..13].iter().all(u8::is_ascii_digit)
}

/// `MaHoSo`: `<agency id>-<yyMMdd>-<digits>` with a real calendar date.
pub fn dossier_code_ok(s: &str) -> bool {
    let mut parts = s.splitn(3, '-');
    let (Some(agency), Some(date), Some(seq)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if !agency_id_ok(agency) || !digits_ok(date, 6) || seq.is_empty() {
        return false;
    }
    if !seq.bytes().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let n = |r: std::ops::Range<usize>| date[r].parse::<u32>().unwrap_or(0);
    NaiveDate::from_ymd_opt(2000 + n(0..2) as i32, n(2..4), n(4..6)).is_some()
}

/// Masks a personal value for an issue: `Ng***`, `0912***678`, `ho***@example.com`.
pub fn mask(s: &str) -> String {
    let n = s.chars().count();
    if let Some((local, domain)) = s.split_once('@') {
        let keep: String = local.chars().take(2).collect();
        return format!("{keep}***@{domain}");
    }
    let digits = s.chars().filter(char::is_ascii_digit).count();
    if n >= 8 && digits * 2 > n {
        let head: String = s.chars().take(4).collect();
        let tail: String = s.chars().skip(n - 3).collect();
        return format!("{head}***{tail}");
    }
    if n <= 3 {
        return "***".to_string();
    }
    let head: String = s.chars().take(2).collect();
    format!("{head}***")
}

/// Longest value shown in an issue; huge inputs must not make huge messages.
const SHOW_MAX: usize = 120;

/// The source value as shown in an issue: strings as they are, anything else as JSON; cut to
/// a readable length; masked when personal.
pub fn show(v: &Value, personal: bool) -> String {
    let s: Cow<'_, str> = match v {
        Value::String(s) => Cow::Borrowed(s.as_str()),
        // Placeholders: never the content, personal or not.
        Value::Array(_) => return "[array]".to_string(),
        Value::Object(_) => return "{object}".to_string(),
        other => Cow::Owned(other.to_string()),
    };
    show_str(&s, personal)
}

/// Like [`show`] for text already extracted.
pub fn show_str(s: &str, personal: bool) -> String {
    if personal {
        return mask(s);
    }
    match cut_chars(s, SHOW_MAX) {
        Some(c) => format!("{c}…"),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn masks() {
        assert_eq!(mask("Nguyễn Thị Hoa"), "Ng***");
        assert_eq!(mask("0912345678"), "0912***678");
        assert_eq!(mask("hoa.nt@example.com"), "ho***@example.com");
        assert_eq!(mask("ab"), "***");
    }

    #[test]
    fn money_forms() {
        assert_eq!(money(&json!(75000)).as_deref(), Some("75000"));
        assert_eq!(money(&json!(12500.5)).as_deref(), Some("12500.5"));
        assert_eq!(money(&json!(75000.0)).as_deref(), Some("75000"));
        assert_eq!(money(&json!("75000.00")).as_deref(), Some("75000"));
        assert_eq!(money(&json!("012500.50")).as_deref(), Some("12500.5"));
        assert_eq!(money(&json!("50.000đ")), None);
        assert_eq!(money(&json!("1,000")), None);
        assert_eq!(money(&json!(-5)), None);
        assert_eq!(money(&json!(true)), None);
    }

    #[test]
    fn phones() {
        assert_eq!(phone("0912 345.678").as_deref(), Some("0912345678"));
        assert_eq!(phone("+84 912-345-678").as_deref(), Some("0912345678"));
        assert_eq!(phone("02373 852 111").as_deref(), Some("02373852111"));
        assert_eq!(phone("09123456789"), None);
        assert_eq!(phone("912345678"), None);
        assert_eq!(phone("09123x5678"), None);
    }

    #[test]
    fn emails_and_tax_codes() {
        assert!(email_ok("a@b.vn"));
        assert!(!email_ok("a@@b.vn"));
        assert!(!email_ok("@b.vn"));
        assert!(!email_ok("a@localhost"));
        assert!(!email_ok("a b@c.vn"));
        assert!(tax_code_ok("0101234567"));
        assert!(tax_code_ok("0101234567-001"));
        assert!(!tax_code_ok("010123456"));
        assert!(!tax_code_ok("0101234567-01"));
    }

    #[test]
    fn dossier_codes() {
        assert!(dossier_code_ok("000.00.56.H56-261105-0007"));
        assert!(!dossier_code_ok("000.00.56.H56-261305-0007"));
        assert!(!dossier_code_ok("000.00.56.h56-261105-0007"));
        assert!(!dossier_code_ok("000.00.56.H56-261105-"));
        assert!(!dossier_code_ok("000.00.56.H56-261105-00a7"));
        assert!(!dossier_code_ok("HS-2026-0007"));
    }

    #[test]
    fn dates() {
        let f = DateFormat::compile("yyyy-MM-dd HH:mm:ss").expect("fmt");
        let t = f.parse(&json!("2026-11-05 08:31:12.987")).expect("date");
        assert_eq!(wire_date(&t), "20261105083112");
        assert!(f.parse(&json!("2026-02-31 08:31:12")).is_none());
        assert!(f.parse(&json!("2026-11-05 08:31:12x")).is_none());
        let f = DateFormat::compile("dd/MM/yyyy HH:mm:ss").expect("fmt");
        let t = f.parse(&json!(" 05/11/2026 08:31:00 ")).expect("date");
        assert_eq!(wire_date(&t), "20261105083100");
        let t = DateFormat::EpochMs
            .parse(&json!(1_793_842_260_999_i64))
            .expect("epoch");
        assert_eq!(wire_date(&t), "20261105083100");
        let t = DateFormat::Iso8601
            .parse(&json!("2026-11-05T01:31:00.9Z"))
            .expect("iso");
        assert_eq!(wire_date(&t), "20261105083100");
        let t = DateFormat::Iso8601
            .parse(&json!("2026-11-05T08:31:00+07:00"))
            .expect("iso");
        assert_eq!(wire_date(&t), "20261105083100");
        assert!(DateFormat::Iso8601
            .parse(&json!("2026-11-05 08:31:00"))
            .is_none());
        assert!(DateFormat::compile("yyyy-MM-dd HH:mm:ss.fff").is_none());
        assert!(DateFormat::compile("HH:mm").is_none());
    }

    #[test]
    fn text_cleaning() {
        let (t, removed) = clean_text("a\u{0007}b\tc\n");
        assert_eq!(t, "ab\tc\n");
        assert!(removed);
        // "Hòa" decomposed (o + combining grave) → composed.
        let (t, removed) = clean_text("Ho\u{0300}a");
        assert_eq!(t, "Hòa");
        assert!(!removed);
        assert!(matches!(clean_text("plain"), (Cow::Borrowed(_), false)));
    }
}
