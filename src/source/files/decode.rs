//! A dropped file's bytes into text: by its byte-order mark when it has one, else by the folder's
//! configured encoding. Bytes that do not decode are an error naming where they are; nothing is
//! ever replaced. Windows-1258 text is normalised to NFC (its tone marks are combining
//! characters, while every other source sends precomposed text).
//!
//! An XML file's declaration is made to agree with the text handed on: the XML reader reads
//! UTF-8 (or UTF-16 by its mark) and holds a declared encoding to what it finds, so a declaration
//! naming the encoding the file was decoded from is rewritten as UTF-8, and one naming another
//! encoding is refused.

use std::borrow::Cow;

use encoding_rs::{DecoderResult, Encoding as Codec, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1258};
use unicode_normalization::UnicodeNormalization;

use super::config::Encoding;

/// Bytes that are not text in the encoding they were read as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the bytes at offset {offset} (line {line}) are not valid {encoding}; nothing was read (a file is read whole or not at all)")]
pub struct DecodeError {
    /// From the start of the file, byte-order mark included.
    pub offset: usize,
    pub line: usize,
    pub encoding: &'static str,
}

/// A file's text, and the encoding it was read as.
#[derive(Debug)]
pub struct Text {
    pub text: String,
    pub codec: &'static Codec,
}

/// Decodes `bytes`: a byte-order mark decides (UTF-8, UTF-16LE, UTF-16BE); without one,
/// `configured` does (UTF-16 without a mark is little-endian).
pub fn decode(bytes: &[u8], configured: Encoding) -> Result<Text, DecodeError> {
    let (codec, bom) = match Codec::for_bom(bytes) {
        Some((codec, len)) => (codec, len),
        None => (
            match configured {
                Encoding::Utf8 => UTF_8,
                Encoding::Utf16 => UTF_16LE,
                Encoding::Windows1258 => WINDOWS_1258,
            },
            0,
        ),
    };
    let body = &bytes[bom..];
    let mut decoder = codec.new_decoder_without_bom_handling();
    let mut text = String::with_capacity(
        decoder
            .max_utf8_buffer_length_without_replacement(body.len())
            .unwrap_or(body.len()),
    );
    let mut read = 0;
    loop {
        let (result, n) =
            decoder.decode_to_string_without_replacement(&body[read..], &mut text, true);
        read += n;
        match result {
            DecoderResult::InputEmpty => break,
            DecoderResult::OutputFull => text.reserve(body.len().max(64)),
            DecoderResult::Malformed(bad, after) => {
                let offset = bom + read - bad as usize - after as usize;
                return Err(DecodeError {
                    offset,
                    line: 1 + text.bytes().filter(|&b| b == b'\n').count(),
                    encoding: codec.name(),
                });
            }
        }
    }
    if codec == WINDOWS_1258 {
        text = text.nfc().collect();
    }
    Ok(Text { text, codec })
}

/// An XML file's text as the XML reader must see it: a declared encoding that is the one the
/// file was decoded from becomes UTF-8; another is refused. UTF-8 text is left as it is (the
/// reader checks its declaration itself).
pub fn xml_as_utf8(text: &Text) -> Result<Cow<'_, str>, String> {
    let t = text.text.as_str();
    if text.codec == UTF_8 {
        return Ok(Cow::Borrowed(t));
    }
    let Some((start, end, declared)) = declared_encoding(t) else {
        return Ok(Cow::Borrowed(t));
    };
    let same = Codec::for_label(declared.as_bytes())
        .is_some_and(|c| c == text.codec || (is_utf16(c) && is_utf16(text.codec)));
    if !same {
        return Err(format!(
            "the XML declaration names encoding \"{declared}\" but the file was read as {} (the folder's encoding, or its byte-order mark)",
            text.codec.name()
        ));
    }
    Ok(Cow::Owned(format!("{}UTF-8{}", &t[..start], &t[end..])))
}

fn is_utf16(c: &'static Codec) -> bool {
    c == UTF_16LE || c == UTF_16BE
}

