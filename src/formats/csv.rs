//! Reads a CSV export into records: the first row names the columns (Vietnamese or English, as
//! the vendor writes them), every later row is one record whose values are strings, exactly as
//! written (an empty cell is `""`, which mappings treat as no value). CSV is flat: child rows
//! (fees, supplement rounds) come in their own files or through another way in.

use serde_json::{Map, Value};

/// Limits on one CSV body.
#[derive(Debug, Clone, Copy)]
pub struct CsvLimits {
    pub max_records: usize,
    /// Field separator: `b','` (default) or `b';'` (spreadsheet exports in Vietnamese locales).
    pub delimiter: u8,
}

impl Default for CsvLimits {
    fn default() -> Self {
        Self {
            max_records: 10_000,
            delimiter: b',',
        }
    }
}

/// Why a CSV body cannot be read, in words for an operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("the CSV body has no header row")]
    NoHeader,
    #[error("CSV header: column {index} has no name")]
    EmptyColumnName { index: usize },
    #[error("CSV header: column \"{name}\" appears twice")]
    DuplicateColumn { name: String },
    #[error("CSV line {line}: {found} fields where the header has {expected}")]
    Ragged {
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("CSV line {line}: not UTF-8 text")]
    NotUtf8 { line: u64 },
    #[error("more than {limit} CSV records in one body")]
    TooManyRecords { limit: usize },
    #[error("the CSV body cannot be read at line {line}: {reason}")]
    Malformed { line: u64, reason: String },
}

/// Reads `body` (UTF-8, a byte-order mark allowed) into one JSON object per data row.
pub fn parse_records(body: &[u8], limits: &CsvLimits) -> Result<Vec<Value>, CsvError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(limits.delimiter)
        .has_headers(false)
        .flexible(false)
        .from_reader(body);
    let mut rows = reader.byte_records();
    let header = match rows.next() {
        None => return Err(CsvError::NoHeader),
        Some(r) => r.map_err(|e| describe(&e))?,
    };
    let mut names: Vec<String> = Vec::with_capacity(header.len());
    for (index, raw) in header.iter().enumerate() {
        let name = std::str::from_utf8(raw)
            .map_err(|_| CsvError::NotUtf8 { line: 1 })?
            .trim()
            .to_string();
        if name.is_empty() {
            return Err(CsvError::EmptyColumnName { index });
        }
        if names.contains(&name) {
            return Err(CsvError::DuplicateColumn { name });
        }
        names.push(name);
    }
    let mut records = Vec::new();
    for row in rows {
        let row = row.map_err(|e| describe(&e))?;
        let line = row.position().map_or(0, |p| p.line());
        if row.iter().all(|f| f.is_empty()) && row.len() <= 1 {
            continue; // a blank line
        }
        if records.len() == limits.max_records {
            return Err(CsvError::TooManyRecords {
                limit: limits.max_records,
            });
        }
        let mut record = Map::with_capacity(names.len());
        for (name, raw) in names.iter().zip(row.iter()) {
            let text = std::str::from_utf8(raw).map_err(|_| CsvError::NotUtf8 { line })?;
            record.insert(name.clone(), Value::String(text.to_string()));
        }
        records.push(Value::Object(record));
    }
    Ok(records)
}

fn describe(e: &csv::Error) -> CsvError {
    let line = e.position().map_or(0, |p| p.line());
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => CsvError::Ragged {
            line,
            expected: *expected_len as usize,
            found: *len as usize,
        },
        csv::ErrorKind::Utf8 { .. } => CsvError::NotUtf8 { line },
        other => CsvError::Malformed {
            line,
            reason: format!("{other:?}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn header_names_the_fields_and_text_is_kept() {
        let body = "\u{feff}MaHoSo,NguoiNop,TrichYeu\n000.00.56.H56-261105-0007,Nguyễn Thị Hoa,\"Xin cấp phép, nhà ở \"\"riêng lẻ\"\"\"\n000.00.56.H56-261105-0008,Trần Văn Bình,\n";
        let r = parse_records(body.as_bytes(), &CsvLimits::default()).unwrap();
        assert_eq!(
            r,
            vec![
                json!({"MaHoSo": "000.00.56.H56-261105-0007", "NguoiNop": "Nguyễn Thị Hoa", "TrichYeu": "Xin cấp phép, nhà ở \"riêng lẻ\""}),
                json!({"MaHoSo": "000.00.56.H56-261105-0008", "NguoiNop": "Trần Văn Bình", "TrichYeu": ""}),
            ]
        );
    }

    #[test]
    fn semicolon_exports_and_crlf() {
        let limits = CsvLimits {
            delimiter: b';',
            ..CsvLimits::default()
        };
        let r = parse_records(b"code;status\r\nA;1\r\n\r\nB;2\r\n", &limits).unwrap();
        assert_eq!(
            r,
            vec![
                json!({"code": "A", "status": "1"}),
                json!({"code": "B", "status": "2"})
            ]
        );
    }

    #[test]
    fn broken_bodies_are_named() {
        let l = CsvLimits::default();
        assert_eq!(parse_records(b"", &l), Err(CsvError::NoHeader));
        assert_eq!(
            parse_records(b"a,,c\n1,2,3\n", &l),
            Err(CsvError::EmptyColumnName { index: 1 })
        );
        assert_eq!(
            parse_records(b"a,b,a\n1,2,3\n", &l),
            Err(CsvError::DuplicateColumn { name: "a".into() })
        );
        let e = parse_records(b"a,b\n1,2\n1,2,3\n", &l).unwrap_err();
        assert_eq!(
            e,
            CsvError::Ragged {
                line: 3,
                expected: 2,
                found: 3
            }
        );
        assert_eq!(e.to_string(), "CSV line 3: 3 fields where the header has 2");
        assert!(matches!(
            parse_records(b"a\n\xff\xfe\n", &l),
            Err(CsvError::NotUtf8 { .. })
        ));
        let two = CsvLimits {
            max_records: 1,
            ..l
        };
        assert_eq!(
            parse_records(b"a\n1\n2\n", &two),
            Err(CsvError::TooManyRecords { limit: 1 })
        );
    }
}