/// Where the value of a leading `<?xml … encoding="…"?>` is: its start, end and text.
fn declared_encoding(t: &str) -> Option<(usize, usize, String)> {
    let decl_end = t.strip_prefix("<?xml")?.find("?>")? + "<?xml".len();
    let decl = &t[..decl_end];
    let at = decl.find("encoding")? + "encoding".len();
    let rest = &decl[at..];
    let eq = rest.len() - rest.trim_start().len();
    let rest2 = rest.trim_start().strip_prefix('=')?;
    let ws = rest2.len() - rest2.trim_start().len();
    let value = rest2.trim_start();
    let quote = value.chars().next().filter(|q| *q == '"' || *q == '\'')?;
    let len = value[1..].find(quote)?;
    let start = at + eq + 1 + ws + 1;
    Some((start, start + len, value[1..1 + len].to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1258_text_comes_out_precomposed() {
        // Windows-1258 writes "ễ" as "ê" and a combining tilde, "ị" as "i" and a dot below.
        let (bytes, _, unmappable) =
            WINDOWS_1258.encode("Nguy\u{ea}\u{303}n Thi\u{323} Hoa, Th\u{f4}n \u{110}\u{f4}ng");
        assert!(!unmappable);
        let t = decode(&bytes, Encoding::Windows1258).unwrap();
        assert_eq!(t.text, "Nguyễn Thị Hoa, Thôn Đông");
        assert!(t.text.nfc().eq(t.text.chars()));
    }

    #[test]
    fn a_byte_order_mark_decides_and_utf16_is_little_endian_without_one() {
        let le: Vec<u8> = "Hoà".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = "Hoà".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decode(&le, Encoding::Utf16).unwrap().text, "Hoà");
        let with_bom = [&[0xFE, 0xFF][..], &be].concat();
        assert_eq!(decode(&with_bom, Encoding::Utf8).unwrap().text, "Hoà");
        let utf8_bom = [&b"\xEF\xBB\xBF"[..], "Hoà".as_bytes()].concat();
        let t = decode(&utf8_bom, Encoding::Windows1258).unwrap();
        assert_eq!((t.text.as_str(), t.codec), ("Hoà", UTF_8));
    }

    #[test]
    fn bytes_that_do_not_decode_are_named_by_offset_and_line() {
        let e = decode(b"{\n\"a\": \"\xC3(\"\n}", Encoding::Utf8).unwrap_err();
        assert_eq!((e.offset, e.line), (8, 2));
        assert!(e.to_string().contains("offset 8 (line 2)"), "{e}");
        // With a byte-order mark, the offset still counts from the file's first byte.
        let e = decode(b"\xEF\xBB\xBFab\xFF", Encoding::Utf8).unwrap_err();
        assert_eq!(e.offset, 5);
        // An unpaired surrogate in UTF-16.
        let e = decode(&[b'a', 0, 0x00, 0xD8, b'b', 0], Encoding::Utf16).unwrap_err();
        assert_eq!((e.offset, e.encoding), (2, "UTF-16LE"));
    }

    #[test]
    fn an_xml_declaration_is_held_to_the_encoding_read() {
        let (bytes, _, _) = WINDOWS_1258
            .encode("<?xml version=\"1.0\" encoding=\"windows-1258\"?><a>Th\u{f4}n</a>");
        let t = decode(&bytes, Encoding::Windows1258).unwrap();
        assert_eq!(
            xml_as_utf8(&t).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>Thôn</a>"
        );
        let (bytes, _, _) = WINDOWS_1258.encode("<?xml version='1.0' encoding = 'utf-8'?><a/>");
        let t = decode(&bytes, Encoding::Windows1258).unwrap();
        assert!(xml_as_utf8(&t).unwrap_err().contains("\"utf-8\""));
        let t = decode(b"<a/>", Encoding::Windows1258).unwrap();
        assert_eq!(xml_as_utf8(&t).unwrap(), "<a/>");
    }
}
